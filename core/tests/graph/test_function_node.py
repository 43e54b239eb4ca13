"""FunctionNode: runs a sync or async callable with the node's inputs as keyword arguments."""

from __future__ import annotations

import threading
from typing import Any

from framework.graph.node import FunctionNode, NodeContext, NodeResult, NodeSpec
from framework.graph.shared_memory import SharedMemory


def context(inputs: dict[str, Any], output_keys: list[str] | None = None) -> NodeContext:
    spec = NodeSpec(
        id="n", name="n", description="test node", output_keys=output_keys or ["result"]
    )
    return NodeContext(
        run_id="run", node_id="n", node_spec=spec, memory=SharedMemory(), inputs=inputs
    )


async def test_sync_function_gets_matching_inputs_and_runs_off_the_event_loop() -> None:
    seen: dict[str, Any] = {}

    def add(a: int, b: int) -> int:
        seen["thread"] = threading.current_thread()
        return a + b

    result = await FunctionNode(add).execute(context({"a": 2, "b": 3, "unused": 9}))
    assert result.success
    assert result.output == {"result": 5}
    assert seen["thread"] is not threading.main_thread()


async def test_async_function_is_awaited() -> None:
    async def shout(text: str) -> str:
        return text.upper()

    result = await FunctionNode(shout).execute(context({"text": "hi"}))
    assert result.output == {"result": "HI"}


async def test_kwargs_function_receives_every_input() -> None:
    def collect(**kwargs: Any) -> list[str]:
        return sorted(kwargs)

    result = await FunctionNode(collect).execute(context({"b": 1, "a": 2}))
    assert result.output == {"result": ["a", "b"]}


async def test_ctx_parameter_receives_the_context() -> None:
    def uses_ctx(ctx: NodeContext, x: int) -> str:
        ctx.request_checkpoint({"seen": x})
        return f"{ctx.node_id}:{x}"

    ctx = context({"x": 4})
    result = await FunctionNode(uses_ctx).execute(ctx)
    assert result.output == {"result": "n:4"}
    assert ctx.checkpoint_requests == [{"seen": 4}]


async def test_missing_required_input_fails_naming_it() -> None:
    def needs(text: str, limit: int = 3) -> str:
        return text[:limit]

    result = await FunctionNode(needs).execute(context({"other": 1}))
    assert not result.success
    assert result.error is not None
    assert "missing input 'text'" in result.error
    assert "available: ['other']" in result.error


async def test_returned_node_result_is_passed_through_unchanged() -> None:
    custom = NodeResult(success=True, output={"anything": 1}, next_node="elsewhere", tokens_used=7)

    result = await FunctionNode(lambda: custom).execute(context({}))
    assert result == custom


async def test_exception_becomes_a_failure_with_its_type_name() -> None:
    def broken() -> None:
        raise ValueError("bad document")

    result = await FunctionNode(broken).execute(context({}))
    assert not result.success
    assert result.error == "ValueError: bad document"


async def test_several_output_keys_take_those_keys_from_a_returned_dict() -> None:
    def split() -> dict[str, Any]:
        return {"head": 1, "tail": [2, 3], "ignored": 0}

    result = await FunctionNode(split).execute(context({}, output_keys=["head", "tail"]))
    assert result.output == {"head": 1, "tail": [2, 3]}


async def test_several_output_keys_fail_when_the_dict_lacks_some() -> None:
    result = await FunctionNode(lambda: {"head": 1}).execute(
        context({}, output_keys=["head", "tail"])
    )
    assert not result.success
    assert "lacks output keys ['tail']" in (result.error or "")

    result = await FunctionNode(lambda: 5).execute(context({}, output_keys=["head", "tail"]))
    assert not result.success
    assert "must return a dict" in (result.error or "")


async def test_without_output_keys_dicts_are_the_output_and_other_values_are_result() -> None:
    no_keys: list[str] = []
    ctx = context({})
    ctx.node_spec = ctx.node_spec.model_copy(update={"output_keys": no_keys})
    assert (await FunctionNode(lambda: {"a": 1}).execute(ctx)).output == {"a": 1}
    assert (await FunctionNode(lambda: 3).execute(ctx)).output == {"result": 3}
    assert (await FunctionNode(lambda: None).execute(ctx)).output == {}
