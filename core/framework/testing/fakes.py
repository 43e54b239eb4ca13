"""Fakes of the framework's protocols, one of each, for tests here and in user code.

:class:`FakeRecorder` is a :class:`~framework.runtime.recorder.RunRecorder` that remembers
every call; :class:`DiskFull` makes a real backend refuse saves the way a full disk would.
"""

from __future__ import annotations

from typing import Any

from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend

__all__ = ["DiskFull", "FakeRecorder"]


class FakeRecorder:
    """Records every call as ``(method, arguments by name)`` and hands out predictable ids.

    Run ids are ``run-1``, ``run-2``… (or the ``run_id`` passed to ``start_run``), decision
    ids ``decision-1``…, problem ids ``problem-1``….
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def methods(self) -> list[str]:
        """The names of the methods called, in order."""
        return [name for name, _ in self.calls]

    def of(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call to ``method``, in order."""
        return [arguments for name, arguments in self.calls if name == method]

    def _record(self, method: str, **arguments: Any) -> int:
        self.calls.append((method, arguments))
        return len(self.of(method))

    def start_run(
        self,
        goal_id: str,
        goal_description: str = "",
        input_data: Any = None,
        run_id: str | None = None,
    ) -> str:
        n = self._record(
            "start_run",
            goal_id=goal_id,
            goal_description=goal_description,
            input_data=input_data,
            run_id=run_id,
        )
        return run_id or f"run-{n}"

    def decide(
        self,
        run_id: str,
        *,
        node_id: str,
        intent: str,
        options: Any,
        chosen: str,
        reasoning: str = "",
    ) -> str:
        n = self._record(
            "decide",
            run_id=run_id,
            node_id=node_id,
            intent=intent,
            options=options,
            chosen=chosen,
            reasoning=reasoning,
        )
        return f"decision-{n}"

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
    ) -> None:
        self._record(
            "record_outcome",
            run_id=run_id,
            decision_id=decision_id,
            success=success,
            result=result,
            summary=summary,
            tokens_used=tokens_used,
            latency_ms=latency_ms,
        )

    def report_problem(
        self, run_id: str, *, severity: str, description: str, node_id: str | None = None
    ) -> str:
        n = self._record(
            "report_problem",
            run_id=run_id,
            severity=severity,
            description=description,
            node_id=node_id,
        )
        return f"problem-{n}"

    def end_run(
        self,
        run_id: str,
        *,
        success: bool,
        narrative: str = "",
        output_data: Any = None,
        status: RunStatus | None = None,
    ) -> None:
        self._record(
            "end_run",
            run_id=run_id,
            success=success,
            narrative=narrative,
            output_data=output_data,
            status=status,
        )


class DiskFull:
    """Makes ``storage`` refuse its next ``failures`` saves with ``OSError(ENOSPC)``.

    It wraps the backend's async save, the one the checkpoint manager and the executors
    await, so everything else stays the real backend. Set ``failures`` again for more.
    """

    def __init__(self, storage: StorageBackend, failures: int = 1) -> None:
        self.failures = failures
        self._save = storage.asave_checkpoint
        storage.asave_checkpoint = self._refuse  # type: ignore[method-assign]

    async def _refuse(self, cp: Checkpoint, **options: Any) -> CheckpointMetadata:
        if self.failures:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        return await self._save(cp, **options)
