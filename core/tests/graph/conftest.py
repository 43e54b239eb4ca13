"""Shared helpers for graph tests: a recording fake of the runtime's decision log."""

from __future__ import annotations

from typing import Any

import pytest


class FakeRecorder:
    """Records every runtime call as ``(method, args, kwargs)``; hands out predictable ids."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def methods(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def of(self, method: str) -> list[dict[str, Any]]:
        return [kwargs for name, _, kwargs in self.calls if name == method]

    def start_run(
        self,
        goal_id: str,
        goal_description: str = "",
        input_data: Any = None,
        run_id: str | None = None,
    ) -> str:
        self.calls.append(
            ("start_run", (goal_id, goal_description, input_data), {"run_id": run_id})
        )
        return run_id or "run-1"

    def decide(self, run_id: str, **kwargs: Any) -> str:
        self.calls.append(("decide", (run_id,), kwargs))
        return f"decision-{len(self.of('decide'))}"

    def record_outcome(self, run_id: str, decision_id: str, **kwargs: Any) -> None:
        self.calls.append(("record_outcome", (run_id, decision_id), kwargs))

    def report_problem(self, run_id: str, **kwargs: Any) -> None:
        self.calls.append(("report_problem", (run_id,), kwargs))

    def end_run(self, run_id: str, **kwargs: Any) -> None:
        self.calls.append(("end_run", (run_id,), kwargs))


@pytest.fixture
def recorder() -> FakeRecorder:
    return FakeRecorder()
