"""The runtime: run lifecycle and decision log, persisted as inspectable JSON.

Every run gets a folder ``{storage_path}/decisions/{run_id}/`` holding

- ``run.json``: the run's header (goal, input, status, timestamps, narrative, output),
  replaced atomically (temp file + ``os.replace``) when the run starts and ends;
- ``decisions.jsonl``: one JSON line per decision, outcome or problem, appended in order,
  so recording costs the same on the thousandth decision as on the first.

The ``decisions/`` prefix keeps this layout clear of a storage backend's ``runs/`` folders
when both share one directory. One :class:`Runtime` may serve many concurrent runs in one
process: there is no "current run", every method names its ``run_id``, and a lock
serialises writes so interleaved records never tear each other.

This is a log, not state: values that JSON cannot hold are stored by ``repr`` instead of
failing the run that produced them.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from framework.errors import DecisionLogError, StorageError
from framework.runtime.records import (
    Decision,
    DecisionLine,
    LogLine,
    Outcome,
    OutcomeLine,
    Problem,
    ProblemLine,
    RunHeader,
    RunLog,
    RunSummary,
    to_loggable,
)
from framework.schemas.clock import utc_now
from framework.schemas.ids import validate_run_id
from framework.schemas.run import RunStatus

__all__ = ["Runtime"]

_RUN_FILE = "run.json"
_LOG_FILE = "decisions.jsonl"


@dataclass
class _Active:
    """In-memory bookkeeping for a run this process has touched: ids handed out so far."""

    header: RunHeader
    decision_ids: set[str]
    problem_count: int


class Runtime:
    """Records runs and their decisions under ``storage_path/decisions/``.

    Methods are synchronous and thread-safe. ``start_run`` with the id of an existing run
    reopens it (a resumed run keeps one log); recording into an unknown or ended run raises
    :class:`~framework.errors.DecisionLogError`; a bad run id raises
    :class:`~framework.errors.InvalidIdError`.
    """

    def __init__(self, storage_path: str | os.PathLike[str]) -> None:
        self.storage_path = Path(storage_path).expanduser()
        self.root = self.storage_path / "decisions"
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}

    # --- lifecycle ---------------------------------------------------------------------

    def start_run(
        self,
        goal_id: str,
        goal_description: str = "",
        input_data: Any = None,
        run_id: str | None = None,
    ) -> str:
        """Open a run and return its id (generated unless given); reopens an existing one."""
        run_id = validate_run_id(run_id) if run_id is not None else _new_run_id()
        with self._lock:
            folder = self.root / run_id
            if (folder / _RUN_FILE).exists():
                active = self._load(run_id)
                header = active.header.model_copy(
                    update={
                        "status": RunStatus.RUNNING,
                        "ended_at": None,
                        "success": None,
                        "starts": active.header.starts + 1,
                    }
                )
            else:
                folder.mkdir(parents=True, exist_ok=True)
                header = RunHeader(
                    run_id=run_id,
                    goal_id=goal_id,
                    goal_description=goal_description,
                    input_data=to_loggable(input_data),
                )
                active = _Active(header, set(), 0)
            active.header = header
            self._write_header(header)
            self._active[run_id] = active
        return run_id

    def end_run(
        self,
        run_id: str,
        *,
        success: bool,
        narrative: str = "",
        output_data: Any = None,
        status: RunStatus | None = None,
    ) -> None:
        """Close this call of a run, with a narrative and its output.

        ``status`` is where the run stands (a paused or cancelled run too); without it the
        run is completed on success, else failed. A paused run may be started again.
        """
        if status is None:
            status = RunStatus.COMPLETED if success else RunStatus.FAILED
        with self._lock:
            active = self._open_run(run_id)
            active.header = active.header.model_copy(
                update={
                    "status": status,
                    "success": success,
                    "ended_at": utc_now(),
                    "narrative": narrative,
                    "output_data": to_loggable(output_data),
                }
            )
            self._write_header(active.header)

    # --- records -----------------------------------------------------------------------

    def decide(
        self,
        run_id: str,
        *,
        node_id: str,
        intent: str,
        options: list[Any] | tuple[Any, ...],
        chosen: Any,
        reasoning: str = "",
    ) -> str:
        """Record a decision and return its id (``d1``, ``d2``, ... within the run)."""
        with self._lock:
            active = self._open_run(run_id)
            decision_id = f"d{len(active.decision_ids) + 1}"
            decision = Decision(
                id=decision_id,
                node_id=node_id,
                intent=intent,
                options=to_loggable(list(options)),
                chosen=to_loggable(chosen),
                reasoning=reasoning,
            )
            self._append(run_id, DecisionLine(decision=decision))
            active.decision_ids.add(decision_id)
        return decision_id

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
        """Record what came of ``decision_id``; a later outcome for it replaces an earlier."""
        with self._lock:
            active = self._open_run(run_id)
            if decision_id not in active.decision_ids:
                raise DecisionLogError(
                    f"run '{run_id}' has no decision '{decision_id}'; record outcomes with "
                    "the id that decide() returned"
                )
            outcome = Outcome(
                success=success,
                result=to_loggable(result),
                summary=summary,
                tokens_used=tokens_used,
                latency_ms=latency_ms,
            )
            self._append(run_id, OutcomeLine(decision_id=decision_id, outcome=outcome))

    def report_problem(
        self, run_id: str, *, severity: str, description: str, node_id: str | None = None
    ) -> str:
        """Record a problem (``severity`` is free text such as warning / error / critical)."""
        with self._lock:
            active = self._open_run(run_id)
            active.problem_count += 1
            problem = Problem(
                id=f"p{active.problem_count}",
                severity=str(severity),
                description=description,
                node_id=node_id,
            )
            self._append(run_id, ProblemLine(problem=problem))
        return problem.id

    # --- reading -----------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunLog:
        """The whole log of a run; raises DecisionLogError if there is no such run."""
        run_id = validate_run_id(run_id)
        with self._lock:
            header = self._read_header(run_id)
            decisions: dict[str, Decision] = {}
            problems: list[Problem] = []
            for line in self._read_lines(run_id):
                if isinstance(line, DecisionLine):
                    decisions[line.decision.id] = line.decision
                elif isinstance(line, OutcomeLine) and line.decision_id in decisions:
                    decisions[line.decision_id].outcome = line.outcome
                elif isinstance(line, ProblemLine):
                    problems.append(line.problem)
        return RunLog(**header.model_dump(), decisions=list(decisions.values()), problems=problems)

    def list_runs(self) -> list[RunSummary]:
        """Summaries of every recorded run, oldest first."""
        with self._lock:
            if not self.root.is_dir():
                return []
            summaries = [
                RunSummary(**self._read_header(folder.name).model_dump(exclude=_DATA_FIELDS))
                for folder in self.root.iterdir()
                if (folder / _RUN_FILE).is_file()
            ]
        return sorted(summaries, key=lambda s: (s.started_at, s.run_id))

    # --- storage (callers hold the lock) -------------------------------------------------

    def _open_run(self, run_id: str) -> _Active:
        run_id = validate_run_id(run_id)
        active = self._active.get(run_id) or self._load(run_id)
        self._active[run_id] = active
        if active.header.status is not RunStatus.RUNNING:
            raise DecisionLogError(
                f"run '{run_id}' has ended ({active.header.status}); start_run with its id "
                "reopens it"
            )
        return active

    def _load(self, run_id: str) -> _Active:
        header = self._read_header(run_id)
        self._drop_torn_tail(run_id)
        decision_ids: set[str] = set()
        problem_count = 0
        for line in self._read_lines(run_id):
            if isinstance(line, DecisionLine):
                decision_ids.add(line.decision.id)
            elif isinstance(line, ProblemLine):
                problem_count += 1
        return _Active(header, decision_ids, problem_count)

    def _read_header(self, run_id: str) -> RunHeader:
        path = self.root / run_id / _RUN_FILE
        try:
            return RunHeader.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise DecisionLogError(
                f"no run '{run_id}' in the decision log at {self.root}; start_run creates one"
            ) from None
        except ValidationError as exc:
            raise StorageError(f"{path} is not a valid run header: {exc}") from None

    def _write_header(self, header: RunHeader) -> None:
        path = self.root / header.run_id / _RUN_FILE
        temp = path.with_name(f".{_RUN_FILE}.{uuid.uuid4().hex}.tmp")
        try:
            with temp.open("w", encoding="utf-8") as handle:
                handle.write(header.model_dump_json(indent=2))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    def _drop_torn_tail(self, run_id: str) -> None:
        """Cut a partial last line left by a crash, so the next append starts a clean line."""
        path = self.root / run_id / _LOG_FILE
        try:
            with path.open("rb+") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size == 0:
                    return
                handle.seek(size - 1)
                if handle.read(1) == b"\n":
                    return
                handle.seek(0)
                handle.truncate(handle.read().rfind(b"\n") + 1)
        except FileNotFoundError:
            return

    def _append(self, run_id: str, line: BaseModel) -> None:
        # No fsync per line: this is an audit log and the cost of a decision must stay
        # small; a crash may lose the newest lines, and _read_lines skips a torn last line.
        with (self.root / run_id / _LOG_FILE).open("a", encoding="utf-8") as handle:
            handle.write(line.model_dump_json() + "\n")

    def _read_lines(self, run_id: str) -> list[DecisionLine | OutcomeLine | ProblemLine]:
        path = self.root / run_id / _LOG_FILE
        try:
            raw_lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        parsed = []
        for number, raw in enumerate(raw_lines, start=1):
            if not raw.strip():
                continue
            try:
                parsed.append(LogLine.validate_json(raw))
            except ValidationError as exc:
                if number == len(raw_lines):
                    break  # a write torn by a crash; everything before it is intact
                raise StorageError(f"{path} line {number} is not a valid record: {exc}") from None
        return parsed


_DATA_FIELDS = {"input_data", "output_data"}


def _new_run_id() -> str:
    stamp = utc_now().strftime("%Y%m%dT%H%M%S")
    return f"run_{stamp}_{uuid.uuid4().hex[:12]}"
