"""The PostgreSQL backend before its workers: one process, side by side with SQLite.

Run from the repository root::

    .venv/bin/python benchmarks/postgres_baseline.py [--url postgresql://...] [--reps 5]
        [--quick] [--out benchmarks/results]

Without ``--url`` it uses the tests' server (:mod:`framework.testing.postgres_server`:
``AGENTGRAPH_TEST_POSTGRES_URL``, else an embedded PostgreSQL started in a temporary folder
and stopped at the end). Every measurement gets fresh storage: a new SQLite file, or a new
schema on the server (dropped afterwards). Measured on SQLite (default config), PostgreSQL
(the server's settings) and, to show what waiting for the server's WAL flush costs,
PostgreSQL with ``synchronous_commit`` off for the benchmark's sessions:

- **batch**: ``BatchRunner`` at concurrency 32 over 3,200 items whose async function returns
  at once: items per second over the whole ``run`` (adding the items included).
- **claims**: a ledger of 10,000 pending items; ``aclaim_items`` of 64, then ``afinish_items``
  of their 64 completed outcomes, 40 times (and 20 more times through the synchronous
  methods, in the calling thread: the same work without the hop to a worker thread);
  p50 / p99 in µs.
- **checkpoint**: a linear graph of 100 trivial nodes through ``GraphExecutor`` with a
  ``CheckpointManager``, against the run without a manager in the same round: extra µs
  per node.

Every round runs every measurement once in a shuffled order, after one untimed warm-up of
each; figures are medians over the rounds. Then, untimed, the PostgreSQL round trips,
counted from the client's protocol trace (:mod:`framework.testing.postgres_trace`, which
the tests that pin them use too): per ``acommit_step`` of the graph, per ``aclaim_items``
and ``afinish_items`` of 64, and per item of the batch. Last, a ``cProfile`` of the batch on
PostgreSQL, every thread included (the backend's calls run in worker threads).

Results: ``<out>/postgres-latest.json`` and the markdown tables on stdout. No test asserts
a time; ``core/tests/benchmarks/test_postgres_benchmark_smoke.py`` runs ``--quick``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import _ours
import anyio
import psycopg
from _common import StepClock, median, percentile

import framework
from framework import CheckpointManager, RunStatus
from framework.batch import BatchConfig, BatchRunner, ItemContext
from framework.schemas.item import ItemOutcome, ItemRecord, ItemStatus, NewItem
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage import StorageBackend, open_storage
from framework.storage.postgres import describe
from framework.testing import postgres_server
from framework.testing.postgres_trace import Trace

HERE = Path(__file__).resolve().parent
BACKENDS = ("sqlite", "postgres", "postgres-nosync")
LABELS = {
    "sqlite": "SQLite",
    "postgres": "PostgreSQL",
    "postgres-nosync": "PostgreSQL, synchronous_commit off",
}
_NO_SYNC = " -csynchronous_commit=off"
CONCURRENCY = 32
CLAIM = 64
LEDGER_RUN = "ledger"
TARGET_ITEMS_PER_S = 5_000
"""Issue 13's target for trivial items with 4 workers on one PostgreSQL, this machine."""

Sample = dict[str, float]


@dataclass(frozen=True)
class Plan:
    """The sizes of one benchmark run."""

    items: int
    ledger: int
    claims: int
    direct_claims: int
    nodes: int
    reps: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            return cls(items=320, ledger=1_000, claims=5, direct_claims=3, nodes=10, reps=1)
        return cls(
            items=3_200, ledger=10_000, claims=40, direct_claims=20, nodes=100, reps=args.reps
        )

    def quick(self) -> Plan:
        """The warm-up's sizes: every code path once, nothing measured."""
        return Plan(items=64, ledger=256, claims=2, direct_claims=1, nodes=5, reps=1)


# --- fresh storage -----------------------------------------------------------------------


