"""Plans: ordered, dependency-linked steps that the flexible executor carries out.

A :class:`Plan` is data (typically written by a planner LLM as JSON): steps, each with one
:class:`ActionSpec`, the steps it depends on, and inputs. An input (or a function / tool
argument) whose value is a string ``"$step_id"`` or ``"$step_id.key"`` (``.key`` may
repeat, and a number indexes a list) is a reference: it is replaced by that step's outputs,
or one value of them, before the step runs. A reference may also name a key of the run
context (``"$topic"``). Strings that start with ``"$$"`` are literals with one ``$``
removed, so ``"$$5"`` is passed as ``"$5"``.

The models here are what the executor stores; the judge's and the approver's answers are
in :mod:`.review`, a run's state and result in :mod:`.plan_run`, and the behaviour in
:mod:`.worker_node`, :mod:`.judge` and :mod:`.flexible_executor`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from framework.errors import GraphValidationError
from framework.storage import codec

__all__ = ["ActionSpec", "ActionType", "Plan", "PlanStep", "StepStatus", "parse_reference"]

_STEP_ID = r"[A-Za-z0-9_-]+"
_REFERENCE = re.compile(rf"^\$({_STEP_ID})((?:\.[^.]+)*)$")


class ActionType(StrEnum):
    """What kind of work a plan step does, and so which fields of its action it needs."""

    LLM_CALL = "llm_call"
    """Asks the worker's LLM: ``prompt`` with ``{input}`` placeholders filled from the
    step's inputs, and ``system_prompt``."""
    TOOL_USE = "tool_use"
    """Calls tool ``tool_name`` through the tool executor with the step's inputs updated by
    ``tool_args``; a tool that reports an error fails the attempt."""
    SUB_GRAPH = "sub_graph"
    """Runs the registered graph ``graph_id`` to completion with the step's inputs as its
    input; its final memory is the step's output, and a pause fails the attempt."""
    FUNCTION = "function"
    """Calls the registered function ``function_name`` with the step's inputs updated by
    ``function_args``."""
    CODE_EXECUTION = "code_execution"
    """Runs ``code``: always refused, since this project has no sandbox to run it in."""


class StepStatus(StrEnum):
    """Where a plan step stands; a plan handed back to ``execute_plan``, or resumed from a
    checkpoint, keeps completed, rejected and skipped steps and runs the others afresh."""

    PENDING = "pending"
    """Not run yet; it starts once every step it depends on completed (and it was approved,
    if it needs approval)."""
    AWAITING_APPROVAL = "awaiting_approval"
    """Needs an approval that no callback gave; the next call asks for it again."""
    IN_PROGRESS = "in_progress"
    """Running now; a run that stopped with it (a crash mid-step) runs it again, its
    earlier attempts still counted."""
    COMPLETED = "completed"
    """Accepted by the judge: its outputs are its ``result`` and later steps may reference
    them. It never runs again."""
    FAILED = "failed"
    """Its last attempt was not accepted (retries spent, or the judge asked for a new plan
    or a human); the next call runs it again with its attempts reset."""
    SKIPPED = "skipped"
    """Never runs, because a step it depends on (directly or not) was rejected."""
    REJECTED = "rejected"
    """The approver rejected it: it never runs, its ``error`` says why, and every step
    that depends on it is skipped."""


_FINISHED = frozenset({StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.REJECTED})
_REQUIRED_FIELD = {
    ActionType.LLM_CALL: "prompt",
    ActionType.TOOL_USE: "tool_name",
    ActionType.SUB_GRAPH: "graph_id",
    ActionType.FUNCTION: "function_name",
}


