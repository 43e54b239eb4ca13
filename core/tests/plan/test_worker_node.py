"""WorkerNode: every action type, reference resolution, output shaping, failures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from framework.errors import PlanExecutionError
from framework.graph import ActionSpec, ActionType, EdgeSpec, GraphSpec, PlanStep
from framework.graph.goal import Goal
from framework.graph.node import NodeSpec
from framework.graph.worker_node import WorkerNode, render_template, resolve_references
from framework.llm import LLMResponse, MockLLMProvider, Tool, ToolCall, ToolResult
from framework.testing.fakes import FakeRecorder

StepFactory = Callable[..., PlanStep]


def _step(step_id: str, action: ActionSpec, **fields: Any) -> PlanStep:
    return PlanStep(id=step_id, description=f"step {step_id}", action=action, **fields)


def _two_node_graph() -> GraphSpec:
    """double(x) -> y, then increment(y) -> z."""
    return GraphSpec(
        id="arith",
        entry_node="double",
        terminal_nodes=["increment"],
        nodes=[
            NodeSpec(
                id="double",
                name="Double",
                description="y = 2x",
                input_keys=["x"],
                output_keys=["y"],
                function="double",
            ),
            NodeSpec(
                id="increment",
                name="Increment",
                description="z = y + 1",
                input_keys=["y"],
                output_keys=["z"],
                function="increment",
            ),
        ],
        edges=[EdgeSpec(id="e1", source="double", target="increment")],
    )


def _arith_functions() -> dict[str, Callable[..., Any]]:
    def double(x: int) -> int:
        return 2 * x

    async def increment(y: int) -> int:
        return y + 1

    return {"double": double, "increment": increment}


# --- FUNCTION ---------------------------------------------------------------------------


async def test_sync_function_runs_in_a_worker_thread_with_resolved_arguments(
    fn_step: StepFactory,
) -> None:
    seen: dict[str, Any] = {}

    def join(text: str, sep: str, count: int) -> dict[str, Any]:
        seen["thread"] = threading.current_thread()
        return {"joined": sep.join([text] * count)}

    step = fn_step(
        "j",
        "join",
        inputs={"text": "$fetch.body", "count": "$n"},
        function_args={"sep": "-"},
        expected_outputs=["joined"],
    )
    worker = WorkerNode(functions={"join": join})

    result = await worker.execute(step, {"fetch": {"body": "ab"}, "n": 3})

    assert result.success, result.error
    assert result.outputs == {"joined": "ab-ab-ab"}
    assert seen["thread"] is not threading.main_thread()


async def test_explicit_function_arguments_win_over_inputs(fn_step: StepFactory) -> None:
    async def echo(value: str) -> str:
        return value

    step = fn_step("e", "echo", inputs={"value": "from input"}, function_args={"value": "arg"})

    result = await WorkerNode(functions={"echo": echo}).execute(step, {})

    assert result.outputs == {"result": "arg"}


async def test_function_value_is_shaped_by_expected_outputs(fn_step: StepFactory) -> None:
    def seven() -> int:
        return 7

    def pair() -> dict[str, int]:
        return {"a": 1, "b": 2}

    def nothing() -> None:
        return None

    worker = WorkerNode(functions={"seven": seven, "pair": pair, "nothing": nothing})

    single = await worker.execute(fn_step("s", "seven", expected_outputs=["n"]), {})
    whole = await worker.execute(fn_step("p", "pair"), {})
    empty = await worker.execute(fn_step("x", "nothing"), {})

    assert single.outputs == {"n": 7}
    assert whole.outputs == {"a": 1, "b": 2}
    assert empty.outputs == {}


async def test_missing_expected_outputs_fail_the_step(fn_step: StepFactory) -> None:
    def partial() -> dict[str, int]:
        return {"a": 1}

    step = fn_step("p", "partial", expected_outputs=["a", "b"])

    result = await WorkerNode(functions={"partial": partial}).execute(step, {})

    assert not result.success
    assert result.error_type == "PlanExecutionError"
    assert "did not produce expected outputs ['b']" in (result.error or "")


async def test_unregistered_function_is_a_clear_failure(fn_step: StepFactory) -> None:
    result = await WorkerNode(functions={"other": print}).execute(fn_step("a", "ghost"), {})

    assert not result.success
    assert result.error_type == "PlanExecutionError"
    assert "function 'ghost', which is not registered" in (result.error or "")


async def test_exception_becomes_a_failure_named_by_its_class(fn_step: StepFactory) -> None:
    async def slow() -> None:
        raise TimeoutError("upstream took too long")

    def broken() -> None:
        raise ValueError("bad data")

    worker = WorkerNode(functions={"slow": slow, "broken": broken})

    timeout = await worker.execute(fn_step("s", "slow"), {})
    value = await worker.execute(fn_step("b", "broken"), {})

    assert (timeout.success, timeout.error_type, timeout.transient) == (
        False,
        "TimeoutError",
        True,
    )
    assert timeout.error == "TimeoutError: upstream took too long"
    assert (value.error_type, value.transient) == ("ValueError", False)


async def test_unresolvable_reference_fails_the_step(fn_step: StepFactory) -> None:
    step = fn_step("a", inputs={"text": "$fetch.missing"})

    result = await WorkerNode(functions={"a": print}).execute(step, {"fetch": {"body": 1}})

    assert not result.success
    assert "'missing' not found in 'fetch'" in (result.error or "")


# --- LLM_CALL ---------------------------------------------------------------------------


async def test_llm_call_fills_the_prompt_and_returns_text() -> None:
    llm = MockLLMProvider(["A short summary."])
    action = ActionSpec(
        action_type=ActionType.LLM_CALL,
        prompt="Summarise {doc} for {audience} {unknown}",
        system_prompt="You are terse.",
    )
    step = _step("sum", action, inputs={"doc": "$fetch.text", "audience": "kids", "extra": 3})

    result = await WorkerNode(llm=llm).execute(step, {"fetch": {"text": "Long text"}})

    assert result.success, result.error
    assert result.outputs == {"result": "A short summary."}
    assert result.tokens_used > 0
    call = llm.calls[0]
    assert call.prompt.startswith("Summarise Long text for kids {unknown}")
    assert '"extra": 3' in call.prompt
    assert call.system == "You are terse."
    assert call.json_mode is False


async def test_llm_call_parses_expected_outputs_from_json() -> None:
    reply = LLMResponse(content='{"title": "T", "tags": ["a"]}', input_tokens=5, output_tokens=4)
    llm = MockLLMProvider([reply])
    action = ActionSpec(action_type=ActionType.LLM_CALL, prompt="Describe")
    step = _step("d", action, expected_outputs=["title", "tags"])

    result = await WorkerNode(llm=llm).execute(step, {})

    assert result.outputs == {"result": reply.content, "title": "T", "tags": ["a"]}
    assert result.tokens_used == 9
    assert llm.calls[0].json_mode is True


async def test_llm_call_failing_to_give_expected_json_fails() -> None:
    action = ActionSpec(action_type=ActionType.LLM_CALL, prompt="Describe")
    step = _step("d", action, expected_outputs=["title"])

    result = await WorkerNode(llm=MockLLMProvider(["no json here"])).execute(step, {})

    assert not result.success
    assert "not a JSON object" in (result.error or "")


async def test_llm_call_without_an_llm_is_a_clear_failure() -> None:
    step = _step("d", ActionSpec(action_type=ActionType.LLM_CALL, prompt="Hi"))

    result = await WorkerNode().execute(step, {})

    assert (result.success, result.error_type) == (False, "LLMError")
    assert "no LLM is configured" in (result.error or "")


# --- TOOL_USE ---------------------------------------------------------------------------


async def test_tool_use_calls_the_tool_executor_with_resolved_arguments() -> None:
    calls: list[ToolCall] = []

    async def execute_tool(call: ToolCall) -> ToolResult:
        calls.append(call)
        return ToolResult(tool_call_id=call.id, content='{"temp": 21}')

    action = ActionSpec(
        action_type=ActionType.TOOL_USE, tool_name="weather", tool_args={"city": "$where.city"}
    )
    step = _step("w", action, inputs={"units": "C"}, expected_outputs=["temp"], attempts=1)
    worker = WorkerNode(tools=[Tool(name="weather")], tool_executor=execute_tool)

    result = await worker.execute(step, {"where": {"city": "Oslo"}})

    assert result.success, result.error
    assert result.outputs == {"result": '{"temp": 21}', "temp": 21}
    assert calls == [ToolCall(id="w-1", name="weather", arguments={"units": "C", "city": "Oslo"})]


async def test_sync_tool_executor_returning_a_plain_value_works() -> None:
    action = ActionSpec(action_type=ActionType.TOOL_USE, tool_name="count")

    result = await WorkerNode(tool_executor=lambda call: 42).execute(_step("c", action), {})

    assert result.outputs == {"result": "42"}


async def test_tool_errors_and_missing_tools_fail() -> None:
    def execute_tool(call: ToolCall) -> ToolResult:
        return ToolResult(tool_call_id=call.id, content="quota exceeded", is_error=True)

    action = ActionSpec(action_type=ActionType.TOOL_USE, tool_name="search")
    step = _step("s", action)

    errored = await WorkerNode(tool_executor=execute_tool).execute(step, {})
    unknown = await WorkerNode(tools=[Tool(name="other")], tool_executor=execute_tool).execute(
        step, {}
    )
    no_executor = await WorkerNode().execute(step, {})

    assert errored.error == "ToolExecutionError: tool 'search' reported an error: quota exceeded"
    assert "unknown tool 'search'; available: ['other']" in (unknown.error or "")
    assert "no tool_executor is configured" in (no_executor.error or "")
    assert {errored.error_type, unknown.error_type, no_executor.error_type} == {
        "ToolExecutionError"
    }


# --- SUB_GRAPH --------------------------------------------------------------------------


async def test_sub_graph_runs_through_the_graph_executor() -> None:
    action = ActionSpec(action_type=ActionType.SUB_GRAPH, graph_id="arith")
    step = _step("calc", action, inputs={"x": "$source.value"}, expected_outputs=["z"])
    worker = WorkerNode(functions=_arith_functions(), graphs={"arith": _two_node_graph()})

    result = await worker.execute(step, {"source": {"value": 5}})

    assert result.success, result.error
    assert result.outputs == {"x": 5, "y": 10, "z": 11}


async def test_sub_graph_with_its_own_goal_reports_to_the_runtime(recorder: FakeRecorder) -> None:
    goal = Goal(id="arith-goal", name="Arithmetic", description="compute z")
    action = ActionSpec(action_type=ActionType.SUB_GRAPH, graph_id="arith")
    worker = WorkerNode(
        functions=_arith_functions(), graphs={"arith": (_two_node_graph(), goal)}, runtime=recorder
    )

    result = await worker.execute(_step("calc", action, inputs={"x": 1}), {})

    assert result.outputs["z"] == 3
    assert recorder.of("start_run")[0]["goal_id"] == "arith-goal"
    assert [d["node_id"] for d in recorder.of("decide")] == ["double", "increment"]


async def test_failing_sub_graph_fails_the_step() -> None:
    def double(x: int) -> int:
        raise ValueError("cannot double")

    graph = _two_node_graph()
    graph.nodes[0].max_retries = 0
    functions = {**_arith_functions(), "double": double}
    action = ActionSpec(action_type=ActionType.SUB_GRAPH, graph_id="arith")
    worker = WorkerNode(functions=functions, graphs={"arith": graph})

    result = await worker.execute(_step("calc", action, inputs={"x": 1}), {})

    assert not result.success
    assert result.error_type == "PlanExecutionError"
    assert "sub-graph 'arith' failed" in (result.error or "")
    assert "cannot double" in (result.error or "")


async def test_unknown_sub_graph_is_a_clear_failure() -> None:
    action = ActionSpec(action_type=ActionType.SUB_GRAPH, graph_id="nope")

    result = await WorkerNode(graphs={"arith": _two_node_graph()}).execute(_step("g", action), {})

    assert "graph 'nope', which is not registered" in (result.error or "")


# --- CODE_EXECUTION ---------------------------------------------------------------------


async def test_code_execution_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')"
    step = _step("code", ActionSpec(action_type=ActionType.CODE_EXECUTION, code=code))

    result = await WorkerNode().execute(step, {})

    assert not result.success
    assert result.error_type == "UnsupportedActionError"
    assert result.error == (
        "UnsupportedActionError: code execution is not supported: no sandbox in this project"
    )
    assert not marker.exists()


# --- helpers ----------------------------------------------------------------------------


def test_resolve_references_walks_nested_values_and_honours_escapes() -> None:
    context = {"fetch": {"items": [{"id": 7}], "n": 2}, "topic": "ai"}
    value = {"a": ["$fetch.items.0.id", "$topic"], "b": {"c": "$fetch"}, "d": "$$topic", "e": 1}

    resolved = resolve_references(value, context)

    assert resolved == {"a": [7, "ai"], "b": {"c": context["fetch"]}, "d": "$topic", "e": 1}


def test_resolve_references_names_what_is_missing() -> None:
    with pytest.raises(PlanExecutionError, match="no completed step or context key named 'x'"):
        resolve_references("$x", {})
    with pytest.raises(PlanExecutionError, match="'5' not found in 'a'"):
        resolve_references("$a.items.5", {"a": {"items": [1]}})


def test_render_template_never_reaches_attributes() -> None:
    values = {"name": "Ada", "data": {"k": 1}}

    rendered = render_template("{name} {data} {name.__class__} {missing}", values)

    assert rendered == 'Ada {"k": 1} {name.__class__} {missing}'
