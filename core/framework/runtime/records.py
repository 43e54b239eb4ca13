"""The records of the decision log: runs, decisions, outcomes and problems.

``run.json`` holds a run's header; ``decisions.jsonl`` holds one line per decision, outcome
or problem (see :mod:`framework.runtime.core`). Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter
from pydantic_core import PydanticSerializationError

from framework.schemas.clock import utc_now
from framework.schemas.run import RunStatus

__all__ = [
    "Decision",
    "DecisionLine",
    "LogLine",
    "Outcome",
    "OutcomeLine",
    "Problem",
    "ProblemLine",
    "RunHeader",
    "RunLog",
    "RunSummary",
    "to_loggable",
]


class Outcome(BaseModel):
    """What came of a decision."""

    success: bool
    result: Any = None
    summary: str = ""
    tokens_used: int = 0
    latency_ms: int = 0
    recorded_at: AwareDatetime = Field(default_factory=utc_now)


class Decision(BaseModel):
    """A choice made during a run: at which node, why, among what, and what was chosen."""

    id: str
    node_id: str
    intent: str
    options: list[Any] = Field(default_factory=list)
    chosen: Any = None
    reasoning: str = ""
    made_at: AwareDatetime = Field(default_factory=utc_now)
    outcome: Outcome | None = None


class Problem(BaseModel):
    """Something that went wrong or looked wrong during a run."""

    id: str
    severity: str
    description: str
    node_id: str | None = None
    reported_at: AwareDatetime = Field(default_factory=utc_now)


class RunSummary(BaseModel):
    """A run at a glance: what :meth:`Runtime.list_runs` returns for each run."""

    run_id: str
    goal_id: str
    goal_description: str = ""
    status: RunStatus = RunStatus.RUNNING
    started_at: AwareDatetime = Field(default_factory=utc_now)
    ended_at: AwareDatetime | None = None
    success: bool | None = None
    narrative: str = ""
    starts: int = Field(default=1, ge=1, description="how often the run was (re)started")


class RunHeader(RunSummary):
    """What ``run.json`` holds: the summary plus the run's input and output."""

    input_data: Any = None
    output_data: Any = None


class RunLog(RunHeader):
    """A whole run: its header, every decision (with its outcome) and every problem."""

    decisions: list[Decision] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return sum(d.outcome.tokens_used for d in self.decisions if d.outcome is not None)


class DecisionLine(BaseModel):
    """A ``decisions.jsonl`` line recording a decision."""

    kind: Literal["decision"] = "decision"
    decision: Decision


class OutcomeLine(BaseModel):
    """A ``decisions.jsonl`` line recording the outcome of an earlier decision."""

    kind: Literal["outcome"] = "outcome"
    decision_id: str
    outcome: Outcome


class ProblemLine(BaseModel):
    """A ``decisions.jsonl`` line recording a problem."""

    kind: Literal["problem"] = "problem"
    problem: Problem


LogLine = TypeAdapter(DecisionLine | OutcomeLine | ProblemLine)


def to_loggable(value: Any) -> Any:
    """``value`` as JSON-compatible data; what JSON cannot hold becomes its ``repr``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return to_loggable(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, BaseModel):
        try:
            return value.model_dump(mode="json")
        except PydanticSerializationError:
            return repr(value)
    if isinstance(value, dict):
        return {
            (key if isinstance(key, str) else repr(key)): to_loggable(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [to_loggable(item) for item in value]
    return repr(value)
