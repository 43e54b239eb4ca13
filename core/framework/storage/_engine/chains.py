"""Record chains: which stored records a checkpoint is built from, and when to start anew.

A full record starts a chain; each delta record names the record it applies to
(``prev_seq``). A checkpoint is loaded by applying its chain from the full record forward,
so whatever a visible checkpoint's chain holds must stay stored, and a record is corrupt
if it, or any record before it in its chain, is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from framework.errors import CorruptCheckpointError
from framework.storage._engine.record_format import IndexEntry, RecordForm


class Link(Protocol):
    """What chains are made of: an index entry, or the few columns of one that pruning reads."""

    @property
    def seq(self) -> int: ...
    @property
    def form(self) -> RecordForm: ...
    @property
    def prev_seq(self) -> int | None: ...
    @property
    def visible(self) -> bool: ...


@dataclass(frozen=True)
class RecordLink:
    """An index entry without its checksum, sizes and metadata (cheap to read in bulk)."""

    seq: int
    form: RecordForm
    prev_seq: int | None
    visible: bool


L = TypeVar("L", bound=Link)

# A chain never holds more records than this, so a load applies at most MAX_CHAIN - 1 deltas.
MAX_CHAIN = 128
# A new full record starts once the deltas since the last one add up to this many times its
# size: stored bytes stay proportional to what changed, and a load reads at most
# (1 + FULL_RATIO) times a full snapshot.
FULL_RATIO = 1.0


@dataclass(frozen=True)
class Tip:
    """A run's newest stored record, its state tree, and the size of the chain it ends."""

    seq: int
    checksum: str
    tree: dict[str, Any]
    base_seq: int
    records: int
    delta_bytes: int
    full_bytes: int
    state_bytes: int
    """The canonical size of ``tree`` (its record's ``size_bytes``)."""
    chain: tuple[int, ...]
    """The seqs of the records ``tree`` is built from, full record first."""
    alone: bool = False
    """The run stores this chain and nothing else, and only its newest record is visible
    (true right after the run was pruned to its latest checkpoint)."""

    @classmethod
    def of_chain(cls, chain: list[IndexEntry], tree: dict[str, Any]) -> Tip:
        return cls(
            seq=chain[-1].seq,
            checksum=chain[-1].checksum,
            tree=tree,
            base_seq=chain[0].seq,
            records=len(chain),
            delta_bytes=sum(link.stored_bytes for link in chain[1:]),
            full_bytes=chain[0].stored_bytes,
            state_bytes=chain[-1].metadata.size_bytes,
            chain=tuple(link.seq for link in chain),
        )

    def wants_full(self) -> bool:
        """Whether the next record should be a full one rather than extend this chain."""
        return self.records >= MAX_CHAIN or self.delta_bytes >= FULL_RATIO * self.full_bytes

    def extended(self, entry: IndexEntry, tree: dict[str, Any]) -> Tip:
        """The tip after storing ``entry`` (whose state is ``tree``) on top of this one."""
        if entry.form is RecordForm.FULL:
            return Tip.of_chain([entry], tree)
        return replace(
            self,
            seq=entry.seq,
            checksum=entry.checksum,
            tree=tree,
            records=self.records + 1,
            delta_bytes=self.delta_bytes + entry.stored_bytes,
            state_bytes=entry.metadata.size_bytes,
            chain=(*self.chain, entry.seq),
            alone=False,
        )

    def latest_only_after(self, previous: Tip) -> tuple[int, set[int], set[int]]:
        """:func:`plan_prune` with ``keep=1`` for this tip, stored right after ``previous``
        when ``previous`` was alone: computed from the two chains, without reading entries.

        Hide the previous tip if this one's chain still needs it, else drop its chain.
        """
        if previous.seq in self.chain:
            return 1, {previous.seq}, set()
        return 1, set(), set(previous.chain)


def chain_of(by_seq: Mapping[int, L], entry: L, *, strict: bool = True) -> list[L]:
    """The records ``entry`` is built from, full record first.

    ``strict`` raises ``CorruptCheckpointError`` on a missing link; otherwise the chain
    stops there (pruning keeps whatever part of a broken chain still exists).
    """
    chain = [entry]
    while chain[-1].form is RecordForm.DELTA:
        prev = chain[-1].prev_seq
        # Links only point backwards, so a damaged index can never make this loop forever.
        link = by_seq.get(prev) if prev is not None and prev < chain[-1].seq else None
        if link is None:
            if strict:
                raise CorruptCheckpointError(
                    f"record {prev} that record {chain[-1].seq} is built from is missing"
                )
            break
        chain.append(link)
    chain.reverse()
    return chain


def plan_prune(entries: Sequence[Link], keep: int) -> tuple[int, set[int], set[int]]:
    """How to keep the ``keep`` newest visible checkpoints.

    Returns how many visible checkpoints stop being visible, the seqs to hide (records a
    kept checkpoint's chain still needs) and the seqs to delete (every record no kept
    checkpoint needs).
    """
    visible = [e for e in entries if e.visible]
    removed = visible[: max(len(visible) - keep, 0)]
    if not removed:
        return 0, set(), set()
    by_seq = {e.seq: e for e in entries}
    needed: set[int] = set()
    for entry in visible[len(removed) :]:
        needed.update(link.seq for link in chain_of(by_seq, entry, strict=False))
    hide = {e.seq for e in removed if e.seq in needed}
    drop = {e.seq for e in entries if e.seq not in needed}
    return len(removed), hide, drop


def find_broken(entries: list[IndexEntry], check: Callable[[IndexEntry], None]) -> dict[int, str]:
    """Seq -> reason for every record that is corrupt or built on one.

    ``check`` verifies a single record's stored bytes and raises ``CorruptCheckpointError``;
    each record is checked once, in seq order, so links are judged before what uses them.
    """
    problems: dict[int, str] = {}
    seen: set[int] = set()
    for entry in entries:
        try:
            check(entry)
        except CorruptCheckpointError as exc:
            problems[entry.seq] = str(exc)
        if entry.seq not in problems and entry.form is RecordForm.DELTA:
            prev = entry.prev_seq
            if prev not in seen:
                problems[entry.seq] = f"record {prev} it is built from is missing"
            elif prev in problems:
                problems[entry.seq] = f"record {prev} it is built from is corrupt"
        seen.add(entry.seq)
    return problems