class ActionSpec(BaseModel):
    """What a step does; which fields matter depends on ``action_type``.

    A plan whose action lacks the field its type needs (``prompt``, ``tool_name``,
    ``graph_id`` or ``function_name``) is invalid.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    action_type: ActionType
    """What kind of work the step does."""
    prompt: str | None = None
    """For ``llm_call``: the prompt, with ``{input}`` placeholders filled from the step's
    inputs (unknown ones stay as written); inputs it does not mention are appended as
    JSON."""
    system_prompt: str | None = None
    """For ``llm_call``: the system prompt."""
    tool_name: str | None = None
    """For ``tool_use``: the tool to call."""
    tool_args: dict[str, Any] = Field(default_factory=dict)
    """For ``tool_use``: arguments added to the step's inputs (they win on a clash); they
    may hold references."""
    graph_id: str | None = None
    """For ``sub_graph``: the id the graph to run is registered under."""
    function_name: str | None = None
    """For ``function``: the name the function to call is registered under."""
    function_args: dict[str, Any] = Field(default_factory=dict)
    """For ``function``: arguments added to the step's inputs (they win on a clash); they
    may hold references."""
    code: str | None = None
    """For ``code_execution``: the code, which is never run."""


class PlanStep(BaseModel):
    """One step of a plan, with its progress (``status``, ``result``, ``error``,
    ``attempts``), which the executor updates in its copy of the plan."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str = Field(pattern=rf"^{_STEP_ID}$")
    """Unique within the plan (letters, digits, ``_`` and ``-``); references and
    dependencies name the step by it, and its outputs sit under it in the run context."""
    description: str = ""
    """What the step does, for people, the approver and the judge's LLM."""
    action: ActionSpec
    """What the step does."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """The step's inputs; values may be references (``"$step.key"``) to earlier steps'
    outputs or to the run context."""
    expected_outputs: list[str] = Field(default_factory=list)
    """Keys its outputs must hold, else the attempt fails; an LLM or tool reply is then
    parsed as a JSON object."""
    dependencies: list[str] = Field(default_factory=list)
    """Steps that must complete before this one starts; every step it references must be
    among them, directly or through theirs."""
    requires_approval: bool = False
    """Whether the approval callback is asked before the step runs."""
    approval_message: str | None = None
    """What the approver is asked; ``None``: a message naming the step and its
    description."""
    status: StepStatus = StepStatus.PENDING
    """Where the step stands."""
    result: dict[str, Any] | None = None
    """The step's outputs, once it completed."""
    error: str | None = None
    """Why its last attempt failed, or why it was rejected."""
    attempts: int = Field(default=0, ge=0)
    """How many times it has run (reset when a failed step runs afresh)."""
    max_retries: int = Field(default=3, ge=0)
    """Further attempts after the first (as ``NodeSpec.max_retries``), so the step runs at
    most ``max_retries + 1`` times; a retry beyond them becomes a new plan."""

    def is_ready(self, completed_ids: set[str] | frozenset[str]) -> bool:
        """Pending, and every dependency is among ``completed_ids``."""
        return self.status is StepStatus.PENDING and all(
            dep in completed_ids for dep in self.dependencies
        )

    def references(self) -> list[tuple[str, str]]:
        """``(where, head)`` for every reference in inputs and action arguments."""
        sources = {
            "input": self.inputs,
            "function argument": self.action.function_args,
            "tool argument": self.action.tool_args,
        }
        found: list[tuple[str, str]] = []
        for kind, values in sources.items():
            for name, value in values.items():
                found.extend((f"{kind} '{name}'", head) for head in _reference_heads(value))
        return found


