"""The decision log an executor reports a run to, and a null-safe adapter over it."""

from __future__ import annotations

from typing import Any, Protocol

from framework._callables import call_sync_or_async
from framework.schemas.run import RunStatus

__all__ = ["DecisionLog", "RunRecorder"]


class RunRecorder(Protocol):
    """What the executor calls on a runtime (``framework.runtime.core.Runtime`` fits).

    Methods may be sync or async; sync ones are called in a worker thread. ``start_run``
    gets ``run_id`` only when a resumed run continues under the id it already has.
    """

    def start_run(
        self,
        goal_id: str,
        goal_description: str = "",
        input_data: Any = None,
        run_id: str | None = None,
    ) -> str: ...

    def decide(
        self,
        run_id: str,
        *,
        node_id: str,
        intent: str,
        options: Any,
        chosen: str,
        reasoning: str = "",
    ) -> str: ...

    def record_outcome(
        self,
        run_id: str,
        decision_id: str,
        *,
        success: bool,
        result: Any = None,
        summary: str = "",
        tokens_used: int = 0,
        latency_ms: int = 0,
    ) -> None: ...

    def report_problem(
        self, run_id: str, *, severity: str, description: str, node_id: str | None = None
    ) -> str: ...

    def end_run(
        self,
        run_id: str,
        *,
        success: bool,
        narrative: str = "",
        output_data: Any = None,
        status: RunStatus | None = None,
    ) -> None: ...


class DecisionLog:
    """Forwards to a :class:`RunRecorder`, or does nothing when there is none."""

    def __init__(self, recorder: RunRecorder | None) -> None:
        self.recorder = recorder

    async def start_run(
        self,
        goal_id: str,
        goal_description: str,
        input_data: dict[str, Any],
        run_id: str | None = None,
    ) -> str | None:
        """The recorder's id for the run, or ``None`` without a recorder.

        ``run_id`` (a resumed run's id) is passed on only when given, so recorders that
        always choose the id themselves need not accept it.
        """
        reopen = {"run_id": run_id} if run_id else {}
        started = await self._call("start_run", goal_id, goal_description, input_data, **reopen)
        return None if started is None else str(started)

    async def decide(self, run_id: str, node_id: str, reasoning: str) -> Any:
        return await self._call(
            "decide",
            run_id,
            node_id=node_id,
            intent="execute node",
            options=[node_id],
            chosen=node_id,
            reasoning=reasoning,
        )

    async def record_outcome(self, run_id: str, decision_id: Any, **outcome: Any) -> None:
        await self._call("record_outcome", run_id, decision_id, **outcome)

    async def report_problem(
        self, run_id: str, node_id: str, description: str, *, severity: str
    ) -> None:
        await self._call(
            "report_problem", run_id, severity=severity, description=description, node_id=node_id
        )

    async def end_run(self, run_id: str, **summary: Any) -> None:
        await self._call("end_run", run_id, **summary)

    async def _call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        if self.recorder is None:
            return None
        return await call_sync_or_async(getattr(self.recorder, method), *args, **kwargs)
