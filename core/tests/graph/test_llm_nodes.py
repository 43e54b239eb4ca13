"""LLMNode (generate, JSON outputs, tool loop) and RouterNode (function, LLM, expressions)."""

from __future__ import annotations

import json
from typing import Any

from framework.graph.llm_nodes import LLMNode, RouterNode
from framework.graph.node import NodeContext, NodeResult, NodeSpec, NodeType
from framework.graph.shared_memory import SharedMemory
from framework.llm import LLMCall, LLMResponse, MockLLMProvider, Role, Tool, ToolCall, ToolResult


def context(
    spec: NodeSpec,
    inputs: dict[str, Any] | None = None,
    *,
    llm: MockLLMProvider | None = None,
    memory: dict[str, Any] | None = None,
    tools: list[Tool] | None = None,
    tool_executor: Any = None,
) -> NodeContext:
    return NodeContext(
        run_id="run",
        node_id=spec.id,
        node_spec=spec,
        memory=SharedMemory(memory),
        inputs=inputs or {},
        llm=llm,
        tools=tools or [],
        tool_executor=tool_executor,
    )


def generate(**fields: Any) -> NodeSpec:
    fields.setdefault("output_keys", ["answer"])
    return NodeSpec(
        id="gen", name="gen", description="Summarise.", node_type=NodeType.LLM_GENERATE, **fields
    )


def tool_user(**fields: Any) -> NodeSpec:
    return NodeSpec(
        id="agent",
        name="agent",
        description="Use tools.",
        node_type=NodeType.LLM_TOOL_USE,
        output_keys=["answer"],
        tools=["lookup"],
        **fields,
    )


def router(routes: dict[str, str], **fields: Any) -> NodeSpec:
    return NodeSpec(
        id="route",
        name="route",
        description="Pick a branch.",
        node_type=NodeType.ROUTER,
        routes=routes,
        **fields,
    )


LOOKUP = Tool(name="lookup", description="Look a word up.")
DELETE = Tool(name="delete_everything", description="Not for this node.")


# --- LLMNode: generate ---------------------------------------------------------------------


async def test_generate_fills_the_template_and_uses_the_system_prompt_and_model() -> None:
    llm = MockLLMProvider(["A short summary."])
    spec = generate(
        prompt_template="Summarise {text} in {words} words.",
        system_prompt="You are terse.",
        model="small",
    )

    result = await LLMNode().execute(context(spec, {"text": "the report", "words": 5}, llm=llm))

    assert result.success
    assert result.output == {"answer": "A short summary."}
    assert result.tokens_used > 0
    call = llm.calls[0]
    assert call.prompt == "Summarise the report in 5 words."
    assert call.system == "You are terse."
    assert call.model == "small"


async def test_template_substitution_allows_no_attribute_or_index_access() -> None:
    llm = MockLLMProvider(["ok"])
    spec = generate(prompt_template="{text.__class__} {text[0]} {text}")

    result = await LLMNode().execute(context(spec, {"text": "secret"}, llm=llm))

    assert result.success
    assert llm.calls[0].prompt == "{text.__class__} {text[0]} secret"


async def test_template_placeholder_without_input_fails_naming_it() -> None:
    llm = MockLLMProvider(["never used"])
    spec = generate(prompt_template="Translate {text} to {language}.")

    result = await LLMNode().execute(context(spec, {"text": "hola"}, llm=llm))

    assert not result.success
    assert "missing inputs ['language']" in (result.error or "")
    assert llm.calls == []


async def test_without_template_the_prompt_lists_the_inputs_as_json() -> None:
    llm = MockLLMProvider(["fine"])

    await LLMNode().execute(context(generate(), {"b": [1, 2], "a": "x"}, llm=llm))

    prompt = llm.calls[0].prompt
    assert prompt.startswith("Summarise.")
    assert json.loads(prompt.split("Inputs:\n", 1)[1]) == {"a": "x", "b": [1, 2]}


async def test_several_output_keys_are_parsed_from_a_json_reply() -> None:
    reply = '```json\n{"title": "Q3", "score": 0.8, "extra": true}\n```'
    llm = MockLLMProvider([reply])
    spec = generate(output_keys=["title", "score"])

    result = await LLMNode().execute(context(spec, {"text": "..."}, llm=llm))

    assert result.success
    assert result.output == {"title": "Q3", "score": 0.8}
    assert llm.calls[0].json_mode is True


