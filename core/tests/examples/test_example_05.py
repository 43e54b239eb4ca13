"""examples/05_document_batch.py builds its summary tree, pauses on Ctrl-C and resumes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from framework.testing.fake_endpoint import FakeEndpoint, Received, Reply

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "05_document_batch.py"


def start(folder: Path, log: str, delay: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DOCBATCH_DELAY": delay, "DOCBATCH_CALL_LOG": str(folder / log)}
    command = [sys.executable, str(EXAMPLE), "--storage", f"sqlite://{folder / 'state.db'}"]
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(child: subprocess.Popen[str]) -> str:
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return out


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_the_summary_tree_is_built_and_the_empty_document_fails_alone(tmp_path: Path) -> None:
    out = finish(start(tmp_path, "calls.log", "0.01"))

    assert "failed: empty (empty has no text)" in out
    assert "12 documents, 2 levels above them" in out
    assert "root summary: Bread begins with flour, water, salt and a leaven." in out


def test_ctrl_c_pauses_and_running_again_skips_every_finished_document(tmp_path: Path) -> None:
    (tmp_path / "reference").mkdir()
    reference = finish(start(tmp_path / "reference", "calls.log", "0.01"))
    child = start(tmp_path, "first.log", "0.2")
    while len(lines(tmp_path / "first.log")) < 8:  # a few documents under way
        assert child.poll() is None, child.communicate()
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    paused = finish(child)
    with sqlite3.connect(tmp_path / "state.db") as conn:
        rows = conn.execute(
            "SELECT item_id FROM items WHERE run_id = 'summary-tree-0' "
            "AND status IN ('completed', 'failed')"
        ).fetchall()
    done_first = {item_id for (item_id,) in rows}

    resumed = finish(start(tmp_path, "second.log", "0.01"))

    assert "paused: SIGINT received" in paused
    assert "run the same command again to resume where it stopped" in paused
    assert 0 < len(done_first) < 12
    assert f"resuming: {len(done_first)} of 12 documents already done" in resumed
    rerun = {
        line.split()[1]
        for line in lines(tmp_path / "second.log")
        if line.startswith("summary-tree-0 ")
    }
    assert not rerun & done_first
    assert resumed.splitlines()[-1] == reference.splitlines()[-1]


def test_the_tree_is_built_by_a_real_endpoint_and_costs_exactly_what_it_charged(
    tmp_path: Path, endpoint: Callable[..., FakeEndpoint]
) -> None:
    charged = {"tokens": 0, "calls": 0}

    def model(received: Received) -> Reply:
        charged["calls"] += 1
        charged["tokens"] += 20 + 7
        body = {
            "id": f"chatcmpl-{charged['calls']}",
            "object": "chat.completion",
            "created": 0,
            "model": "house-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"summary {charged['calls']}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27},
        }
        return Reply(200, body)

    server = endpoint(model)
    command = [
        sys.executable,
        str(EXAMPLE),
        "--storage",
        f"sqlite://{tmp_path / 'state.db'}",
        "--provider",
        "openai",
        "--model",
        "house-model",
        "--base-url",
        f"{server.url}/v1",
    ]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-example-0123456789"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr
    assert f"{charged['tokens']:,} tokens" in done.stdout
    assert "root summary: summary " in done.stdout
    assert server.requests[0].body["model"] == "house-model"
    # The endpoint is no public provider: its cost is unknown, and said so once.
    assert "the cost of OpenAI-compatible model 'house-model' is unknown" in done.stderr
