"""Nodes: their specification, the context they run in, their result, and built-in kinds.

A node is described by a :class:`NodeSpec` (stored in ``agent.json``) and carried out by
something that follows :class:`NodeProtocol`. The executor builds a :class:`NodeContext`
for every attempt, awaits ``execute(ctx)`` and gets a :class:`NodeResult` back.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from framework._callables import call_sync_or_async
from framework.durable import EffectLedger, perform_effect, require_event_loop
from framework.graph.shared_memory import SharedMemory

if TYPE_CHECKING:
    from framework.graph.goal import Goal
    from framework.llm.provider import LLMProvider, Tool

__all__ = [
    "FunctionNode",
    "NodeContext",
    "NodeProtocol",
    "NodeResult",
    "NodeSpec",
    "NodeType",
    "SharedMemory",
]


class NodeType(StrEnum):
    """What kind of work a node does, and so what carries it out (a node given its own
    implementation with ``register_node`` runs that, whatever its type)."""

    FUNCTION = "function"
    """Calls a Python function with its inputs: the one registered under its ``function``
    name, or under the node's id when it names none."""
    LLM_GENERATE = "llm_generate"
    """Asks the LLM once, with ``prompt_template`` filled from its inputs; the reply is its
    output."""
    LLM_TOOL_USE = "llm_tool_use"
    """Asks the LLM with the tools named in ``tools`` and runs the tool calls it asks for,
    until it replies without one (at most ``max_tool_iterations`` rounds)."""
    ROUTER = "router"
    """Chooses the next node among its ``routes``: by its function, else by the LLM, else
    by its labels as expressions."""
    HUMAN_INPUT = "human_input"
    """Its output is a human's input (from the approval callback, or from the call's
    input); until there is one the run pauses there, and resumes at it."""
    MAP = "map"
    """Runs its function on each element of the list in its first input key, as a durable
    batch of the run (see :mod:`framework.graph.map_node`); its first output key gets the
    results in order and the failures."""


class NodeSpec(BaseModel):
    """What a node is and does; the part of a graph that is stored and fingerprinted."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str
    """Unique within the graph; edges, routes, checkpoints and registered functions name
    the node by it."""
    name: str
    """For people."""
    description: str
    """What the node does; an LLM node without a ``prompt_template``, and an LLM router,
    put it in their prompt."""
    node_type: NodeType = NodeType.FUNCTION
    """What kind of work it does."""
    input_keys: list[str] = Field(default_factory=list)
    """What it reads: each from the input its incoming edge mapped, else from shared
    memory. Empty: it may read all of memory."""
    output_keys: list[str] = Field(default_factory=list)
    """What it writes to memory (empty: whatever it outputs). With one key a function's
    return value, or an LLM's reply, is stored under it as it is; with several the function
    must return a dict, or the LLM reply with a JSON object, holding each of them."""
    system_prompt: str | None = None
    """The system prompt of an LLM node; a router with one (and no function) asks the LLM
    to choose its route when an LLM is configured."""
    prompt_template: str | None = None
    """An LLM node's prompt, each ``{key}`` replaced by that input (naming a missing input
    fails the attempt); ``None``: its description followed by its inputs as JSON."""
    tools: list[str] = Field(default_factory=list)
    """The names of the tools an ``llm_tool_use`` node offers the LLM (it needs at least
    one); each must be among the tools the executor was given."""
    model: str | None = None
    """The model an LLM node or LLM router asks; ``None``: the provider's default."""
    function: str | None = None
    """The name of the registered callable a function node or a router runs; it runs that
    one and no other (``None``: the one registered under the node's id)."""
    routes: dict[str, str] = Field(default_factory=dict)
    """A router's ``{label: target node id}``. The label is chosen by the router's function
    if it has one, else by the LLM when the node has a ``system_prompt`` and an LLM is
    configured, else each label other than ``default`` is a safe expression over inputs and
    memory, tried in order, with ``default`` as the fallback."""
    max_retries: int = Field(default=3, ge=0)
    """Further attempts after a failure: ``max_retries=2`` means at most three attempts."""
    retry_on: list[str] = Field(default_factory=list)
    """Exception type names or message fragments that make a failure worth retrying;
    empty: every failure is retried."""
    max_tool_iterations: int = Field(default=10, ge=1)
    """How many rounds of tool calls an ``llm_tool_use`` node allows; a model that still
    asks for tools after them fails the attempt."""

    @property
    def function_name(self) -> str:
        """The name its function is registered under: ``function``, else the node's id."""
        return self.function or self.id


