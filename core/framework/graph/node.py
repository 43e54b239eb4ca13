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
    FUNCTION = "function"
    LLM_GENERATE = "llm_generate"
    LLM_TOOL_USE = "llm_tool_use"
    ROUTER = "router"
    HUMAN_INPUT = "human_input"


class NodeSpec(BaseModel):
    """What a node is and does; the part of a graph that is stored and fingerprinted.

    - ``input_keys``: what the node reads (from the input its incoming edge mapped, else
      from shared memory). Empty means the node may read all of memory.
    - ``output_keys``: what it writes to memory. A function node with one output key has
      its return value stored under that key as it is; with several, it must return a dict
      holding each of them.
    - ``function``: the name of the callable (function nodes, and routers that decide with
      a function).
    - ``routes``: a router's ``{label: target node id}``. The label is chosen by the
      router's function if it has one, else by the LLM when the node has a
      ``system_prompt`` and an LLM is configured, else each label other than ``default``
      is a safe expression over inputs and memory, tried in order, with ``default`` as the
      fallback.
    - ``max_retries``: further attempts after a failure (so ``max_retries=2`` means at most
      three attempts). ``retry_on``: exception type names or message fragments that are
      worth retrying; empty means every failure is retried.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    description: str
    node_type: NodeType = NodeType.FUNCTION
    input_keys: list[str] = Field(default_factory=list)
    output_keys: list[str] = Field(default_factory=list)
    system_prompt: str | None = None
    prompt_template: str | None = None
    tools: list[str] = Field(default_factory=list)
    model: str | None = None
    function: str | None = None
    routes: dict[str, str] = Field(default_factory=dict)
    max_retries: int = Field(default=3, ge=0)
    retry_on: list[str] = Field(default_factory=list)
    max_tool_iterations: int = Field(default=10, ge=1)


class NodeResult(BaseModel):
    """The outcome of one node attempt."""

    success: bool
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    next_node: str | None = None
    route_reason: str | None = None
    tokens_used: int = 0
    cost: float = 0.0
    latency_ms: int = 0


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