class Stores:
    """Fresh storage for each measurement: a SQLite file in ``folder``, or a new schema on
    the PostgreSQL server ``server`` (a libpq URL), dropped when the measurement ends."""

    def __init__(self, server: str, folder: Path) -> None:
        if "options=" in server:
            raise SystemExit(
                "--url already sets libpq options; give one without ?options=, the benchmark "
                "selects its own schema with them"
            )
        self.server = server
        self.folder = folder

    @contextmanager
    def fresh(self, backend: str) -> Iterator[str]:
        """The URL of empty storage of ``backend`` (one of :data:`BACKENDS`)."""
        name = f"pgbench_{uuid.uuid4().hex[:16]}"
        if backend == "sqlite":
            path = self.folder / f"{name}.db"
            try:
                yield f"sqlite://{quote(str(path))}"
            finally:
                for leftover in self.folder.glob(f"{name}.db*"):
                    leftover.unlink()
            return
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        separator = "&" if "?" in self.server else "?"
        try:
            options = f"-csearch_path={name}{_NO_SYNC if backend.endswith('nosync') else ''}"
            yield f"{self.server}{separator}options={quote(options)}"
        finally:
            with psycopg.connect(self.server, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {name} CASCADE")

    def facts(self) -> dict[str, Any]:
        """What the server is: version, where, and how durable its commits are."""
        with psycopg.connect(self.server, autocommit=True) as conn:
            shown = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
            }
            host = conn.info.host
        return {**shown, "where": describe(self.server), "unix_socket": host.startswith("/")}


# --- the measurements --------------------------------------------------------------------


async def trivial(item: int, ctx: ItemContext) -> int:
    return item


async def measure_batch(url: str, plan: Plan) -> Sample:
    """``plan.items`` trivial items through one ``BatchRunner`` at concurrency 32."""
    async with CheckpointManager(url) as manager:
        runner = BatchRunner(manager, BatchConfig(concurrency=CONCURRENCY))
        started = time.perf_counter()
        result = await runner.run("trivial", range(plan.items), trivial)
        seconds = time.perf_counter() - started
    if result.counts.completed != plan.items:
        raise RuntimeError(f"expected {plan.items} completed items, got {result.counts}")
    return {"seconds": seconds, "items_per_s": plan.items / seconds}


async def filled_ledger(storage: StorageBackend, size: int) -> int:
    """Make the ledger run with ``size`` pending items; return the fencing token."""
    await storage.acreate_run(RunRecord(run_id=LEDGER_RUN))
    token = (await storage.aclaim_run(LEDGER_RUN, make_owner_id())).fencing_token
    for start in range(0, size, 1_000):
        new = [
            NewItem(item_id=f"item-{n}", input={"n": n}, content_hash=f"h-{n}")
            for n in range(start, min(size, start + 1_000))
        ]
        await storage.aadd_items(LEDGER_RUN, new, fencing_token=token)
    return token


def completed(claimed: list[ItemRecord]) -> list[ItemOutcome]:
    if len(claimed) != CLAIM:
        raise RuntimeError(f"expected to claim {CLAIM} items, got {len(claimed)}")
    return [
        ItemOutcome(item_id=item.item_id, status=ItemStatus.COMPLETED, result=item.input)
        for item in claimed
    ]


