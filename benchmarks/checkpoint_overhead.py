"""What checkpointing costs per node, measured side by side with LangGraph in one run.

Run from the repository root (``make bench`` runs it with ``--peers``)::

    .venv/bin/python benchmarks/checkpoint_overhead.py [--peers] [--quick] [--reps 5]
        [--out benchmarks/results]

A linear graph of N trivial nodes (N in 10, 100, 1000) with payload "small" (each node
appends 100 bytes to a list in memory) or "large" (each node overwrites one key with a fresh
100 KB string), run without a manager and with every storage and durability mode; then a
resume at the largest N, the disk floor, and 50 concurrent 20-node runs on one manager.
Every round runs every measurement once, in a shuffled order, on fresh storage; with
``--peers`` the LangGraph measurements (in their own virtual environment, see
:mod:`_peers`) are shuffled into the same rounds. Figures are medians over the rounds
(:mod:`_report`); results go to ``<out>/<date>-<host>.json``, ``<out>/latest.json`` and
``<out>/latest.md``, and the markdown is printed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import _ours
from _common import CONCURRENT_NODES, Request, Sample, base_folder
from _floor import FLOOR_NAMES, measure_floor
from _peers import PEER_MODES, PeerWorker, peer_python, peer_versions
from _report import Document, render, summarise, task_key

import framework

HERE = Path(__file__).resolve().parent
OURS, PEERS = "ours", "langgraph"


@dataclass(frozen=True)
class Plan:
    """The shapes of one benchmark run."""

    sizes: tuple[int, ...]
    reps: int
    concurrent_runs: int
    floor_samples: int
    peers: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            return cls((10,), 1, 5, 20, args.peers)
        return cls((10, 100, 1000), args.reps, 50, 200, args.peers)

    def tasks(self) -> list[tuple[str, Request]]:
        """Every measurement of one round, as (side, request)."""
        sides = [(OURS, list(_ours.MODES))]
        if self.peers:
            sides.append((PEERS, list(PEER_MODES)))
        found: list[tuple[str, Request]] = []
        for side, modes in sides:
            found += [
                (side, {"kind": "run", "mode": mode, "n": n, "payload": payload})
                for n in self.sizes
                for payload in ("small", "large")
                for mode in modes
            ]
            found.append((side, {"kind": "resume", "mode": "sqlite", "n": self.sizes[-1]}))
            found += [
                (
                    side,
                    {
                        "kind": "concurrent",
                        "mode": mode,
                        "runs": self.concurrent_runs,
                        "nodes": CONCURRENT_NODES,
                    },
                )
                for mode in ("none", "sqlite")
            ]
        return found

    def warmup(self) -> list[tuple[str, Request]]:
        """The round's tasks at the smallest shapes, run once untimed before the rounds.

        The first run of each mode in a process pays for lazy imports and first-use set-up
        (model schemas, SQL statements); that is not a per-node cost.
        """
        small = min(self.sizes)
        found: list[tuple[str, Request]] = []
        for side, request in self.tasks():
            shrunk = {**request, "n": small} if "n" in request else {**request, "runs": 2}
            if (side, shrunk) not in found:
                found.append((side, shrunk))
        return found


def labels() -> dict[tuple[str, str], str]:
    found = {(OURS, name): mode.label for name, mode in _ours.MODES.items()}
    found.update({(PEERS, name): label for name, label in PEER_MODES.items()})
    return found


def run_rounds(
    plan: Plan, measure: dict[str, Callable[[Request], Sample]], base: Path, seed: int
) -> tuple[dict[str, list[Sample]], dict[str, list[float]]]:
    """Run every task once per round, shuffled, with one floor measurement among them."""
    results: dict[str, list[Sample]] = defaultdict(list)
    floor: dict[str, list[float]] = defaultdict(list)
    shuffler = random.Random(seed)
    floor_task = ("floor", {"kind": "floor", "mode": "floor"})
    for side, request in plan.warmup():
        measure[side](request)
    for round_number in range(1, plan.reps + 1):
        order = [*plan.tasks(), floor_task]
        shuffler.shuffle(order)
        started = time.perf_counter()
        for side, request in order:
            gc.collect()
            if side == "floor":
                for name, values in measure_floor(base, plan.floor_samples).items():
                    floor[name] += values
            else:
                results[task_key(side, request)].append(measure[side](request))
        took = time.perf_counter() - started
        print(
            f"round {round_number}/{plan.reps}: {len(order)} measurements in {took:.0f} s",
            file=sys.stderr,
        )
    return results, floor


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def baseline_runs_per_s(path: Path) -> float | None:
    """Our concurrent SQLite runs/s in an earlier results file, if there is one."""
    if not path.is_file():
        return None
    earlier = json.loads(path.read_text())
    for item in earlier.get("concurrency", []):
        if item.get("side") == OURS and item.get("mode") == "sqlite":
            value = item.get("runs_per_s")
            return float(value) if isinstance(value, int | float) else None
    return None


def meta(args: argparse.Namespace, plan: Plan, peers: dict[str, str], seconds: float) -> Document:
    now = datetime.now(UTC)
    return {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "host": socket.gethostname(),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "framework": framework.__version__,
        "framework_path": str(Path(framework.__file__).parent),
        "peers": peers,
        "reps": plan.reps,
        "quick": args.quick,
        "seed": args.seed,
        "sizes": list(plan.sizes),
        "concurrent_runs": plan.concurrent_runs,
        "seconds": seconds,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "note": args.note,
    }


def write_results(doc: Document, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", doc["meta"]["host"])
    dated = out / f"{datetime.now(UTC):%Y-%m-%d}-{host}.json"
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    for path in (dated, out / "latest.json"):
        path.write_text(text, encoding="utf-8")
    (out / "latest.md").write_text(render(doc) + "\n", encoding="utf-8")
    return dated


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", action="store_true", help="measure LangGraph side by side")
    parser.add_argument("--quick", action="store_true", help="N=10 only, 1 round (smoke test)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    parser.add_argument("--tmp", help="where the storage is created (default: system temp)")
    parser.add_argument("--seed", type=int, default=9, help="of the shuffled round order")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=HERE / "results" / "baseline.json",
        help="an earlier results file to compare the concurrent runs/s with",
    )
    parser.add_argument("--note", default="", help="a line to keep with the results")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan.from_args(args)
    base = base_folder(args.tmp)
    started = time.perf_counter()
    measure: dict[str, Callable[[Request], Sample]] = {
        OURS: lambda request: _ours.measure(request, base)
    }
    versions: dict[str, str] = {}
    if plan.peers:
        python = peer_python()
        versions = peer_versions(python)
        with PeerWorker(python, base) as worker:
            measure[PEERS] = worker.measure
            results, floor = run_rounds(plan, measure, base, args.seed)
    else:
        results, floor = run_rounds(plan, measure, base, args.seed)
    doc: Document = {"meta": meta(args, plan, versions, time.perf_counter() - started)}
    doc.update(
        summarise(labels(), plan.tasks(), results, floor, baseline_runs_per_s(args.baseline))
    )
    doc["floor_names"] = FLOOR_NAMES
    written = write_results(doc, args.out)
    print(render(doc))
    print(f"\nwritten: {written}, {args.out / 'latest.json'}, {args.out / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
