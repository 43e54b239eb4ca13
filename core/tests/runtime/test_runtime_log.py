"""The runtime's decision log: lifecycle on disk, concurrency, ids, and what it refuses."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from framework.errors import DecisionLogError, InvalidIdError
from framework.runtime import Runtime
from framework.schemas.run import RunStatus


def _lines(storage: Path, run_id: str) -> list[dict]:
    text = (storage / "decisions" / run_id / "decisions.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_run_lifecycle_is_written_to_run_json_and_decision_lines(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("triage", "sort documents", {"document": "hello"})
    first = runtime.decide(
        run_id, node_id="classify", intent="pick a route", options=["a", "b"], chosen="a"
    )
    runtime.record_outcome(run_id, first, success=True, result={"x": 1}, tokens_used=7)
    second = runtime.decide(
        run_id, node_id="extract", intent="execute node", options=["extract"], chosen="extract"
    )
    runtime.report_problem(run_id, severity="warning", description="slow", node_id="extract")
    runtime.end_run(run_id, success=True, narrative="done", output_data={"triage": "ok"})

    folder = tmp_path / "decisions" / run_id
    header = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert header["status"] == "completed"
    assert header["success"] is True
    assert header["goal_id"] == "triage"
    assert header["input_data"] == {"document": "hello"}
    assert header["output_data"] == {"triage": "ok"}
    assert header["narrative"] == "done"
    assert "decisions" not in header, "decisions live in decisions.jsonl, not in run.json"
    assert [line["kind"] for line in _lines(tmp_path, run_id)] == [
        "decision",
        "outcome",
        "decision",
        "problem",
    ]
    assert sorted(p.name for p in folder.iterdir()) == ["decisions.jsonl", "run.json"]

    log = Runtime(tmp_path).get_run(run_id)
    assert [d.id for d in log.decisions] == [first, second] == ["d1", "d2"]
    assert log.decisions[0].outcome is not None
    assert log.decisions[0].outcome.result == {"x": 1}
    assert log.decisions[1].outcome is None
    assert log.total_tokens == 7
    assert [(p.severity, p.node_id) for p in log.problems] == [("warning", "extract")]
    assert log.status is RunStatus.COMPLETED


def test_timestamps_are_timezone_aware_utc(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("g")
    decision = runtime.decide(run_id, node_id="n", intent="i", options=[], chosen=None)
    runtime.record_outcome(run_id, decision, success=False, summary="boom")
    runtime.end_run(run_id, success=False)
    log = runtime.get_run(run_id)
    stamps = [log.started_at, log.ended_at, log.decisions[0].made_at]
    stamps.append(log.decisions[0].outcome.recorded_at)
    assert all(s is not None and s.utcoffset() == timedelta(0) for s in stamps)
    assert log.status is RunStatus.FAILED and log.success is False


def test_list_runs_shows_running_and_ended_runs(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    assert runtime.list_runs() == []
    done = runtime.start_run("g")
    runtime.end_run(done, success=True)
    running = runtime.start_run("g")
    statuses = {summary.run_id: summary.status for summary in runtime.list_runs()}
    assert statuses == {done: RunStatus.COMPLETED, running: RunStatus.RUNNING}


def test_starting_an_existing_run_reopens_it_and_continues_its_log(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("g", run_id="invoice-42")
    runtime.decide(run_id, node_id="a", intent="i", options=["a"], chosen="a")
    runtime.end_run(run_id, success=False, narrative="crashed")

    again = Runtime(tmp_path)
    assert again.start_run("g", run_id="invoice-42") == "invoice-42"
    assert again.decide(run_id, node_id="b", intent="i", options=["b"], chosen="b") == "d2"
    log = again.get_run(run_id)
    assert log.starts == 2
    assert log.status is RunStatus.RUNNING
    assert [d.node_id for d in log.decisions] == ["a", "b"]


async def test_concurrent_runs_interleaving_decisions_lose_nothing(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    runs, decisions_per_run = 8, 40

    async def one_run(index: int) -> None:
        run_id = runtime.start_run(f"goal-{index}", run_id=f"run-{index}")
        for step in range(decisions_per_run):
            node = f"n{step}"
            decision = runtime.decide(run_id, node_id=node, intent="i", options=[node], chosen=node)
            await anyio.sleep(0)  # let the other runs record in between
            runtime.record_outcome(run_id, decision, success=True, result=step, tokens_used=1)
        runtime.end_run(run_id, success=True, output_data={"run": index})

    async with anyio.create_task_group() as group:
        for index in range(runs):
            group.start_soon(one_run, index)

    for index in range(runs):
        log = runtime.get_run(f"run-{index}")
        assert [d.outcome.result for d in log.decisions] == list(range(decisions_per_run))
        assert [d.id for d in log.decisions] == [f"d{n + 1}" for n in range(decisions_per_run)]
        assert log.output_data == {"run": index}
        assert log.total_tokens == decisions_per_run


def test_threads_recording_into_one_run_lose_nothing(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("g")
    threads_count, per_thread = 8, 50

    def record(worker: int) -> None:
        for step in range(per_thread):
            runtime.decide(run_id, node_id=f"w{worker}", intent="i", options=[], chosen=step)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    log = runtime.get_run(run_id)
    ids = [d.id for d in log.decisions]
    assert len(ids) == len(set(ids)) == threads_count * per_thread
    assert len(_lines(tmp_path, run_id)) == threads_count * per_thread


@pytest.mark.parametrize(
    "bad_id", ["", "../escape", "a/b", "a\\b", "..", "x" * 129, ".hidden", "nul\x00byte"]
)
def test_unsafe_run_ids_are_refused_and_nothing_is_written(tmp_path: Path, bad_id: str) -> None:
    storage = tmp_path / "store"
    runtime = Runtime(storage)
    with pytest.raises(InvalidIdError):
        runtime.start_run("g", run_id=bad_id)
    with pytest.raises(InvalidIdError):
        runtime.get_run(bad_id)
    with pytest.raises(InvalidIdError):
        runtime.decide(bad_id, node_id="n", intent="i", options=[], chosen=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_generated_run_ids_are_unique_and_safe(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    ids = {runtime.start_run("g") for _ in range(50)}
    assert len(ids) == 50
    assert all(len(run_id) <= 128 and run_id.replace("_", "").isalnum() for run_id in ids)


def test_recording_into_an_unknown_or_ended_run_is_refused(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    with pytest.raises(DecisionLogError, match="no run 'ghost'"):
        runtime.decide("ghost", node_id="n", intent="i", options=[], chosen=None)
    with pytest.raises(DecisionLogError, match="no run 'ghost'"):
        runtime.get_run("ghost")
    run_id = runtime.start_run("g")
    runtime.end_run(run_id, success=True)
    with pytest.raises(DecisionLogError, match="has ended"):
        runtime.report_problem(run_id, severity="error", description="late")
    with pytest.raises(DecisionLogError, match="has ended"):
        runtime.end_run(run_id, success=True)


def test_outcome_for_an_unknown_decision_is_refused(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("g")
    with pytest.raises(DecisionLogError, match="no decision 'd9'"):
        runtime.record_outcome(run_id, "d9", success=True)


def test_values_json_cannot_hold_are_logged_by_repr(tmp_path: Path) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("g", input_data={"thing": Opaque(), (1, 2): {3}})
    decision = runtime.decide(run_id, node_id="n", intent="i", options=[Opaque()], chosen="x")
    runtime.record_outcome(run_id, decision, success=True, result=Opaque())
    runtime.end_run(run_id, success=True, output_data=Opaque())

    log = Runtime(tmp_path).get_run(run_id)
    assert log.input_data == {"thing": "<Opaque>", "(1, 2)": [3]}
    assert log.decisions[0].options == ["<Opaque>"]
    assert log.decisions[0].outcome.result == "<Opaque>"
    assert log.output_data == "<Opaque>"


def test_a_torn_last_line_is_skipped_on_read(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("g")
    runtime.decide(run_id, node_id="n", intent="i", options=[], chosen=None)
    log_file = tmp_path / "decisions" / run_id / "decisions.jsonl"
    with log_file.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "decision", "decis')  # a crash in the middle of a write

    assert [d.id for d in Runtime(tmp_path).get_run(run_id).decisions] == ["d1"]


def test_recording_after_a_torn_write_continues_on_a_clean_line(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("g")
    runtime.decide(run_id, node_id="a", intent="i", options=[], chosen=None)
    log_file = tmp_path / "decisions" / run_id / "decisions.jsonl"
    with log_file.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "outc')  # the process died here

    restarted = Runtime(tmp_path)
    restarted.decide(run_id, node_id="b", intent="i", options=[], chosen=None)
    restarted.end_run(run_id, success=True)
    assert [d.node_id for d in Runtime(tmp_path).get_run(run_id).decisions] == ["a", "b"]
    assert len(_lines(tmp_path, run_id)) == 2


def test_everything_is_written_under_the_decisions_folder(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    run_id = runtime.start_run("g")
    runtime.end_run(run_id, success=True)
    (tmp_path / "runs").mkdir()  # where a FileStorage sharing the directory keeps its runs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decisions", "runs"]
    assert runtime.list_runs()[0].run_id == run_id
