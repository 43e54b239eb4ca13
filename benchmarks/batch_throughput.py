"""How fast durable batches go: trivial items per second, the overhead on LLM-like items,
and (``--million``) one million items streamed through one batch.

Run from the repository root::

    .venv/bin/python benchmarks/batch_throughput.py [--quick] [--million] [--out benchmarks/results]

Every completion is durable before it is counted (SQLite, default durability). Measured:

- **trivial**: N items that return at once (N = 20,000; 1,000 with ``--quick``), concurrency
  64: items per second over the whole ``run`` (adding the items included), and the time
  ``status()`` takes at the end.
- **llm-like**: 3,200 items that each wait like a model call, concurrency 32, in two
  shapes: *lockstep* (every item 50 ms, so 32 end at once: the worst case for the
  bookkeeping between items) and *spread* (40..60 ms, seeded). Each run time against the
  ideal (the sum of the waits / 32) as an overhead in percent, beside a bare pool of 32
  tasks running the same waits with nothing stored (the event loop's own share).
- **million** (``--million``): 1,000,000 items from a generator in a child process, which is
  SIGKILLed once half of them are completed, then run again to the end: the child's peak
  memory, the slowest ``status()`` answer seen while it ran (read from another process's
  connection), how long the second run took to its first new completion (re-reading the
  submission, skipping the completed half) and to the end.

Results: ``<out>/batch-latest.json`` and the markdown table on stdout. No test asserts a
time; ``core/tests/benchmarks/test_batch_benchmark_smoke.py`` runs ``--quick``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from framework.batch import BatchConfig, BatchEvent, BatchRunner, ItemContext
from framework.durable import CheckpointManager

HERE = Path(__file__).resolve().parent
MILLION = 1_000_000


async def trivial(item: int, ctx: ItemContext) -> int:
    return item


LATENCY_S = 0.05


def latencies(count: int, spread: bool) -> list[float]:
    """Each item's simulated model latency: 50 ms, or spread over 40..60 ms (seeded)."""
    rng = random.Random(7)
    return [rng.uniform(0.04, 0.06) if spread else LATENCY_S for _ in range(count)]


async def measure_trivial(folder: Path, count: int) -> dict[str, float]:
    url = f"sqlite://{folder / 'trivial.db'}"
    config = BatchConfig(concurrency=64, add_chunk=1000)
    async with CheckpointManager(url) as manager:
        runner = BatchRunner(manager, config)
        started = time.perf_counter()
        result = await runner.run("trivial", range(count), trivial)
        seconds = time.perf_counter() - started
        asked = time.perf_counter()
        await runner.status("trivial")
        status_ms = (time.perf_counter() - asked) * 1000
    assert result.counts.completed == count, result
    return {
        "items": count,
        "seconds": seconds,
        "items_per_s": count / seconds,
        "status_ms": status_ms,
    }


def model_like(waits: list[float]) -> Callable[[int, ItemContext], Awaitable[int]]:
    """An item function that waits ``waits[item]`` and reports a model call's tokens."""

    async def llm_like(item: int, ctx: ItemContext) -> int:
        await anyio.sleep(waits[item])
        ctx.report_usage(tokens_in=500, tokens_out=100)
        return item

    return llm_like


async def measure_llm_like(folder: Path, count: int, concurrency: int = 32) -> dict[str, Any]:
    """``count`` model-like items at ``concurrency``, in lockstep and spread (see the docs)."""
    shapes = {}
    for shape in ("lockstep", "spread"):
        waits = latencies(count, spread=shape == "spread")
        llm_like = model_like(waits)
        url = f"sqlite://{folder / f'llm-{shape}.db'}"
        async with CheckpointManager(url) as manager:
            runner = BatchRunner(manager, BatchConfig(concurrency=concurrency))
            started = time.perf_counter()
            result = await runner.run("llm", range(count), llm_like)
            seconds = time.perf_counter() - started
        assert result.counts.completed == count, result
        bare = await _bare_pool(waits, concurrency)
        ideal = sum(waits) / concurrency
        shapes[shape] = {
            "seconds": seconds,
            "bare_seconds": bare,
            "ideal_seconds": ideal,
            "overhead_percent": 100 * (seconds - ideal) / ideal,
            "bare_overhead_percent": 100 * (bare - ideal) / ideal,
        }
    return {"items": count, "concurrency": concurrency, **shapes}


async def _bare_pool(waits: list[float], concurrency: int) -> float:
    """The same waits run by ``concurrency`` plain tasks with nothing stored."""
    send, receive = anyio.create_memory_object_stream[float](len(waits))
    for wait in waits:
        send.send_nowait(wait)
    send.close()

    async def worker(taken: MemoryObjectReceiveStream[float]) -> None:
        async with taken:
            async for wait in taken:
                await anyio.sleep(wait)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker, receive.clone())
        receive.close()
    return time.perf_counter() - started