class NodeResult(BaseModel):
    """The outcome of one node attempt.

    The result the executor keeps for a node sums tokens, cost and latency over all its
    attempts and carries the last attempt's error.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    success: bool
    """Whether the attempt succeeded. A node whose last attempt failed follows its
    ``on_failure`` edge, else fails the run."""
    output: dict[str, Any] = Field(default_factory=dict)
    """What the node produced; on success it is written to memory (only the declared
    ``output_keys``, if any)."""
    error: str | None = None
    """Why the attempt failed: ``"<ExceptionType>: <message>"`` from the built-in nodes,
    which is what ``retry_on`` matches."""
    next_node: str | None = None
    """The node to run next, chosen by the node itself (a router's route target); it wins
    over the edges."""
    route_reason: str | None = None
    """Why a router chose ``next_node``: which label, and what chose it."""
    tokens_used: int = 0
    """Tokens the attempt spent on LLM calls."""
    cost: float = 0.0
    """What the attempt cost, in US dollars: the built-in LLM nodes and routers report what
    their model calls cost, as far as it is known (see ``LLMResponse.spend``)."""
    latency_ms: int = 0
    """How long the attempt took; when a node reports 0 the executor measures it."""


@dataclass
class NodeContext:
    """Everything one node attempt may use.

    ``inputs`` holds the resolved values of the node's input keys; ``memory`` is a view
    scoped to the node's declared keys. Checkpoint requests made with
    :meth:`request_checkpoint` are written by the executor after the node succeeds.
    ``effects`` is the run's effect ledger when the run is checkpointed (see
    :meth:`effect`); ``visit`` counts this node's executions in the run, this one included.
    """

    run_id: str
    node_id: str
    node_spec: NodeSpec
    memory: SharedMemory
    inputs: dict[str, Any] = field(default_factory=dict)
    llm: LLMProvider | None = None
    tools: list[Tool] = field(default_factory=list)
    tool_executor: Callable[..., Any] | None = None
    goal: Goal | None = None
    attempt: int = 1
    checkpoint_requests: list[dict[str, Any]] = field(default_factory=list)
    effects: EffectLedger | None = None
    visit: int = 1

    def request_checkpoint(self, metadata: dict[str, Any] | None = None) -> None:
        """Ask for a checkpoint carrying ``metadata`` once this node has succeeded."""
        self.checkpoint_requests.append(dict(metadata or {}))

    def effect(
        self, key: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Coroutine[Any, Any, Any]:
        """Perform side effect ``key`` with ``fn(*args, **kwargs)`` (sync or async) once.

        ``fn`` also gets ``idempotency_key=`` (stable for this run, node and key) when it
        takes that parameter or ``**kwargs``. With a ledger (a checkpointed run) an effect
        completed before returns its recorded result without calling ``fn``; see
        :mod:`framework.durable._ledger` for in-doubt effects. Without one ``fn`` is called.
        Await it from an async node function; called from a synchronous one (which runs in
        a worker thread) it raises ``TypeError`` instead of silently doing nothing.
        """
        require_event_loop(self.node_id)
        return perform_effect(
            self.effects, self.run_id, self.node_id, key, fn, args, kwargs, visit=self.visit
        )


@runtime_checkable
class NodeProtocol(Protocol):
    """Anything that can carry out a node."""

    async def execute(self, ctx: NodeContext) -> NodeResult: ...


class FunctionNode:
    """Runs a Python callable, sync or async, with keyword arguments only.

    The callable receives the node's inputs whose names match its parameters (all of them
    if it takes ``**kwargs``), plus ``ctx`` if it has a parameter of that name. Sync
    callables run in a worker thread so they never block the event loop. Returning a
    :class:`NodeResult` hands it back unchanged; any other value becomes the output (see
    :class:`NodeSpec`); raising makes the attempt fail with the exception's message.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        if not callable(func):
            raise TypeError(f"FunctionNode needs a callable, got {type(func).__name__}")
        self.func = func
        self._signature = inspect.signature(func)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        started = time.perf_counter()
        try:
            value = await call_sync_or_async(self.func, **self._arguments(ctx))
            if isinstance(value, NodeResult):
                return value
            output = shape_output(ctx.node_spec, value)
        except Exception as exc:
            return NodeResult(
                success=False,
                error=f"{type(exc).__name__}: {exc}",
                latency_ms=_elapsed_ms(started),
            )
        return NodeResult(success=True, output=output, latency_ms=_elapsed_ms(started))

    def _arguments(self, ctx: NodeContext) -> dict[str, Any]:
        params = self._signature.parameters
        takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs = {k: v for k, v in ctx.inputs.items() if takes_all or k in params}
        if "ctx" in params:
            kwargs["ctx"] = ctx
        missing = [
            name
            for name, p in params.items()
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            and name not in kwargs
        ]
        if missing:
            raise TypeError(
                f"missing input {', '.join(map(repr, missing))} for function "
                f"{getattr(self.func, '__name__', self.func)!r}; available: {sorted(ctx.inputs)}"
            )
        return kwargs


def shape_output(spec: NodeSpec, value: Any) -> dict[str, Any]:
    """Turn a node's return value into its output dict according to ``spec.output_keys``."""
    keys = spec.output_keys
    if len(keys) == 1:
        return {keys[0]: value}
    if not keys:
        if value is None:
            return {}
        return dict(value) if isinstance(value, dict) else {"result": value}
    if not isinstance(value, dict):
        raise TypeError(f"must return a dict with keys {keys}, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise KeyError(f"returned dict lacks output keys {missing}")
    return {k: value[k] for k in keys}


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
