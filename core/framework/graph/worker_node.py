"""The worker: carries out one attempt of one plan step and reports what happened.

The worker never raises for a failing step: every problem (missing LLM, unknown function,
an exception inside the action, outputs that do not match the step) becomes a
:class:`StepExecutionResult` with ``success=False``, an ``error`` sentence and an
``error_type`` (the exception class name), which the judge then weighs.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from framework._callables import call_sync_or_async
from framework.errors import (
    LLMCallError,
    LLMError,
    PlanExecutionError,
    ToolExecutionError,
    UnsupportedActionError,
)
from framework.graph.executor import GraphExecutor
from framework.graph.goal import Goal
from framework.graph.plan import ActionType, PlanStep, parse_reference
from framework.graph.spec import GraphSpec
from framework.graph.step_context import StepContext
from framework.llm.provider import Message, Role, ToolCall, ToolResult
from framework.llm.usage import Spend

if TYPE_CHECKING:
    from framework.llm.provider import LLMProvider, Tool
    from framework.runtime.recorder import RunRecorder

__all__ = [
    "StepExecutionResult",
    "SubGraph",
    "WorkerNode",
    "is_transient_error",
    "parse_json_object",
    "render_template",
    "resolve_references",
]

# ConnectionError's built-in subclasses (reset, refused, broken pipe...) pass just as often.
_TRANSIENT_TYPES = frozenset(
    {"TimeoutError", "ConnectionError", *(cls.__name__ for cls in ConnectionError.__subclasses__())}
)
_TRANSIENT_FRAGMENTS = ("Timeout", "RateLimit")
_CODE_REFUSED = "code execution is not supported: no sandbox in this project"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

SubGraph = GraphSpec | tuple[GraphSpec, Goal]


@dataclass
class _Usage:
    """What one step attempt spent: its model calls (every attempt of each, a call that
    failed for good included) and its sub-graph's totals."""

    tokens: int = 0
    cost: float = 0.0

    def add(self, spent: Spend) -> None:
        self.tokens += spent.tokens
        self.cost += spent.cost


# How one action type is carried out: the step's outputs; what it spent goes to the usage.
_Handler = Callable[[PlanStep, Mapping[str, Any], _Usage], Awaitable[dict[str, Any]]]


def is_transient_error(error_type: str | None) -> bool:
    """Whether an error of this class is likely to pass on its own (worth retrying as is):
    TimeoutError, ConnectionError and its built-in subclasses, and any class whose name
    mentions Timeout or RateLimit."""
    if not error_type:
        return False
    return error_type in _TRANSIENT_TYPES or any(f in error_type for f in _TRANSIENT_FRAGMENTS)


