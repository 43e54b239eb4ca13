"""The primitive operations a record-storing backend provides, and the guards built on them.

:class:`RecordPrimitives` is the one list a backend author implements: where record
bodies, index entries, run records, control signals and effect rows go, the locks that
make a read-modify-write atomic, and how the store is closed. The contract's semantics are
written once on top of these (:mod:`.record_backend` for checkpoints, :mod:`.run_rows`,
:mod:`.leasing`, :mod:`.signals`, :mod:`.effect_rows`); each backend module only says
where bytes go.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

from framework.errors import FencedOutError, InvalidArgumentError, RunNotFoundError
from framework.schemas.control import ControlSignal
from framework.schemas.effect import EffectRecord
from framework.schemas.item import ItemStatus
from framework.schemas.run import RunFilter, RunRecord
from framework.storage._engine.chains import Link
from framework.storage._engine.item_format import ItemRow
from framework.storage._engine.lru import LRUCache
from framework.storage._engine.record_format import IndexEntry, decode_run, encode_run
from framework.storage.twins import StoreLock

# Run records remembered with their stored bytes (see ``_decode_run``).
_KNOWN_RUNS = 256


class RecordPrimitives(ABC):
    """Primitive storage operations (abstract) and the guards every semantic layer uses.

    Every primitive is called with the instance lock held; a write primitive also inside
    :meth:`_writing` for its run.
    """

    def __init__(self) -> None:
        self._lock = StoreLock()
        self._known_runs: LRUCache[str, tuple[bytes, RunRecord]] = LRUCache(_KNOWN_RUNS)

    @abstractmethod
    def _close_store(self) -> None:
        """Release connections, files and caches; called once, by ``close``."""

    # --- atomicity --------------------------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[None]:
        """Held around every read-modify-write (the instance lock is already held)."""

    def _snapshot(self) -> AbstractContextManager[None]:
        """Held around multi-step reads, so they see one consistent state of the store."""
        return nullcontext()

    def _run_lock(self, run_id: str, *, create: bool) -> AbstractContextManager[None]:
        """Held around every write of one run, excluding other processes' writes of it.

        Backends whose transactions already exclude other processes need nothing here.
        ``create`` says the write may be the run's first (so whatever holds the lock may be
        created); otherwise a run with no stored data needs no lock.
        """
        return nullcontext()

    @contextmanager
    def _writing(self, run_id: str, *, create: bool = False) -> Iterator[None]:
        """Everything a write of ``run_id`` holds: instance lock, run lock, transaction."""
        with self._lock, self._run_lock(run_id, create=create), self._transaction():
            yield

    # --- checkpoint records -----------------------------------------------------------------

    @abstractmethod
    def _entries(self, run_id: str) -> list[IndexEntry]:
        """Every stored record's entry (visible or not), oldest first."""

    def _links(self, run_id: str) -> Sequence[Link]:
        """Every stored record's chain links, oldest first (what pruning plans with); a
        backend that can read them without the full entries overrides this."""
        return self._entries(run_id)

    def _last_entry(self, run_id: str) -> IndexEntry | None:
        entries = self._entries(run_id)
        return entries[-1] if entries else None

    @abstractmethod
    def _read_body(self, run_id: str, entry: IndexEntry) -> bytes:
        """A record's stored body; ``CorruptCheckpointError`` if it is missing or unreadable."""

    @abstractmethod
    def _append(self, run_id: str, entry: IndexEntry, body: bytes) -> None:
        """Store a record body, then its index entry, so no entry names a missing body."""

    @abstractmethod
    def _retire(self, run_id: str, hide: set[int], drop: set[int]) -> None:
        """Mark ``hide`` seqs not visible and delete the records and entries of ``drop``."""

    @abstractmethod
    def _drop_run_records(self, run_id: str) -> None:
        """Delete every record and entry of the run."""

    # --- run records ------------------------------------------------------------------------

    @abstractmethod
    def _insert_run(self, record: RunRecord, body: bytes) -> bool:
        """Store a new run record; ``False`` if one with that id exists."""

    @abstractmethod
    def _read_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def _replace_run(self, record: RunRecord, body: bytes) -> None: ...

    @abstractmethod
    def _select_runs(self, where: RunFilter) -> list[RunRecord]:
        """Matching run records, newest first (see :func:`~.record_format.filter_runs`)."""

    @abstractmethod
    def _delete_run(self, run_id: str) -> bool:
        """Delete everything stored for the run; whether there was anything."""

    # --- control signals and effects --------------------------------------------------------

    @abstractmethod
    def _read_control(self, run_id: str) -> bytes | None: ...

    @abstractmethod
    def _write_control(self, signal: ControlSignal, body: bytes) -> None: ...

    @abstractmethod
    def _drop_control(self, run_id: str) -> None: ...

    @abstractmethod
    def _read_effect(self, run_id: str, key: str) -> bytes | None: ...

    @abstractmethod
    def _write_effect(self, record: EffectRecord, body: bytes) -> None:
        """Insert or replace the effect row; a new key goes after every existing one."""

    @abstractmethod
    def _effect_bodies(self, run_id: str) -> list[bytes]:
        """Every effect row of the run, in the order the keys were first written."""

    # --- item ledgers -----------------------------------------------------------------------

    @abstractmethod
    def _read_items(
        self, run_id: str, item_ids: Sequence[str], *, payloads: bool
    ) -> dict[str, ItemRow]:
        """The stored rows of those of ``item_ids`` the run's ledger holds, by id; with their
        input and result only if ``payloads``."""

    @abstractmethod
    def _scan_items(
        self,
        run_id: str,
        status: ItemStatus | None,
        after_seq: int,
        limit: int | None,
        due_by: str | None,
        *,
        payloads: bool,
    ) -> list[ItemRow]:
        """Rows by seq: with ``status`` (any when ``None``), seq above ``after_seq``, and when
        ``due_by`` is given only rows whose ``due`` is ``None`` or not after it; at most
        ``limit``; with their input and result only if ``payloads``."""

    @abstractmethod
    def _store_items(self, run_id: str, rows: Sequence[ItemRow], counts: bytes) -> None:
        """Insert or replace ``rows`` (by item id) and the ledger's counts, in one atomic step.

        A row whose input or result is ``None`` keeps the stored one (it replaces a row).
        """

    @abstractmethod
    def _read_item_counts(self, run_id: str) -> bytes | None:
        """The ledger's stored counts, or ``None`` for a run without items."""

    # --- guards -----------------------------------------------------------------------------

    def _require_run(self, run_id: str) -> RunRecord:
        record = self._read_run(run_id)
        if record is None:
            raise RunNotFoundError(
                f"run {run_id!r} does not exist; create it with create_run", run_id=run_id
            )
        return record

    def _store_run(self, record: RunRecord) -> None:
        body = encode_run(record)
        self._replace_run(record, body)
        self._known_runs.put(record.run_id, (body, record))

    def _decode_run(self, run_id: str, body: bytes, where: str) -> RunRecord:
        """The run record ``body`` holds (``where`` names it in errors).

        The record last stored or read for the run is handed out again while the stored
        bytes are the same: records are read-only values, and a run's record is read at
        every step (for its fencing token) but mostly changed by this instance itself.
        """
        known = self._known_runs.get(run_id)
        if known is not None and known[0] == body:
            return known[1]
        record = decode_run(body, where)
        self._known_runs.put(run_id, (body, record))
        return record

    def _check_fence(self, run_id: str, token: int, what: str) -> RunRecord:
        """The run's record if its fencing token is ``token``, else ``FencedOutError``."""
        if type(token) is not int:
            raise InvalidArgumentError(f"a fencing token is an int, not {token!r}")
        record = self._read_run(run_id)
        if record is None:
            raise FencedOutError(what, run_id, token, current_token=None)
        if record.fencing_token != token:
            raise FencedOutError(
                what, run_id, token, current_token=record.fencing_token, holder=record.lease_owner
            )
        return record
