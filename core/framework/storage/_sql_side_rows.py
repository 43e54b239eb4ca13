"""The control-signal and effect rows of the SQL backends, written once for both dialects.

Both keep a run's pending control request in ``control_signals`` (one row per run, upserted)
and its effects in ``effects`` (one row per key, upserted in place, so a key keeps its place
in the run's list). The SQL is the same in SQLite and PostgreSQL but for the parameter
marker (:attr:`SQLSideRows.MARK`) and the column that orders effects
(:attr:`SQLSideRows.EFFECT_ORDER`: SQLite's ``rowid``, PostgreSQL's ``position``).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from framework.schemas.control import ControlSignal
from framework.schemas.effect import EffectRecord

__all__ = ["SQLSideRows"]


class SQLSideRows:
    """Control signals and effects in SQL (a mixin of the SQL backends)."""

    MARK: ClassVar[str]
    """The dialect's parameter marker (``?`` or ``%s``)."""
    EFFECT_ORDER: ClassVar[str]
    """The column that keeps a run's effects in the order they were first written."""

    @property
    @abstractmethod
    def _db(self) -> Any:
        """The open connection (``sqlite3`` or psycopg: both ``execute`` and fetch alike)."""

    def _read_control(self, run_id: str) -> bytes | None:
        row = self._db.execute(
            f"SELECT body FROM control_signals WHERE run_id = {self.MARK}", (run_id,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _write_control(self, signal: ControlSignal, body: bytes) -> None:
        p = self.MARK
        self._db.execute(
            f"INSERT INTO control_signals (run_id, action, body) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (run_id) DO UPDATE SET action = excluded.action, body = excluded.body",
            (signal.run_id, signal.action.value, body),
        )

    def _drop_control(self, run_id: str) -> None:
        self._db.execute(f"DELETE FROM control_signals WHERE run_id = {self.MARK}", (run_id,))

    def _read_effect(self, run_id: str, key: str) -> bytes | None:
        p = self.MARK
        row = self._db.execute(
            f"SELECT body FROM effects WHERE run_id = {p} AND key = {p}", (run_id, key)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _write_effect(self, record: EffectRecord, body: bytes) -> None:
        p = self.MARK
        # An upsert keeps the row (and its place in the run's list) of a known key.
        self._db.execute(
            f"INSERT INTO effects (run_id, key, status, body) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, "
            "body = excluded.body",
            (record.run_id, record.key, record.status.value, body),
        )

    def _effect_bodies(self, run_id: str) -> list[bytes]:
        rows = self._db.execute(
            f"SELECT body FROM effects WHERE run_id = {self.MARK} ORDER BY {self.EFFECT_ORDER}",
            (run_id,),
        ).fetchall()
        return [bytes(body) for (body,) in rows]