async def measure_claims(url: str, plan: Plan) -> dict[str, Any]:
    """Claims of 64 and finishes of 64 from a ledger of ``plan.ledger`` pending items."""
    timings: dict[str, list[float]] = defaultdict(list)
    async with open_storage(url) as storage:
        token = await filled_ledger(storage, plan.ledger)
        for _ in range(plan.claims):
            started = time.perf_counter()
            claimed = await storage.aclaim_items(
                LEDGER_RUN, limit=CLAIM, worker="bench", fencing_token=token
            )
            timings["claim_us"].append((time.perf_counter() - started) * 1e6)
            outcomes = completed(claimed)
            started = time.perf_counter()
            await storage.afinish_items(LEDGER_RUN, outcomes, fencing_token=token)
            timings["finish_us"].append((time.perf_counter() - started) * 1e6)
        for _ in range(plan.direct_claims):
            started = time.perf_counter()
            claimed = storage.claim_items(
                LEDGER_RUN, limit=CLAIM, worker="bench", fencing_token=token
            )
            timings["direct_claim_us"].append((time.perf_counter() - started) * 1e6)
            outcomes = completed(claimed)
            started = time.perf_counter()
            storage.finish_items(LEDGER_RUN, outcomes, fencing_token=token)
            timings["direct_finish_us"].append((time.perf_counter() - started) * 1e6)
    summary: dict[str, Any] = {}
    for name, values in timings.items():
        stem = name.removesuffix("_us")
        summary[f"{stem}_p50_us"] = percentile(values, 0.50)
        summary[f"{stem}_p99_us"] = percentile(values, 0.99)
    return {**summary, "raw": dict(timings)}


@asynccontextmanager
async def managed(url: str | None) -> AsyncIterator[CheckpointManager | None]:
    """A checkpoint manager on ``url``, or ``None`` (no manager)."""
    if url is None:
        yield None
        return
    async with CheckpointManager(url) as manager:
        yield manager


async def measure_checkpoint(url: str | None, plan: Plan) -> Sample:
    """The linear graph of ``plan.nodes`` small nodes, with a manager on ``url`` or none."""
    clock = StepClock()
    async with managed(url) as manager:
        executor = _ours.executor_for(manager, "small", clock)
        graph = executor.prepare(_ours.linear_graph(plan.nodes, "small"))
        started = time.perf_counter()
        result = await executor.execute(graph, None, _ours.initial_input("small"), run_id="bench")
        seconds = time.perf_counter() - started
    _ours.expect(result, RunStatus.COMPLETED, plan.nodes)
    return {"seconds": seconds}


Task = tuple[str, str]
"""(measurement, backend): ``("batch", "sqlite")``; the checkpoint's backends include
``none``, the run without a manager."""


def tasks() -> list[Task]:
    found = [(kind, backend) for kind in ("batch", "claims") for backend in BACKENDS]
    return found + [("checkpoint", backend) for backend in ("none", *BACKENDS)]


def run_task(task: Task, plan: Plan, stores: Stores) -> dict[str, Any]:
    """One measurement on fresh storage, in an event loop of its own."""
    kind, backend = task
    if kind == "checkpoint" and backend == "none":
        return anyio.run(measure_checkpoint, None, plan)
    measures: dict[str, Callable[[str, Plan], Awaitable[Any]]] = {
        "batch": measure_batch,
        "claims": measure_claims,
        "checkpoint": measure_checkpoint,
    }
    with stores.fresh(backend) as url:
        result: dict[str, Any] = anyio.run(measures[kind], url, plan)
        return result


def run_rounds(plan: Plan, stores: Stores, seed: int) -> dict[Task, list[dict[str, Any]]]:
    """Every task once untimed at the warm-up's sizes, then once per round, shuffled."""
    results: dict[Task, list[dict[str, Any]]] = defaultdict(list)
    for task in tasks():
        run_task(task, plan.quick(), stores)
    shuffler = random.Random(seed)
    for number in range(1, plan.reps + 1):
        order = tasks()
        shuffler.shuffle(order)
        started = time.perf_counter()
        for task in order:
            gc.collect()
            results[task].append(run_task(task, plan, stores))
        took = time.perf_counter() - started
        print(
            f"round {number}/{plan.reps}: {len(order)} measurements in {took:.0f} s",
            file=sys.stderr,
        )
    return results