async def test_json_reply_missing_keys_or_not_json_fails_clearly() -> None:
    spec = generate(output_keys=["title", "score"])

    missing = await LLMNode().execute(context(spec, llm=MockLLMProvider(['{"title": "only"}'])))
    not_json = await LLMNode().execute(context(spec, llm=MockLLMProvider(["Sure! Title: Q3"])))

    assert not missing.success
    assert "lacks output keys ['score']" in (missing.error or "")
    assert not not_json.success
    assert "is not JSON" in (not_json.error or "")
    assert "Sure! Title: Q3" in (not_json.error or "")


async def test_without_output_keys_the_text_is_the_result() -> None:
    result = await LLMNode().execute(
        context(generate(output_keys=[]), llm=MockLLMProvider(["text"]))
    )
    assert result.output == {"result": "text"}


async def test_no_llm_is_a_failure_with_an_llm_error() -> None:
    result = await LLMNode().execute(context(generate()))
    assert not result.success
    assert (result.error or "").startswith("LLMError: node 'gen' needs an LLM")


async def test_provider_exception_becomes_a_failure_and_keeps_its_type_name() -> None:
    def boom(call: LLMCall) -> str:
        raise TimeoutError("provider timed out")

    result = await LLMNode().execute(context(generate(), llm=MockLLMProvider(boom)))
    assert not result.success
    assert result.error == "TimeoutError: provider timed out"


# --- LLMNode: tool use ----------------------------------------------------------------------


def ask_tool(word: str, call_id: str) -> LLMResponse:
    call = ToolCall(id=call_id, name="lookup", arguments={"word": word})
    return LLMResponse(tool_calls=[call], input_tokens=10, output_tokens=5)


async def test_tool_loop_runs_tools_and_feeds_results_back_until_a_plain_reply() -> None:
    final = LLMResponse(content="cat=feline dog=canine", input_tokens=3, output_tokens=2)
    llm = MockLLMProvider([ask_tool("cat", "c1"), ask_tool("dog", "c2"), final])
    executed: list[ToolCall] = []

    def run_tool(call: ToolCall) -> dict[str, str]:
        executed.append(call)
        return {"meaning": {"cat": "feline", "dog": "canine"}[call.arguments["word"]]}

    spec = tool_user(system_prompt="Define words.")
    result = await LLMNode().execute(
        context(spec, {"q": "cat, dog"}, llm=llm, tools=[LOOKUP, DELETE], tool_executor=run_tool)
    )

    assert result.success
    assert result.output == {"answer": "cat=feline dog=canine"}
    assert [call.arguments["word"] for call in executed] == ["cat", "dog"]
    assert all(call.tools == [LOOKUP] for call in llm.calls)
    last = llm.calls[-1].messages
    assert [m.role for m in last] == [
        Role.USER,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
        Role.TOOL,
    ]
    assert last[2].tool_call_id == "c1"
    assert json.loads(last[2].content) == {"meaning": "feline"}
    assert result.tokens_used == 15 + 15 + 5


async def test_async_tool_executor_returning_tool_result_is_used_as_is() -> None:
    async def run_tool(call: ToolCall) -> ToolResult:
        return ToolResult(tool_call_id=call.id, content="from async tool")

    llm = MockLLMProvider([ask_tool("x", "c1"), "done"])
    result = await LLMNode().execute(
        context(tool_user(), llm=llm, tools=[LOOKUP], tool_executor=run_tool)
    )

    assert result.output == {"answer": "done"}
    assert llm.calls[1].messages[-1].content == "from async tool"


async def test_tool_errors_and_unlisted_tools_are_reported_to_the_model() -> None:
    def run_tool(call: ToolCall) -> str:
        raise ConnectionError("dictionary offline")

    forbidden = LLMResponse(tool_calls=[ToolCall(id="c2", name="delete_everything")])
    llm = MockLLMProvider([ask_tool("x", "c1"), forbidden, "gave up politely"])
    result = await LLMNode().execute(
        context(tool_user(), llm=llm, tools=[LOOKUP, DELETE], tool_executor=run_tool)
    )

    assert result.success
    tool_messages = [m for m in llm.calls[-1].messages if m.role == Role.TOOL]
    assert tool_messages[0].content == "ConnectionError: dictionary offline"
    assert tool_messages[1].content == "unknown tool 'delete_everything'; use one of: lookup"


async def test_tool_loop_fails_after_max_tool_iterations() -> None:
    llm = MockLLMProvider(default=ask_tool("again", "c"))
    spec = tool_user(max_tool_iterations=2)

    result = await LLMNode().execute(
        context(spec, llm=llm, tools=[LOOKUP], tool_executor=lambda call: "more")
    )

    assert not result.success
    assert "still asked for tools after 2 rounds" in (result.error or "")
    assert len(llm.calls) == 3
    assert result.tokens_used == 3 * 15