def measure_million(folder: Path) -> dict[str, float]:
    """Run the million-item child, kill it half way, run it again; see the module docs."""
    database = folder / "million.db"
    first = _child(database)
    slowest_status = _watch_until_half(first, database)
    first.send_signal(signal.SIGKILL)
    first.wait()
    started = time.perf_counter()
    second = _child(database)
    out, err = second.communicate(timeout=3600)
    assert second.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    return {
        "items": MILLION,
        "first_run_peak_mb": report["peak_mb"],
        "slowest_status_ms": slowest_status,
        "resumed_run_seconds": time.perf_counter() - started,
        "resumed_first_completion_seconds": report["first_completion_s"],
        "completed": report["completed"],
    }


def _child(database: Path) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--child", str(database)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _watch_until_half(child: subprocess.Popen[str], database: Path) -> float:
    """Ask the batch's status every second from here until half the items are completed."""
    slowest = 0.0

    async def watch() -> float:
        nonlocal slowest
        async with CheckpointManager(f"sqlite://{database}") as manager:
            runner = BatchRunner(manager)
            while child.poll() is None:
                await anyio.sleep(1.0)
                asked = time.perf_counter()
                status = await runner.status("million")
                slowest = max(slowest, (time.perf_counter() - asked) * 1000)
                if status is not None and status.counts.completed >= MILLION // 2:
                    return slowest
        raise RuntimeError("the million-item child ended before half its items were done")

    return anyio.run(watch)


def _million_items() -> Iterator[int]:
    yield from range(MILLION)


async def run_child(database: Path) -> None:
    config = BatchConfig(concurrency=64, add_chunk=2000, progress_interval=5.0)
    started = time.perf_counter()
    first: list[float] = []

    def note(event: BatchEvent) -> None:
        if event.kind == "completed" and not first:
            first.append(time.perf_counter() - started)

    async with CheckpointManager(f"sqlite://{database}") as manager:
        runner = BatchRunner(manager, config, on_event=note)
        result = await runner.run("million", _million_items(), trivial)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {"peak_mb": peak_kb / 1024, "completed": result.counts.completed}
    print(json.dumps({**report, "first_completion_s": first[0] if first else None}))


def render(doc: dict[str, Any]) -> str:
    lines = [f"# Batch throughput — {doc['date']} on {doc['host']}", "", doc["machine"], ""]
    lines += ["| measurement | figure |", "|---|---|"]
    t = doc["trivial"]
    lines.append(
        f"| trivial items, SQLite, concurrency 64 | {t['items_per_s']:,.0f} items/s "
        f"({t['items']:,} items) |"
    )
    lines.append(f"| status() at the end of it | {t['status_ms']:.1f} ms |")
    llm = doc["llm_like"]
    for shape, label in (("lockstep", "50 ms each"), ("spread", "40..60 ms")):
        m = llm[shape]
        lines.append(
            f"| {llm['items']:,} model-like items ({label}), concurrency {llm['concurrency']} "
            f"| {m['seconds']:.3f} s (ideal {m['ideal_seconds']:.3f} s): "
            f"{m['overhead_percent']:.1f} % over; a bare task pool: "
            f"{m['bare_overhead_percent']:.1f} % over |"
        )
    if "million" in doc:
        m = doc["million"]
        lines.append(
            f"| 1,000,000 items: peak memory of the first run | {m['first_run_peak_mb']:.0f} MB |"
        )
        lines.append(f"| slowest status() while it ran | {m['slowest_status_ms']:.1f} ms |")
        lines.append(
            f"| second run after a SIGKILL at 50 %, to the end | {m['resumed_run_seconds']:.1f} s |"
        )
        lines.append(
            "| second run: its first new completion (the completed half skipped) | "
            f"{m['resumed_first_completion_seconds']:.1f} s |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes only (the smoke test)")
    parser.add_argument("--million", action="store_true", help="also the million-item run")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        anyio.run(run_child, args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as temp:
        folder = Path(temp)
        doc: dict[str, Any] = {
            "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "host": platform.node(),
            "machine": f"{os.cpu_count()} CPUs; Python {platform.python_version()}",
            "trivial": anyio.run(measure_trivial, folder, 1_000 if args.quick else 20_000),
            "llm_like": anyio.run(measure_llm_like, folder, 64 if args.quick else 3_200),
        }
        if args.million:
            doc["million"] = measure_million(folder)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch-latest.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    print(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
