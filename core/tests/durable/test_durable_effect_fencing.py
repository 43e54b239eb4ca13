"""Effect writes are fenced: a writer whose lease was taken over inside ``ctx.effect`` records
nothing, stops, and the run's new owner completes it with its own result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from durable_helpers import GOAL, NodeLog, chain, executor_for
from effect_race_child import FENCED_OUT

from framework.errors import FencedOutError
from framework.graph import ActionSpec, ActionType, Plan, PlanStep
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.flexible_executor import FlexibleGraphExecutor
from framework.graph.node import NodeContext
from framework.graph.step_context import StepContext
from framework.schemas.clock import utc_now
from framework.schemas.effect import EffectStatus
from framework.schemas.lease import Lease
from framework.schemas.run import RunStatus
from framework.storage import open_storage
from framework.storage.backend import StorageBackend

SEED = {"seed": "s"}
CHILD = Path(__file__).parent / "effect_race_child.py"


def _take_over(storage: StorageBackend, run_id: str) -> Lease:
    """Another owner takes the run over, as after its lease lapsed (without waiting for it)."""
    record = storage.get_run(run_id)
    assert record is not None and record.lease_owner is not None
    held = Lease(
        run_id=run_id,
        owner_id=record.lease_owner,
        fencing_token=record.fencing_token,
        acquired_at=utc_now(),
        expires_at=utc_now(),
    )
    storage.release_lease(held)
    return storage.claim_run(run_id, "intruder", ttl_seconds=30)


@pytest.mark.parametrize("swallows", [False, True])
async def test_an_effect_completed_after_a_takeover_is_refused_and_the_stale_writer_stops(
    storage: StorageBackend, swallows: bool
) -> None:
    graph = chain(3)
    manager = CheckpointManager(storage, {"retention_strategy": "all"})
    entered: list[int] = []
    takeover: list[Lease] = []

    def charge() -> str:
        takeover.append(_take_over(storage, "r"))  # while the charge is under way
        return "charged by the stale writer"

    async def n2(ctx: NodeContext) -> Any:
        entered.append(ctx.attempt)
        try:
            return await ctx.effect("charge", charge)
        except FencedOutError as exc:
            if not swallows:
                raise
            return {"swallowed": str(exc)}  # a node that swallows it still stops the run

    old = executor_for(graph, NodeLog(), manager)
    old.register_function("n2", n2)

    with pytest.raises(FencedOutError, match="intruder, fencing token 2, not 1"):
        await old.execute(graph, GOAL, SEED, run_id="r")

    assert entered == [1]  # stopped at once: not retried, not continued
    effect = storage.get_effect("r", "n2:charge")
    assert effect is not None
    assert (effect.status, effect.result) == (EffectStatus.STARTED, None)
    record = storage.get_run("r")
    assert record is not None
    assert (record.status, record.last_error, record.lease_owner) == (
        RunStatus.RUNNING,
        None,
        "intruder",
    )
    assert [m.node_id for m in storage.list_checkpoints("r")] == [None, "n1"]

    storage.release_lease(takeover[0])
    owner = executor_for(graph, NodeLog(), manager)

    async def owner_n2(ctx: NodeContext) -> Any:
        return await ctx.effect("charge", lambda: "charged by the owner")

    owner.register_function("n2", owner_n2)
    result = await owner.execute(graph, GOAL, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    assert result.output["n2"] == "charged by the owner"
    effect = storage.get_effect("r", "n2:charge")
    assert effect is not None
    assert (effect.status, effect.result, effect.attempts) == (
        EffectStatus.COMPLETED,
        "charged by the owner",
        2,
    )


async def test_a_plan_step_whose_effect_is_fenced_out_stops_the_plan_unretried(
    storage: StorageBackend,
) -> None:
    manager = CheckpointManager(storage)
    entered: list[int] = []

    def charge() -> str:
        _take_over(storage, "p")
        return "charged by the stale writer"

    async def b(ctx: StepContext) -> Any:
        entered.append(ctx.attempt)
        return await ctx.effect("charge", charge)

    steps = [
        PlanStep(id=name, action=ActionSpec(action_type=ActionType.FUNCTION, function_name=name))
        for name in ("a", "b")
    ]
    steps[1].dependencies = ["a"]
    executor = FlexibleGraphExecutor(
        None, functions={"a": lambda: "a", "b": b}, checkpoint_manager=manager
    )

    with pytest.raises(FencedOutError, match="intruder, fencing token 2, not 1"):
        await executor.execute_plan(Plan(id="plan", goal_id="goal", steps=steps), GOAL, run_id="p")

    assert entered == [1]
    effect = storage.get_effect("p", "b:charge")
    assert effect is not None
    assert (effect.status, effect.result) == (EffectStatus.STARTED, None)
    record = storage.get_run("p")
    assert record is not None
    assert (record.status, record.last_error) == (RunStatus.RUNNING, None)


class Race:
    """Two child processes on one run and the files they meet at (see the child's docs)."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), self.url, "r", str(self.folder), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.children[name] = child
        return child

    def wait_for(self, name: str) -> None:
        """Until ``name`` is inside its charge."""
        self._until(lambda: (self.folder / f"{name}_in_effect").exists(), f"{name} in effect")

    def wait_until_lease_lapsed(self) -> None:
        with open_storage(self.url) as storage:

            def lapsed() -> bool:
                record = storage.get_run("r")
                expires = None if record is None else record.lease_expires_at
                return expires is not None and expires < utc_now()

            self._until(lapsed, "the first writer's lease to lapse")

    def release(self, name: str) -> tuple[int, str]:
        """Let ``name``'s charge return; its exit code and stderr once it exited."""
        (self.folder / f"{name}_go").touch()
        _, stderr = self.children[name].communicate(timeout=60)
        return self.children[name].returncode, stderr.decode()

    def report(self, name: str) -> dict[str, Any]:
        report: dict[str, Any] = json.loads((self.folder / f"{name}.json").read_text())
        return report

    def _until(self, done: Any, what: str) -> None:
        deadline = time.monotonic() + 30
        while not done():
            for name, child in self.children.items():
                if child.poll() is not None:
                    stderr = child.stderr.read().decode() if child.stderr else ""
                    raise AssertionError(f"{name} exited early ({child.returncode}): {stderr}")
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.01)

    def kill_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGCONT)
                child.kill()
                child.wait()