async def test_tool_use_without_tool_executor_or_with_unknown_tool_fails() -> None:
    no_executor = await LLMNode().execute(
        context(tool_user(), llm=MockLLMProvider(["x"]), tools=[LOOKUP])
    )
    unknown = await LLMNode().execute(
        context(tool_user(), llm=MockLLMProvider(["x"]), tool_executor=lambda call: "")
    )
    assert (no_executor.error or "").startswith("ToolExecutionError:")
    assert "no tool_executor" in (no_executor.error or "")
    assert "lists tools ['lookup'] that the executor was not given" in (unknown.error or "")


# --- RouterNode -----------------------------------------------------------------------------


async def test_function_router_returns_a_label_and_routes_to_its_target() -> None:
    def classify(text: str) -> str:
        return "invoice" if "total due" in text else "other"

    spec = router({"invoice": "extract", "other": "review"}, output_keys=["kind"])
    result = await RouterNode(classify).execute(context(spec, {"text": "total due: 5"}))

    assert result.success
    assert result.next_node == "extract"
    assert result.output == {"kind": "invoice"}
    assert result.route_reason == "route 'invoice': its function chose it"


async def test_function_router_with_an_unknown_label_fails() -> None:
    spec = router({"invoice": "extract", "default": "review"})
    result = await RouterNode(lambda: "poem").execute(context(spec))
    assert not result.success
    assert "got label 'poem' from its function" in (result.error or "")
    assert "['invoice', 'default']" in (result.error or "")


async def test_function_router_failure_and_node_result_are_passed_through() -> None:
    def broken() -> str:
        raise RuntimeError("classifier down")

    custom = NodeResult(success=True, next_node="review", route_reason="custom")
    spec = router({"x": "extract", "y": "review"})
    failed = await RouterNode(broken).execute(context(spec))
    passed = await RouterNode(lambda: custom).execute(context(spec))
    assert failed.error == "RuntimeError: classifier down"
    assert passed == custom


async def test_expression_routes_take_the_first_true_label_over_inputs_and_memory() -> None:
    spec = router({"amount > 10000": "escalate", "kind == 'invoice'": "pay", "default": "file"})

    big = await RouterNode().execute(context(spec, {"amount": 20000}, memory={"kind": "invoice"}))
    small = await RouterNode().execute(context(spec, {"amount": 5}, memory={"kind": "invoice"}))
    neither = await RouterNode().execute(context(spec, {"amount": 5}, memory={"kind": "memo"}))

    assert big.next_node == "escalate"
    assert small.next_node == "pay"
    assert neither.next_node == "file"
    assert neither.route_reason == "route 'default': no route expression was true"
    assert big.output == {}


async def test_inputs_win_over_memory_in_route_expressions() -> None:
    spec = router({"kind == 'invoice'": "pay", "default": "file"})
    result = await RouterNode().execute(context(spec, {"kind": "invoice"}, memory={"kind": "memo"}))
    assert result.next_node == "pay"


async def test_expression_router_without_match_or_default_fails() -> None:
    spec = router({"amount > 10": "big", "amount < 0": "negative"})
    result = await RouterNode().execute(context(spec, {"amount": 5}))
    assert not result.success
    assert "matched none of its routes" in (result.error or "")
    assert "no 'default' route" in (result.error or "")


async def test_llm_router_asks_for_one_label_and_matches_it_loosely() -> None:
    llm = MockLLMProvider(["  Invoice.\n"])
    spec = router(
        {"invoice": "extract", "contract": "summarise"}, system_prompt="You classify documents."
    )

    result = await RouterNode().execute(context(spec, {"text": "Total due"}, llm=llm))

    assert result.success
    assert result.next_node == "extract"
    assert result.route_reason == "route 'invoice': the LLM chose it"
    assert result.tokens_used > 0
    assert llm.calls[0].system == "You classify documents."
    assert "invoice, contract" in llm.calls[0].prompt


async def test_llm_router_with_an_unknown_label_fails() -> None:
    spec = router({"invoice": "extract", "contract": "summarise"}, system_prompt="Classify.")
    result = await RouterNode().execute(context(spec, llm=MockLLMProvider(["a poem"])))
    assert not result.success
    assert "got label 'a poem' from the LLM" in (result.error or "")
    assert result.tokens_used > 0


async def test_router_with_system_prompt_but_no_llm_falls_back_to_expressions() -> None:
    spec = router({"n > 1": "big", "default": "small"}, system_prompt="Classify.")
    result = await RouterNode().execute(context(spec, {"n": 2}))
    assert result.next_node == "big"
