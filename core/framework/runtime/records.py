"""The records of the decision log: runs, decisions, outcomes and problems.

``run.json`` holds a run's header; ``decisions.jsonl`` holds one line per decision, outcome
or problem (see :mod:`framework.runtime.core`). Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
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

    model_config = ConfigDict(use_attribute_docstrings=True)

    success: bool
    """Whether it worked out: the node or step attempt it chose succeeded."""
    result: Any = None
    """What it produced, as JSON-compatible data (what JSON cannot hold is its ``repr``)."""
    summary: str = ""
    """What happened, in a sentence: the error, or where the run went next."""
    tokens_used: int = 0
    """Tokens spent carrying it out."""
    latency_ms: int = 0
    """How long carrying it out took."""
    recorded_at: AwareDatetime = Field(default_factory=utc_now)
    """When it was recorded (UTC)."""


class Decision(BaseModel):
    """A choice made during a run: at which node, why, among what, and what was chosen."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """``d1``, ``d2``, ... within the run."""
    node_id: str
    """The node (or plan step) it was made at."""
    intent: str
    """What the choice was about, in words."""
    options: list[Any] = Field(default_factory=list)
    """What could have been chosen (JSON-compatible)."""
    chosen: Any = None
    """What was chosen (JSON-compatible)."""
    reasoning: str = ""
    """Why it was chosen."""
    made_at: AwareDatetime = Field(default_factory=utc_now)
    """When it was made (UTC)."""
    outcome: Outcome | None = None
    """What came of it, once recorded (a later outcome replaces an earlier one)."""


class Problem(BaseModel):
    """Something that went wrong or looked wrong during a run."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """``p1``, ``p2``, ... within the run."""
    severity: str
    """How bad it is, in free text such as ``warning``, ``error`` or ``critical``."""
    description: str
    """What went wrong, in words."""
    node_id: str | None = None
    """The node (or plan step) it happened at, if any."""
    reported_at: AwareDatetime = Field(default_factory=utc_now)
    """When it was reported (UTC)."""


class RunSummary(BaseModel):
    """A run at a glance: what :meth:`Runtime.list_runs` returns for each run."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    run_id: str
    """The run's id (a stored run's, when it has a stored record)."""
    goal_id: str
    """The goal the run serves."""
    goal_description: str = ""
    """What the goal asks for."""
    status: RunStatus = RunStatus.RUNNING
    """Where the run stands: ``running`` from each start until that call ends."""
    started_at: AwareDatetime = Field(default_factory=utc_now)
    """When it was first started (UTC)."""
    ended_at: AwareDatetime | None = None
    """When its latest call ended (UTC); ``None`` while it runs."""
    success: bool | None = None
    """Whether its latest call succeeded; ``None`` while it runs."""
    narrative: str = ""
    """How its latest call ended, in a sentence."""
    starts: int = Field(default=1, ge=1)
    """How often the run was (re)started."""


class RunHeader(RunSummary):
    """What ``run.json`` holds: the summary plus the run's input and output."""

    input_data: Any = None
    """The input it was first started with (JSON-compatible)."""
    output_data: Any = None
    """What its latest call produced (JSON-compatible)."""


class RunLog(RunHeader):
    """A whole run: its header, every decision (with its outcome) and every problem."""

    decisions: list[Decision] = Field(default_factory=list)
    """Every decision, in the order they were made, each with its latest outcome."""
    problems: list[Problem] = Field(default_factory=list)
    """Every problem, in the order they were reported."""

    @property
    def total_tokens(self) -> int:
        return sum(d.outcome.tokens_used for d in self.decisions if d.outcome is not None)


class DecisionLine(BaseModel):
    """A ``decisions.jsonl`` line recording a decision."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    kind: Literal["decision"] = "decision"
    """Tells this kind of line from the others."""
    decision: Decision
    """The decision, as made (its outcome follows on an outcome line)."""


class OutcomeLine(BaseModel):
    """A ``decisions.jsonl`` line recording the outcome of an earlier decision."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    kind: Literal["outcome"] = "outcome"
    """Tells this kind of line from the others."""
    decision_id: str
    """The decision it is the outcome of."""
    outcome: Outcome
    """What came of it."""


class ProblemLine(BaseModel):
    """A ``decisions.jsonl`` line recording a problem."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    kind: Literal["problem"] = "problem"
    """Tells this kind of line from the others."""
    problem: Problem
    """The problem."""


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