class StepExecutionResult(BaseModel):
    """The outcome of one attempt at a step."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    success: bool
    """Whether the action ran and produced every expected output."""
    outputs: dict[str, Any] = Field(default_factory=dict)
    """What the step produced."""
    error: str | None = None
    """Why it failed, as ``"<ExceptionType>: <message>"``."""
    error_type: str | None = None
    """The exception's class name; timeouts, connection errors and rate limits count as
    transient."""
    tokens_used: int = 0
    """Tokens spent by the step's LLM call or sub-graph (a failed attempt's too)."""
    cost: float = 0.0
    """What they cost, in US dollars, as far as it is known."""
    latency_ms: int = 0
    """How long the attempt took."""

    @property
    def transient(self) -> bool:
        return not self.success and is_transient_error(self.error_type)


class WorkerNode:
    """Runs plan steps.

    - ``functions``: ``{name: callable}`` for FUNCTION steps (sync callables run in a worker
      thread) and for the function nodes of sub-graphs, which resolve them by node id or by
      their ``function`` name.
    - ``graphs``: ``{graph_id: GraphSpec}`` or ``{graph_id: (GraphSpec, Goal)}`` for
      SUB_GRAPH steps. Without a goal the graph executor derives one from the graph. The
      sub-run goes through a real ``GraphExecutor`` with this worker's runtime, LLM, tools
      and functions; the step's resolved inputs are its input data and its final memory
      is the step's output. A sub-run that fails or pauses fails the step.
    - ``tools`` (optional): when given, TOOL_USE steps may only call tools named in it.

    References (``"$step.key"``, see :mod:`framework.graph.plan`) in inputs and action
    arguments resolve against the ``context`` passed to :meth:`execute`.

    Arguments: a FUNCTION step is called with its resolved inputs updated by its resolved
    ``function_args`` (explicit action arguments win), plus a
    :class:`~framework.graph.step_context.StepContext` as ``ctx`` when the function
    declares a parameter of that name (the name is reserved: the context replaces an
    argument called ``ctx``); ``await ctx.effect(...)`` needs an ``async`` function. A
    TOOL_USE step is called likewise with ``tool_args``.

    Outputs: a returned dict is taken as it is, except that with exactly one expected
    output that the dict lacks, the whole value is stored under that key (as any non-dict
    value is); otherwise a non-dict value becomes ``{"result": value}`` (``None`` gives
    ``{}``). A sub-graph's final memory is shaped the same way. LLM and tool replies give
    ``{"result": text}``, plus the keys of the reply parsed as a JSON object when the step
    expects outputs. A step whose outputs lack an expected key fails.
    """

    def __init__(
        self,
        llm: LLMProvider | None = None,
        tools: list[Tool] | None = None,
        tool_executor: Callable[[ToolCall], Any] | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        graphs: Mapping[str, SubGraph] | None = None,
        runtime: RunRecorder | None = None,
    ) -> None:
        self.llm = llm
        self.tools = list(tools or [])
        self.tool_executor = tool_executor
        self.functions = dict(functions or {})
        self.graphs = dict(graphs or {})
        self.runtime = runtime

    async def execute(
        self,
        step: PlanStep,
        context: Mapping[str, Any],
        *,
        step_context: StepContext | None = None,
    ) -> StepExecutionResult:
        """Run one attempt of ``step``; references resolve against ``context``.

        ``step_context`` is what a FUNCTION step's ``ctx`` parameter receives: the
        executor passes the plan run's (with its effects ledger when the run is
        checkpointed); without one the step runs outside any run
        (:meth:`StepContext.outside_run`).
        """
        started = time.perf_counter()
        usage = _Usage()
        handlers: dict[ActionType, _Handler] = {
            ActionType.FUNCTION: functools.partial(self._run_function, step_context=step_context),
            ActionType.LLM_CALL: self._run_llm,
            ActionType.TOOL_USE: self._run_tool,
            ActionType.SUB_GRAPH: self._run_sub_graph,
            ActionType.CODE_EXECUTION: self._refuse_code,
        }
        try:
            outputs = await handlers[step.action.action_type](step, context, usage)
            missing = [key for key in step.expected_outputs if key not in outputs]
            if missing:
                raise PlanExecutionError(
                    f"step '{step.id}' did not produce expected outputs {missing}; "
                    f"it produced {sorted(outputs)}"
                )
        except Exception as exc:
            return StepExecutionResult(
                success=False,
                error=f"{type(exc).__name__}: {exc}",
                error_type=type(exc).__name__,
                tokens_used=usage.tokens,
                cost=usage.cost,
                latency_ms=_elapsed_ms(started),
            )
        return StepExecutionResult(
            success=True,
            outputs=outputs,
            tokens_used=usage.tokens,
            cost=usage.cost,
            latency_ms=_elapsed_ms(started),
        )

    async def _run_function(
        self,
        step: PlanStep,
        context: Mapping[str, Any],
        usage: _Usage,
        step_context: StepContext | None,
    ) -> dict[str, Any]:
        name = step.action.function_name
        func = self.functions.get(name or "")
        if func is None:
            raise PlanExecutionError(
                f"step '{step.id}' calls function {name!r}, which is not registered; "
                f"pass it in functions= (registered: {sorted(self.functions)})"
            )
        kwargs = _arguments(step, step.action.function_args, context)
        if _declares_context(func):
            kwargs["ctx"] = step_context or StepContext.outside_run(step.id, max(step.attempts, 1))
        value = await call_sync_or_async(func, **kwargs)
        return _shape(value, step.expected_outputs)

    async def _run_llm(
        self, step: PlanStep, context: Mapping[str, Any], usage: _Usage
    ) -> dict[str, Any]:
        if self.llm is None:
            raise LLMError(f"step '{step.id}' is an llm_call but no LLM is configured")
        inputs = resolve_references(step.inputs, context)
        template = step.action.prompt or ""
        prompt = render_template(template, inputs)
        # Inputs the prompt does not mention are still shown, so the model sees all it has.
        unused = {k: v for k, v in inputs.items() if "{" + k + "}" not in template}
        if unused:
            prompt += "\n\nInputs:\n" + json.dumps(unused, indent=2, default=str)
        try:
            response = await self.llm.complete(
                [Message(role=Role.USER, content=prompt)],
                system=step.action.system_prompt,
                json_mode=bool(step.expected_outputs),
            )
        except LLMCallError as exc:
            usage.add(Spend.of(exc.attempts))
            raise
        usage.add(response.spend())
        return _text_outputs(response.content, step.expected_outputs)

    async def _run_tool(
        self, step: PlanStep, context: Mapping[str, Any], usage: _Usage
    ) -> dict[str, Any]:
        name = step.action.tool_name or ""
        if self.tool_executor is None:
            raise ToolExecutionError(
                f"step '{step.id}' uses tool {name!r} but no tool_executor is configured"
            )
        if self.tools and name not in {tool.name for tool in self.tools}:
            raise ToolExecutionError(
                f"step '{step.id}' uses unknown tool {name!r}; "
                f"available: {sorted(tool.name for tool in self.tools)}"
            )
        call = ToolCall(
            id=f"{step.id}-{step.attempts}",
            name=name,
            arguments=_arguments(step, step.action.tool_args, context),
        )
        reply = await call_sync_or_async(self.tool_executor, call)
        if not isinstance(reply, ToolResult):
            reply = ToolResult(tool_call_id=call.id, content=_as_text(reply))
        if reply.is_error:
            raise ToolExecutionError(f"tool {name!r} reported an error: {reply.content}")
        return _text_outputs(reply.content, step.expected_outputs)

    async def _run_sub_graph(
        self, step: PlanStep, context: Mapping[str, Any], usage: _Usage
    ) -> dict[str, Any]:
        entry = self.graphs.get(step.action.graph_id or "")
        if entry is None:
            raise PlanExecutionError(
                f"step '{step.id}' runs graph {step.action.graph_id!r}, which is not "
                f"registered; pass it in graphs= (registered: {sorted(self.graphs)})"
            )
        graph, goal = entry if isinstance(entry, tuple) else (entry, None)
        executor = GraphExecutor(self.runtime, self.llm, self.tools, self.tool_executor)
        for name, func in self.functions.items():
            executor.register_function(name, func)
        inputs = resolve_references(step.inputs, context)
        result = await executor.execute(graph, goal, inputs)
        usage.tokens += result.total_tokens
        usage.cost += result.total_cost
        if result.paused_at is not None:
            raise PlanExecutionError(
                f"sub-graph '{graph.id}' paused at node '{result.paused_at}'; a plan step "
                "cannot pause, so use a graph without pause or human_input nodes"
            )
        if not result.success:
            raise PlanExecutionError(f"sub-graph '{graph.id}' failed: {result.error}")
        return _shape(dict(result.output), step.expected_outputs)

    async def _refuse_code(
        self, step: PlanStep, context: Mapping[str, Any], usage: _Usage
    ) -> dict[str, Any]:
        raise UnsupportedActionError(_CODE_REFUSED)


def resolve_references(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every reference (also inside lists and dicts) replaced by its value
    from ``context``; raise PlanExecutionError naming a reference that cannot be resolved."""
    if isinstance(value, dict):
        return {key: resolve_references(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_references(item, context) for item in value]
    if isinstance(value, str) and value.startswith("$$"):
        return value[1:]
    reference = parse_reference(value)
    if reference is None:
        return value
    head, path = reference
    if head not in context:
        raise PlanExecutionError(
            f"reference {value!r}: no completed step or context key named '{head}'"
        )
    current = context[head]
    for part in path:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise PlanExecutionError(f"reference {value!r}: '{part}' not found in '{head}'")
    return current


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders from ``values``; unknown ones stay as written.

    A regex substitution rather than ``str.format``, which would let a template written by
    an LLM reach attributes of the values (``{x.__class__}``).
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        return value if isinstance(value, str) else json.dumps(value, default=str)

    return _PLACEHOLDER.sub(fill, template)


def _arguments(
    step: PlanStep, action_args: dict[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        **resolve_references(step.inputs, context),
        **resolve_references(action_args, context),
    }


def _declares_context(func: Callable[..., Any]) -> bool:
    try:
        return "ctx" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False  # no introspectable signature (some builtins): it cannot ask for one


def _shape(value: Any, expected: list[str]) -> dict[str, Any]:
    if isinstance(value, dict) and (len(expected) != 1 or expected[0] in value):
        return dict(value)
    if len(expected) == 1:
        return {expected[0]: value}
    return {} if value is None else {"result": value}


def _text_outputs(text: str, expected: list[str]) -> dict[str, Any]:
    outputs: dict[str, Any] = {"result": text}
    if expected:
        parsed = parse_json_object(text)
        if parsed is None:
            raise PlanExecutionError(
                f"reply is not a JSON object, but outputs {expected} were expected from it"
            )
        outputs.update(parsed)
    return outputs


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's reply, or None. Models often wrap JSON in a Markdown
    fence or a sentence, so the text from the first ``{`` to the last ``}`` is parsed."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        parsed = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
