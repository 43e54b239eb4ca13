"""Real model calls in durable runs and batches, over real HTTP: what was spent is counted
exactly, across a SIGKILL too."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_openai import completion, ok, tool_call

from framework.testing.fake_endpoint import FakeEndpoint, Received, Reply

CHILD = Path(__file__).parent / "llm_child.py"
ASK_TOKENS, ANSWER_TOKENS = (30, 6), (40, 4)


def lookup_model(received: Received) -> Reply:
    """Asks for the tool until the conversation holds its result, then answers."""
    if any(message["role"] == "tool" for message in received.body["messages"]):
        return ok(
            completion(
                "A tide is the sea rising and falling.", prompt_tokens=40, completion_tokens=4
            )
        )
    call = tool_call("call_1", "lookup", {"word": "tide"})
    return ok(completion(None, tool_calls=[call], prompt_tokens=30, completion_tokens=6))


def child(tmp_path: Path, server: FakeEndpoint) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        str(CHILD),
        "--storage",
        f"sqlite://{tmp_path / 'runs.db'}",
        "--base-url",
        f"{server.url}/v1",
        "--run-id",
        "define-tide",
        "--marker",
        str(tmp_path / "killed-once"),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
def test_a_run_killed_after_the_model_answered_asks_again_and_counts_both_calls(
    tmp_path: Path, endpoint: Callable[..., FakeEndpoint]
) -> None:
    server = endpoint(lookup_model)

    killed = child(tmp_path, server)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(server.requests) == 1  # the model answered; the node never finished

    resumed = child(tmp_path, server)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)

    assert result["run_status"] == "completed"
    assert result["output"]["answer"] == "A tide is the sea rising and falling."
    # Asked again on resume: the tool call, then the answer. All three calls are counted.
    assert len(server.requests) == 3
    spent_tokens = 2 * sum(ASK_TOKENS) + sum(ANSWER_TOKENS)
    assert result["total_tokens"] == spent_tokens
    prices = (2 * ASK_TOKENS[0] + ANSWER_TOKENS[0]) * 1.0 + (
        2 * ASK_TOKENS[1] + ANSWER_TOKENS[1]
    ) * 2.0
    assert result["total_cost"] == pytest.approx(prices / 1e6)