def summarise(plan: Plan, results: dict[Task, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over the rounds; the checkpoint's extra per node against the same round."""
    batch = {
        backend: {
            "items_per_s": median(s["items_per_s"] for s in results["batch", backend]),
            "rounds": [s["items_per_s"] for s in results["batch", backend]],
        }
        for backend in BACKENDS
    }
    claims: dict[str, Any] = {}
    for backend in BACKENDS:
        rounds = results["claims", backend]
        figures = {name: median(r[name] for r in rounds) for name in rounds[0] if name != "raw"}
        claims[backend] = {**figures, "raw": [r["raw"] for r in rounds]}
    bare = [s["seconds"] for s in results["checkpoint", "none"]]
    checkpoint: dict[str, Any] = {"none": {"median_ms": median(bare) * 1e3}}
    for backend in BACKENDS:
        seconds = [s["seconds"] for s in results["checkpoint", backend]]
        extra = [(run - base) / plan.nodes * 1e6 for run, base in zip(seconds, bare, strict=True)]
        checkpoint[backend] = {
            "median_ms": median(seconds) * 1e3,
            "extra_us_per_node": median(extra),
            "rounds_extra_us_per_node": extra,
        }
    return {"batch": batch, "claims": claims, "checkpoint": checkpoint}


# --- round trips -------------------------------------------------------------------------


def counted(
    trace: Trace, method: Callable[..., Awaitable[Any]], calls: list[dict[str, int]]
) -> Callable[..., Awaitable[Any]]:
    """``method`` recording the round trips of each call (calls must not overlap)."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark = trace.mark()
        result = await method(*args, **kwargs)
        calls.append(trace.trips(mark)._asdict())
        return result

    return wrapper


async def trips_of_a_graph(trace: Trace, url: str, nodes: int) -> dict[str, Any]:
    commits: list[dict[str, int]] = []
    async with CheckpointManager(url) as manager:
        storage = manager.storage
        storage.acommit_step = counted(trace, storage.acommit_step, commits)  # type: ignore[method-assign]
        executor = _ours.executor_for(manager, "small", StepClock())
        graph = executor.prepare(_ours.linear_graph(nodes, "small"))
        mark = trace.mark()
        result = await executor.execute(graph, None, _ours.initial_input("small"), run_id="trips")
        whole = trace.trips(mark)._asdict()
    _ours.expect(result, RunStatus.COMPLETED, nodes)
    return {
        "nodes": nodes,
        "commit_step_calls": len(commits),
        "commit_step_round_trips": median(c["round_trips"] for c in commits),
        "commit_step_statements": median(c["statements"] for c in commits),
        "run_round_trips_per_node": whole["round_trips"] / nodes,
        "run_statements_per_node": whole["statements"] / nodes,
    }


async def trips_of_claims(trace: Trace, url: str, plan: Plan) -> dict[str, float]:
    claims: list[dict[str, int]] = []
    finishes: list[dict[str, int]] = []
    async with open_storage(url) as storage:
        token = await filled_ledger(storage, plan.ledger)
        claim = counted(trace, storage.aclaim_items, claims)
        finish = counted(trace, storage.afinish_items, finishes)
        for _ in range(plan.claims):
            claimed = await claim(LEDGER_RUN, limit=CLAIM, worker="bench", fencing_token=token)
            await finish(LEDGER_RUN, completed(claimed), fencing_token=token)
    return {
        "claim_round_trips": median(c["round_trips"] for c in claims),
        "claim_statements": median(c["statements"] for c in claims),
        "finish_round_trips": median(f["round_trips"] for f in finishes),
        "finish_statements": median(f["statements"] for f in finishes),
    }


async def trips_of_a_batch(trace: Trace, url: str, items: int) -> dict[str, float]:
    """Round trips per item of the whole batch, and the claims and finishes it made."""
    calls: dict[str, int] = defaultdict(int)
    async with CheckpointManager(url) as manager:
        storage = manager.storage
        for name in ("aclaim_items", "afinish_items", "aadd_items", "acommit_step"):
            original = getattr(storage, name)

            async def tallied(*args: Any, _name: str = name, _of: Any = original, **kw: Any) -> Any:
                calls[_name] += 1
                return await _of(*args, **kw)

            setattr(storage, name, tallied)
        mark = trace.mark()
        await BatchRunner(manager, BatchConfig(concurrency=CONCURRENCY)).run(
            "trivial", range(items), trivial
        )
        whole = trace.trips(mark)._asdict()
    return {
        "items": items,
        "round_trips_per_item": whole["round_trips"] / items,
        "statements_per_item": whole["statements"] / items,
        **{f"{name}_calls": count for name, count in calls.items()},
    }


def round_trips(plan: Plan, stores: Stores) -> dict[str, Any]:
    """The PostgreSQL round trips of a graph, a ledger's claims and a batch (see module docs)."""
    with tempfile.TemporaryDirectory(prefix="pg-trace-") as folder:
        found: dict[str, Any] = {}
        for name, measure, size in (
            ("graph", trips_of_a_graph, plan.nodes),
            ("claims", trips_of_claims, plan),
            ("batch", trips_of_a_batch, plan.items),
        ):
            with stores.fresh("postgres") as url, Trace(Path(folder)) as trace:
                found[name] = anyio.run(measure, trace, url, size)
        return found


# --- profile -----------------------------------------------------------------------------


def profile_batch(plan: Plan, stores: Stores, top: int = 25) -> dict[str, Any]:
    """A ``cProfile`` of the batch on PostgreSQL in every thread: the biggest own times,
    and the framework's functions by cumulative time (times of all threads added up)."""
    profiles: list[cProfile.Profile] = []

    def start_in_thread(*_: object) -> None:
        # The first event of a new thread: it gets a profiler of its own, which takes over.
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()

    main = cProfile.Profile()
    with stores.fresh("postgres") as url:
        threading.setprofile(start_in_thread)
        main.enable()
        started = time.perf_counter()
        try:
            anyio.run(measure_batch, url, plan)
        finally:
            seconds = time.perf_counter() - started
            main.disable()
            threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(main)
    for profile in profiles:
        stats.add(profile)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    own = sorted(table.items(), key=lambda entry: entry[1][2], reverse=True)[:top]
    ours = [entry for entry in table.items() if f"{os.sep}framework{os.sep}" in entry[0][0]]
    ours.sort(key=lambda entry: entry[1][3], reverse=True)
    return {
        "items": plan.items,
        "seconds": seconds,
        "threads": 1 + len(profiles),
        "top_own_time": [_profiled(entry) for entry in own],
        "framework_top_cumulative": [_profiled(entry) for entry in ours[:top]],
    }


def _profiled(entry: tuple[tuple[str, int, str], tuple[Any, ...]]) -> dict[str, Any]:
    (file, line, name), (_, calls, own, cumulative, _) = entry
    return {
        "function": f"{Path(file).name}:{line}({name})",
        "calls": calls,
        "own_s": round(own, 4),
        "cumulative_s": round(cumulative, 4),
    }


# --- the report --------------------------------------------------------------------------


def commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def render(doc: dict[str, Any]) -> str:
    meta, plan = doc["meta"], doc["plan"]
    server = meta["server"]
    lines = [
        f"# PostgreSQL baseline — {meta['date']} on {meta['host']}",
        "",
        f"{meta['nproc']} CPUs; Python {meta['python']}; PostgreSQL {server['server_version']} "
        f"({'unix socket' if server['unix_socket'] else 'TCP'}, fsync {server['fsync']}, "
        f"synchronous_commit {server['synchronous_commit']}); {plan['reps']} interleaved "
        f"rounds; commit {meta['commit']}; load average at the end {meta['load_average'][0]:.1f}",
        "",
        "| measurement | " + " | ".join(LABELS[b] for b in BACKENDS) + " |",
        "|---|" + "---|" * len(BACKENDS),
    ]
    batch, claims, checkpoint = doc["batch"], doc["claims"], doc["checkpoint"]

    def row(label: str, figure: Callable[[str], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(figure(b) for b in BACKENDS) + " |")

    row(
        f"{plan['items']:,} trivial items, one process, concurrency {CONCURRENCY}: items/s",
        lambda b: f"{batch[b]['items_per_s']:,.0f}",
    )
    for stem, label in (
        ("claim", f"`aclaim_items` of {CLAIM}"),
        ("finish", f"`afinish_items` of {CLAIM}"),
        ("direct_claim", f"`claim_items` of {CLAIM}, synchronous, no thread hop"),
        ("direct_finish", f"`finish_items` of {CLAIM}, synchronous, no thread hop"),
    ):
        row(
            f"{label} (ledger of {plan['ledger']:,}): p50 / p99 µs",
            lambda b, s=stem: f"{claims[b][f'{s}_p50_us']:,.0f} / {claims[b][f'{s}_p99_us']:,.0f}",
        )
    row(
        f"checkpoint, {plan['nodes']}-node graph: extra µs per node "
        f"(no manager: {checkpoint['none']['median_ms']:.1f} ms a run)",
        lambda b: f"{checkpoint[b]['extra_us_per_node']:,.0f}",
    )
    trips = doc["round_trips"]
    lines += [
        "",
        "PostgreSQL round trips (libpq protocol trace):",
        "",
        "| call | round trips | statements |",
        "|---|---|---|",
        f"| one `acommit_step` | {trips['graph']['commit_step_round_trips']:g} | "
        f"{trips['graph']['commit_step_statements']:g} |",
        f"| per node of the {trips['graph']['nodes']}-node graph, all calls | "
        f"{trips['graph']['run_round_trips_per_node']:.2f} | "
        f"{trips['graph']['run_statements_per_node']:.2f} |",
        f"| one `aclaim_items` of {CLAIM} | {trips['claims']['claim_round_trips']:g} | "
        f"{trips['claims']['claim_statements']:g} |",
        f"| one `afinish_items` of {CLAIM} | {trips['claims']['finish_round_trips']:g} | "
        f"{trips['claims']['finish_statements']:g} |",
        f"| per item of the {trips['batch']['items']:,}-item batch, all calls | "
        f"{trips['batch']['round_trips_per_item']:.2f} | "
        f"{trips['batch']['statements_per_item']:.2f} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an existing PostgreSQL server (default: an embedded one)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one round (the smoke test)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--seed", type=int, default=13, help="of the shuffled order")
    parser.add_argument("--note", default="", help="a line kept with the results")
    args = parser.parse_args(argv)
    plan = Plan.from_args(args)
    started = time.perf_counter()
    try:
        server = args.url or postgres_server.server_url()
        with tempfile.TemporaryDirectory(prefix="pg-baseline-") as folder:
            stores = Stores(server, Path(folder))
            facts = stores.facts()
            figures = summarise(plan, run_rounds(plan, stores, args.seed))
            trips = round_trips(plan, stores)
            profile = profile_batch(plan, stores)
    finally:
        if not args.url:
            postgres_server.stop_server()
    doc = {
        "meta": {
            "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "host": socket.gethostname(),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "framework": framework.__version__,
            "commit": commit(),
            "server": {**facts, "embedded": not args.url},
            "quick": args.quick,
            "seed": args.seed,
            "seconds": time.perf_counter() - started,
            "load_average": list(os.getloadavg()),
            "note": args.note,
            "target_items_per_s_with_4_workers": TARGET_ITEMS_PER_S,
        },
        "plan": {**asdict(plan), "concurrency": CONCURRENCY, "claim": CLAIM},
        **figures,
        "round_trips": trips,
        "profile": profile,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    (args.out / "postgres-latest.json").write_text(text, encoding="utf-8")
    print(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