@pytest.fixture(params=["file", "sqlite"])
def race(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Race]:
    url = f"file://{tmp_path / 'store'}" if request.param == "file" else f"sqlite://{tmp_path}/db"
    race = Race(url, tmp_path)
    try:
        yield race
    finally:
        race.kill_all()


@pytest.mark.slow
def test_a_paused_writer_cannot_record_its_effect_after_another_process_took_the_run_over(
    race: Race,
) -> None:
    first = race.start("first")
    race.wait_for("first")
    time.sleep(0.1)  # a lease renewal already under way in a worker thread ends first
    os.kill(first.pid, signal.SIGSTOP)
    race.wait_until_lease_lapsed()
    race.start("second")
    race.wait_for("second")  # the new owner is inside the same effect, in doubt

    os.kill(first.pid, signal.SIGCONT)
    first_code, first_stderr = race.release("first")
    second_code, second_stderr = race.release("second")

    assert first_code == FENCED_OUT, first_stderr
    assert race.report("first")["fenced"]["token"] == 1
    assert race.report("first")["fenced"]["current_token"] == 2
    assert second_code == 0, second_stderr
    result = race.report("second")["result"]
    assert (result["success"], result["run_status"]) == (True, "completed")
    assert result["output"]["n2"] == {"by": "second"}
    with open_storage(race.url) as storage:
        effects = storage.list_effects("r")
        record = storage.get_run("r")
    assert [(e.key, e.status, e.result) for e in effects] == [
        ("n2:charge", EffectStatus.COMPLETED, {"by": "second"})
    ]
    assert record is not None and record.status is RunStatus.COMPLETED
    assert (race.folder / "calls.log").read_text().split() == ["first", "second"]