class Plan(BaseModel):
    """A plan for reaching a goal."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str
    """Names the plan: its runs record it as their graph id."""
    goal_id: str
    """The goal it serves."""
    description: str = ""
    """What the plan does, for people."""
    steps: list[PlanStep] = Field(default_factory=list)
    """Its steps; ready steps start in this order."""
    context: dict[str, Any] = Field(default_factory=dict)
    """Values every step may reference by key (``"$topic"``); no key may be named like a
    step."""
    revision: int = Field(default=1, ge=1)
    """Which version of the plan this is (raise it when revising a plan); part of the
    fingerprint, and recorded with each checkpoint."""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    """When it was written (UTC; a naive time is taken as UTC)."""

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # A naive timestamp in a plan written by hand or by an LLM is taken as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> Plan:
        """Parse and validate a plan; raise GraphValidationError(subject="plan") listing
        every problem (bad JSON, bad fields, duplicate ids, missing or cyclic dependencies,
        references to steps that are not dependencies)."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise GraphValidationError([f"not valid JSON: {exc}"], subject="plan") from None
        try:
            plan = cls.model_validate(data)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(map(str, err['loc'])) or 'plan'}: {err['msg']}" for err in exc.errors()
            ]
            raise GraphValidationError(problems, subject="plan") from None
        if problems := plan.validate():
            raise GraphValidationError(problems, subject="plan")
        return plan

    def validate(self) -> list[str]:  # type: ignore[override]
        """Every structural problem of this plan, as sentences; empty when it is valid."""
        problems: list[str] = []
        ids = [step.id for step in self.steps]
        known = set(ids)
        for step_id in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"duplicate step id '{step_id}' ({ids.count(step_id)} times)")
        for key in sorted(known & set(self.context)):
            problems.append(f"context key '{key}' has the same name as a step")
        for step in self.steps:
            for dep in step.dependencies:
                if dep not in known:
                    problems.append(f"step '{step.id}' depends on missing step '{dep}'")
            field = _REQUIRED_FIELD.get(step.action.action_type)
            if field and not getattr(step.action, field):
                problems.append(
                    f"step '{step.id}' is a {step.action.action_type} action without {field}"
                )
        cyclic = self._cyclic_steps()
        if cyclic:
            problems.append(f"dependency cycle among steps: {', '.join(cyclic)}")
            return problems
        for step in self.steps:
            ancestors = self._ancestors(step.id)
            for where, head in step.references():
                if head in known and head not in ancestors:
                    problems.append(
                        f"step '{step.id}' {where} references step '{head}' without depending "
                        f"on it; add '{head}' to its dependencies"
                    )
        return problems

    def get_step(self, step_id: str) -> PlanStep | None:
        return next((step for step in self.steps if step.id == step_id), None)

    def get_completed_steps(self) -> list[PlanStep]:
        return [step for step in self.steps if step.status is StepStatus.COMPLETED]

    def get_ready_steps(self) -> list[PlanStep]:
        """Pending steps whose dependencies all completed, in plan order."""
        done = {step.id for step in self.get_completed_steps()}
        return [step for step in self.steps if step.is_ready(done)]

    def dependents(self, step_id: str) -> list[PlanStep]:
        """Every step that depends on ``step_id`` directly or transitively, in plan order."""
        found = {step_id}
        changed = True
        while changed:
            changed = False
            for step in self.steps:
                if step.id not in found and found.intersection(step.dependencies):
                    found.add(step.id)
                    changed = True
        return [step for step in self.steps if step.id in found and step.id != step_id]

    def is_complete(self) -> bool:
        """True when no step is left to run: each one completed, was skipped or rejected."""
        return all(step.status in _FINISHED for step in self.steps)

    def fingerprint(self) -> str:
        """``sha256:`` of what this plan does, without its progress (statuses, results).

        A plan run records it, so continuing the run with another plan is refused unless
        forced. Covered: id, goal, revision, context and every step's id, action, inputs,
        expected outputs, dependencies, approval requirement and retry limit; a plan handed
        back from an earlier result therefore has the fingerprint of the plan it started as.
        """
        steps = [
            {
                "id": step.id,
                "action": step.action.model_dump(mode="json"),
                "inputs": step.inputs,
                "expected_outputs": step.expected_outputs,
                "dependencies": step.dependencies,
                "requires_approval": step.requires_approval,
                "max_retries": step.max_retries,
            }
            for step in self.steps
        ]
        tree = {
            "id": self.id,
            "goal_id": self.goal_id,
            "revision": self.revision,
            "context": self.context,
            "steps": steps,
        }
        return "sha256:" + hashlib.sha256(codec.dumps(tree, "fingerprint")).hexdigest()

    def to_feedback_context(self) -> dict[str, Any]:
        """What a planner needs to revise this plan: what was done, what failed, what is
        left. JSON-compatible."""

        def with_status(*statuses: StepStatus) -> list[PlanStep]:
            return [step for step in self.steps if step.status in statuses]

        return {
            "plan_id": self.id,
            "goal_id": self.goal_id,
            "revision": self.revision,
            "completed": {step.id: step.result for step in with_status(StepStatus.COMPLETED)},
            "failed": {
                step.id: {"error": step.error, "attempts": step.attempts}
                for step in with_status(StepStatus.FAILED)
            },
            "rejected": {step.id: step.error for step in with_status(StepStatus.REJECTED)},
            "skipped": [step.id for step in with_status(StepStatus.SKIPPED)],
            "remaining": [
                step.id
                for step in with_status(
                    StepStatus.PENDING, StepStatus.AWAITING_APPROVAL, StepStatus.IN_PROGRESS
                )
            ],
        }

    def _ancestors(self, step_id: str) -> set[str]:
        by_id = {step.id: step for step in self.steps}
        seen: set[str] = set()
        stack = list(by_id[step_id].dependencies)
        while stack:
            dep = stack.pop()
            if dep in seen or dep not in by_id:
                continue
            seen.add(dep)
            stack.extend(by_id[dep].dependencies)
        return seen

    def _cyclic_steps(self) -> list[str]:
        """Steps on or behind a dependency cycle (what a topological sort cannot order)."""
        known = {step.id for step in self.steps}
        waiting = {step.id: {d for d in step.dependencies if d in known} for step in self.steps}
        progress = True
        while progress:
            free = [step_id for step_id, deps in waiting.items() if not deps]
            progress = bool(free)
            for step_id in free:
                del waiting[step_id]
            for deps in waiting.values():
                deps.difference_update(free)
        return sorted(waiting)


def parse_reference(value: Any) -> tuple[str, list[str]] | None:
    """``("step", ["key", ...])`` when ``value`` is a reference string, else None."""
    if not isinstance(value, str) or value.startswith("$$"):
        return None
    match = _REFERENCE.match(value)
    if match is None:
        return None
    path = match.group(2)
    return match.group(1), path[1:].split(".") if path else []


def _reference_heads(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [head for item in value.values() for head in _reference_heads(item)]
    if isinstance(value, list):
        return [head for item in value for head in _reference_heads(item)]
    reference = parse_reference(value)
    return [reference[0]] if reference else []
