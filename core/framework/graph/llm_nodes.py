"""Built-in nodes: :class:`LLMNode` (generate text, or use tools) and :class:`RouterNode`.

Both report failures as ``NodeResult(success=False, error="<ExceptionType>: <message>")``,
the same shape as :class:`~framework.graph.node.FunctionNode`, so a node's ``retry_on``
can name exception types whatever kind of node it is.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from typing import Any

from framework._callables import call_sync_or_async
from framework.errors import ExpressionError, LLMCallError, LLMError, ToolExecutionError
from framework.graph.expressions import compile_expression
from framework.graph.node import FunctionNode, NodeContext, NodeResult, NodeSpec, NodeType
from framework.llm.provider import (
    LLMProvider,
    LLMResponse,
    Message,
    Role,
    ToolCall,
    ToolResult,
)
from framework.llm.usage import Spend

__all__ = ["LLMNode", "RouterNode", "parse_llm_output", "render_prompt"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FENCE = re.compile(r"^```[A-Za-z]*\s*\n(.*?)\n?```$", re.DOTALL)
_LABEL_NOISE = " \t\n\"'`."


@dataclasses.dataclass
class _Usage:
    """What a node attempt's model calls spent: every attempt of every call, failed ones
    (a retried 429, a call that failed for good) included."""

    spent: Spend = dataclasses.field(default_factory=Spend)

    def add(self, response: LLMResponse) -> LLMResponse:
        self.spent = self.spent + response.spend()
        return response

    def add_failed(self, exc: Exception) -> None:
        if isinstance(exc, LLMCallError):
            self.spent = self.spent + Spend.of(exc.attempts)


class LLMNode:
    """Carries out ``llm_generate`` and ``llm_tool_use`` nodes with the context's LLM.

    The prompt is ``spec.prompt_template`` with each ``{key}`` replaced by that input (a
    regex substitution, so no attribute or index access is possible; a placeholder naming a
    missing input is a failure), or without a template the node's description and its
    inputs as JSON. ``spec.system_prompt`` is the system prompt, ``spec.model`` the model.

    Output: no output keys -> ``{"result": text}``; one -> the text under it; several ->
    the reply parsed as a JSON object holding each of them.

    ``llm_tool_use`` offers the tools named in ``spec.tools`` and runs every tool call
    through the context's ``tool_executor`` (sync or async; it returns a ToolResult or a
    value sent back as text or JSON). A tool that raises, or a call to a tool the node does
    not list, is reported back to the model as an error result so it can recover. The loop
    ends with the first reply without tool calls; after ``spec.max_tool_iterations`` rounds
    of tool calls the node fails.
    """

    async def execute(self, ctx: NodeContext) -> NodeResult:
        started = time.perf_counter()
        usage = _Usage()
        try:
            llm = ctx.llm
            if llm is None:
                raise LLMError(
                    f"node '{ctx.node_id}' needs an LLM but none is configured; pass llm= to "
                    'GraphExecutor or AgentRunner, or, for an agent folder, add an "llm" '
                    "section to agent.json or give --provider/--model"
                )
            if ctx.node_spec.node_type is NodeType.LLM_TOOL_USE:
                text = await self._tool_loop(ctx, llm, usage)
            else:
                response = await llm.complete(
                    [Message(role=Role.USER, content=render_prompt(ctx.node_spec, ctx.inputs))],
                    system=ctx.node_spec.system_prompt,
                    model=ctx.node_spec.model,
                    json_mode=len(ctx.node_spec.output_keys) > 1,
                )
                text = usage.add(response).content
            output = parse_llm_output(ctx.node_spec, text)
        except Exception as exc:
            usage.add_failed(exc)
            return _failure(exc, started, usage.spent)
        return NodeResult(
            success=True,
            output=output,
            tokens_used=usage.spent.tokens,
            cost=usage.spent.cost,
            latency_ms=_ms(started),
        )

    async def _tool_loop(self, ctx: NodeContext, llm: LLMProvider, usage: _Usage) -> str:
        spec = ctx.node_spec
        available = {tool.name: tool for tool in ctx.tools}
        missing = [name for name in spec.tools if name not in available]
        if missing:
            raise ToolExecutionError(
                f"node '{spec.id}' lists tools {missing} that the executor was not given; "
                "pass them in tools=[...]"
            )
        executor = ctx.tool_executor
        if executor is None:
            raise ToolExecutionError(
                f"node '{spec.id}' uses tools but no tool_executor is configured; "
                "pass tool_executor= to GraphExecutor"
            )
        tools = [available[name] for name in spec.tools]
        messages = [Message(role=Role.USER, content=render_prompt(spec, ctx.inputs))]
        for round_number in range(spec.max_tool_iterations + 1):
            response = usage.add(
                await llm.complete_with_tools(
                    messages, tools, system=spec.system_prompt, model=spec.model
                )
            )
            if not response.tool_calls:
                return response.content
            if round_number == spec.max_tool_iterations:
                break
            messages.append(
                Message(
                    role=Role.ASSISTANT, content=response.content, tool_calls=response.tool_calls
                )
            )
            for call in response.tool_calls:
                result = await _run_tool(spec, executor, call)
                messages.append(
                    Message(role=Role.TOOL, content=result.content, tool_call_id=call.id)
                )
        raise LLMError(
            f"node '{spec.id}' still asked for tools after {spec.max_tool_iterations} rounds "
            "of tool calls; raise max_tool_iterations or make the task smaller"
        )


class RouterNode:
    """Chooses the next node among ``spec.routes`` (``{label: target node id}``).

    The label comes from, in this order of preference:

    1. ``func`` (the router's registered function), called like a FunctionNode's callable
       with the inputs as keyword arguments; it returns the label. A returned
       :class:`NodeResult` is handed back unchanged.
    2. the LLM, when the spec has a ``system_prompt`` and the context has an LLM; it is
       asked to answer with exactly one label.
    3. the labels themselves: each label other than ``default`` is a safe expression over
       the inputs and readable memory (inputs win on a name clash), tried in order; the
       first true one wins, else ``default``.

    Labels match exactly, else ignoring case, surrounding whitespace, quotes and a final
    period. An unknown label, or no true expression and no ``default``, is a failure. The
    result's ``next_node`` is the route's target, ``route_reason`` says which label and
    why, and the output is the label under the first output key (empty without keys).
    """

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        self.func = func

    async def execute(self, ctx: NodeContext) -> NodeResult:
        started = time.perf_counter()
        spec = ctx.node_spec
        usage = _Usage()
        try:
            if self.func is not None:
                chosen = await self._from_function(ctx, self.func)
                if isinstance(chosen, NodeResult):
                    return chosen
                label, why = _match_label(spec, chosen, "its function"), "its function chose it"
            elif spec.system_prompt and ctx.llm is not None:
                answer = await self._from_llm(ctx, ctx.llm, usage)
                label, why = _match_label(spec, answer, "the LLM"), "the LLM chose it"
            else:
                label, why = _from_expressions(spec, ctx)
        except Exception as exc:
            usage.add_failed(exc)
            return _failure(exc, started, usage.spent)
        return NodeResult(
            success=True,
            output={spec.output_keys[0]: label} if spec.output_keys else {},
            next_node=spec.routes[label],
            route_reason=f"route '{label}': {why}",
            tokens_used=usage.spent.tokens,
            cost=usage.spent.cost,
            latency_ms=_ms(started),
        )

    @staticmethod
    async def _from_function(ctx: NodeContext, func: Callable[..., Any]) -> Any:
        # FunctionNode binds the inputs to parameters; a one-key spec gives back the raw value.
        probe_spec = ctx.node_spec.model_copy(update={"output_keys": ["label"]})
        result = await FunctionNode(func).execute(dataclasses.replace(ctx, node_spec=probe_spec))
        if not result.success or "label" not in result.output:
            return result
        return result.output["label"]

    @staticmethod
    async def _from_llm(ctx: NodeContext, llm: LLMProvider, usage: _Usage) -> str:
        spec = ctx.node_spec
        prompt = (
            f"{spec.description}\nChoose the next step. Answer with exactly one of these "
            f"labels and nothing else: {', '.join(spec.routes)}.\n\nInputs:\n"
            f"{json.dumps(ctx.inputs, default=str, sort_keys=True, indent=2)}"
        )
        response = await llm.complete(
            [Message(role=Role.USER, content=prompt)], system=spec.system_prompt, model=spec.model
        )
        return usage.add(response).content


def render_prompt(spec: NodeSpec, inputs: dict[str, Any]) -> str:
    """The user prompt of an LLM node for ``inputs`` (see :class:`LLMNode`)."""
    if spec.prompt_template is None:
        listed = json.dumps(inputs, default=str, sort_keys=True, indent=2)
        return f"{spec.description}\n\nInputs:\n{listed}"
    missing = sorted({m for m in _PLACEHOLDER.findall(spec.prompt_template) if m not in inputs})
    if missing:
        raise ValueError(
            f"prompt_template of node '{spec.id}' refers to missing inputs {missing}; "
            f"available: {sorted(inputs)}"
        )
    return _PLACEHOLDER.sub(lambda match: _as_text(inputs[match.group(1)]), spec.prompt_template)


def parse_llm_output(spec: NodeSpec, text: str) -> dict[str, Any]:
    """The output of an LLM node whose reply is ``text`` (see :class:`LLMNode`)."""
    keys = spec.output_keys
    if not keys:
        return {"result": text}
    if len(keys) == 1:
        return {keys[0]: text}
    stripped = text.strip()
    if fenced := _FENCE.match(stripped):
        stripped = fenced.group(1).strip()
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise LLMError(
            f"node '{spec.id}' expected a JSON object with keys {keys}, but the reply is not "
            f"JSON ({exc.msg} at position {exc.pos}): {text[:200]!r}"
        ) from None
    if not isinstance(data, dict):
        raise LLMError(
            f"node '{spec.id}' expected a JSON object with keys {keys}, "
            f"got JSON {type(data).__name__}"
        )
    missing = [key for key in keys if key not in data]
    if missing:
        raise LLMError(f"node '{spec.id}' reply lacks output keys {missing}; it has {sorted(data)}")
    return {key: data[key] for key in keys}


async def _run_tool(spec: NodeSpec, executor: Callable[..., Any], call: ToolCall) -> ToolResult:
    if call.name not in spec.tools:
        allowed = ", ".join(spec.tools)
        return ToolResult(
            tool_call_id=call.id,
            content=f"unknown tool '{call.name}'; use one of: {allowed}",
            is_error=True,
        )
    try:
        value = await call_sync_or_async(executor, call)
    except Exception as exc:
        return ToolResult(
            tool_call_id=call.id, content=f"{type(exc).__name__}: {exc}", is_error=True
        )
    if isinstance(value, ToolResult):
        return value
    return ToolResult(tool_call_id=call.id, content=_as_text(value))


def _match_label(spec: NodeSpec, raw: Any, source: str) -> str:
    if not isinstance(raw, str):
        raise TypeError(
            f"router '{spec.id}' expected a route label from {source}, got {type(raw).__name__}"
        )
    if raw in spec.routes:
        return raw
    wanted = raw.strip(_LABEL_NOISE).lower()
    for label in spec.routes:
        if label.strip(_LABEL_NOISE).lower() == wanted:
            return label
    raise ValueError(
        f"router '{spec.id}' got label {raw!r} from {source}, which is not one of its routes "
        f"{list(spec.routes)}"
    )


def _from_expressions(spec: NodeSpec, ctx: NodeContext) -> tuple[str, str]:
    names = {**ctx.memory.read_all(), **ctx.inputs}
    for label in spec.routes:
        if label != "default" and _route_is_true(spec, label, names):
            return label, "its expression is true"
    if "default" in spec.routes:
        return "default", "no route expression was true"
    raise ValueError(
        f"router '{spec.id}' matched none of its routes {list(spec.routes)} and has no "
        "'default' route"
    )


def _route_is_true(spec: NodeSpec, label: str, names: dict[str, Any]) -> bool:
    try:
        return bool(compile_expression(label).evaluate(names))
    except ExpressionError as exc:
        raise ExpressionError(f"router '{spec.id}' route {label!r}: {exc}") from None


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _failure(exc: Exception, started: float, spent: Spend) -> NodeResult:
    return NodeResult(
        success=False,
        error=f"{type(exc).__name__}: {exc}",
        tokens_used=spent.tokens,
        cost=spent.cost,
        latency_ms=_ms(started),
    )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
