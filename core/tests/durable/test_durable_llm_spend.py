"""What a checkpointed run's model calls spent survives a crash inside their node.

Each call is journaled as soon as it returns; a run resumed after a crash counts the calls
its checkpoint does not, exactly once, and asks the model again (on every backend).
"""

from __future__ import annotations

from typing import Any

import pytest
from durable_helpers import GOAL, Crash

from framework.errors import LLMCallError
from framework.graph import GraphSpec
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.executor import GraphExecutor, RetryPolicy
from framework.graph.node import NodeSpec, NodeType
from framework.llm import LLMAttempt, LLMCall, LLMResponse, MockLLMProvider, Tool, ToolCall
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend

LOOKUP = Tool(name="lookup", description="Look a word up.")
GRAPH = GraphSpec(
    id="agent-graph",
    entry_node="agent",
    nodes=[
        NodeSpec(
            id="agent",
            name="agent",
            description="Use tools.",
            node_type=NodeType.LLM_TOOL_USE,
            output_keys=["answer"],
            tools=["lookup"],
        )
    ],
    edges=[],
)
CALL_TOKENS = 110
CALL_COST = 0.01


def model(call: LLMCall) -> LLMResponse:
    """Asks for the tool until the conversation holds its result, then answers."""
    if any(message.role == "tool" for message in call.messages):
        return LLMResponse(content="done", input_tokens=100, output_tokens=10, cost=CALL_COST)
    lookup = ToolCall(id="c1", name="lookup", arguments={"word": "tide"})
    return LLMResponse(tool_calls=[lookup], input_tokens=100, output_tokens=10, cost=CALL_COST)


class Tools:
    """The tool executor: the first call "kills the process"."""

    def __init__(self) -> None:
        self.crash_next = True

    def __call__(self, call: ToolCall) -> str:
        if self.crash_next:
            self.crash_next = False
            raise Crash("killed inside the node, after the model answered")
        return "the rise and fall of the sea"


def executor(llm: Any, tools: Tools, manager: CheckpointManager) -> GraphExecutor:
    return GraphExecutor(
        llm=llm,
        tools=[LOOKUP],
        tool_executor=tools,
        retry_policy=RetryPolicy(base_delay=0),
        checkpoint_manager=manager,
    )


async def test_a_call_answered_before_a_crash_is_counted_once_and_asked_again(
    manager: CheckpointManager,
) -> None:
    llm, tools = MockLLMProvider(model), Tools()
    with pytest.raises(Crash):
        await executor(llm, tools, manager).execute(GRAPH, GOAL, {}, run_id="r")
    assert len(llm.calls) == 1

    result = await executor(llm, tools, manager).execute(GRAPH, GOAL, run_id="r")

    assert result.run_status is RunStatus.COMPLETED and result.output["answer"] == "done"
    assert len(llm.calls) == 3  # the model is asked again: the node had not finished
    assert result.total_tokens == 3 * CALL_TOKENS
    assert result.total_cost == pytest.approx(3 * CALL_COST)


async def test_a_crashed_calls_spend_is_not_counted_again_after_a_later_pause(
    manager: CheckpointManager,
) -> None:
    llm, tools = MockLLMProvider(model), Tools()
    with pytest.raises(Crash):
        await executor(llm, tools, manager).execute(GRAPH, GOAL, {}, run_id="r")

    paused = await executor(llm, tools, manager).execute(GRAPH, GOAL, run_id="r", max_tokens=50)
    assert paused.run_status is RunStatus.PAUSED and paused.total_tokens == CALL_TOKENS
    result = await executor(llm, tools, manager).execute(GRAPH, GOAL, run_id="r", max_tokens=10**6)

    assert result.run_status is RunStatus.COMPLETED
    assert result.total_tokens == 3 * CALL_TOKENS


async def test_every_call_of_a_checkpointed_run_is_journaled_with_its_attempts(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    refused = LLMAttempt(model="m", status_code=429, error="HTTP 429: slow down", cost=0.0)
    answered = LLMAttempt(model="m", input_tokens=100, output_tokens=10, cost=CALL_COST)

    def retried(call: LLMCall) -> LLMResponse:
        reply = model(call)
        return reply.model_copy(update={"attempts": [refused, answered]})

    tools = Tools()
    tools.crash_next = False
    result = await executor(MockLLMProvider(retried), tools, manager).execute(
        GRAPH, GOAL, {}, run_id="r"
    )

    journal = [e for e in storage.list_effects("r") if ":llm-spend-" in e.key]
    assert [e.node_id for e in journal] == ["agent", "agent"]
    assert [[a["status_code"] for a in e.result["attempts"]] for e in journal] == [
        [429, None],
        [429, None],
    ]
    assert result.total_tokens == 2 * CALL_TOKENS


async def test_a_call_that_failed_for_good_still_counts_what_its_attempts_spent(
    manager: CheckpointManager,
) -> None:
    spent = [
        LLMAttempt(model="m", error="malformed reply", input_tokens=7, output_tokens=3, cost=0.002),
        LLMAttempt(model="m", status_code=500, error="HTTP 500", cost=0.0),
    ]

    def failing(call: LLMCall) -> LLMResponse:
        raise LLMCallError("model 'm' at http://x failed after 2 attempts", spent, retryable=True)

    graph = GRAPH.model_copy(
        update={"nodes": [GRAPH.nodes[0].model_copy(update={"max_retries": 1})]}
    )
    tools = Tools()
    result = await executor(MockLLMProvider(failing), tools, manager).execute(
        graph, GOAL, {}, run_id="r"
    )

    assert result.run_status is RunStatus.FAILED
    assert "failed after 2 attempts" in (result.error or "")
    # Two node attempts (max_retries=1), each a call of two attempts.
    assert result.total_tokens == 2 * 10
    assert result.total_cost == pytest.approx(2 * 0.002)


async def test_a_run_started_over_does_not_count_what_its_earlier_life_spent(
    manager: CheckpointManager,
) -> None:
    llm, tools = MockLLMProvider(model), Tools()
    with pytest.raises(Crash):
        await executor(llm, tools, manager).execute(GRAPH, GOAL, {}, run_id="r")

    result = await executor(llm, tools, manager).execute(
        GRAPH, GOAL, {}, run_id="r", force_restart=True
    )

    assert result.run_status is RunStatus.COMPLETED
    assert result.total_tokens == 2 * CALL_TOKENS  # its totals start over with it
