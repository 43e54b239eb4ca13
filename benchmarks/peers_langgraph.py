"""The peer side of the checkpoint benchmark: the same shapes in LangGraph.

Runs with the python of ``benchmarks/.venv-peers`` (LangGraph is never a dependency of the
project; ``checkpoint_overhead.py --peers`` creates that environment). A linear
``StateGraph`` of N nodes; "small" appends 100 bytes to a list channel with an
``operator.add`` reducer, "large" overwrites one channel with a fresh 100 KB string. Modes:
``none`` (compiled without a checkpointer), ``memory`` (``InMemorySaver``) and ``sqlite``
(``SqliteSaver``), both invoked with ``durability="sync"``, as ours commits before the next
node. The concurrency measure runs 50 ``ainvoke`` calls at once on one
``AsyncSqliteSaver``, LangGraph's way of sharing SQLite between concurrent runs in one
process.

``--serve`` answers one JSON request per line of stdin (how ``checkpoint_overhead.py``
interleaves both sides); without it every shape runs once and one JSON document is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from _common import (
    CONCURRENT_NODES,
    Request,
    Sample,
    StepClock,
    base_folder,
    bytes_on_disk,
    fresh_blob,
    make_folder,
    percentile,
    remove_folder,
    serve,
    small_item,
)
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph

MODES = ("none", "memory", "sqlite")


class SmallState(TypedDict):
    items: Annotated[list[str], operator.add]


class LargeState(TypedDict):
    blob: str


def payload_step(payload: str, clock: StepClock) -> Callable[[Any], dict[str, Any]]:
    """The node function: record the node boundary, then do the payload's one write."""

    def append(state: SmallState) -> dict[str, Any]:
        clock.tick()
        return {"items": [small_item()]}

    def overwrite(state: LargeState) -> dict[str, Any]:
        return {"blob": fresh_blob(clock.tick())}

    return append if payload == "small" else overwrite


def linear_graph(n: int, payload: str, step: Any) -> StateGraph[Any]:
    """``START -> n0 -> ... -> n{n-1} -> END``, every node ``step``."""
    graph: StateGraph[Any] = StateGraph(SmallState if payload == "small" else LargeState)
    for i in range(n):
        graph.add_node(f"n{i}", step)
    graph.add_edge(START, "n0")
    for i in range(n - 1):
        graph.add_edge(f"n{i}", f"n{i + 1}")
    graph.add_edge(f"n{n - 1}", END)
    return graph


def initial_input(payload: str) -> dict[str, Any]:
    return {"items": []} if payload == "small" else {"blob": ""}


def run_config(n: int, thread_id: str) -> RunnableConfig:
    return {"recursion_limit": n + 10, "configurable": {"thread_id": thread_id}}


def durability(saver: object) -> Literal["sync"] | None:
    """``"sync"`` with a saver; the default without one (LangGraph fails on "sync" then)."""
    return "sync" if saver is not None else None


def open_sqlite(folder: Path) -> SqliteSaver:
    return SqliteSaver(sqlite3.connect(folder / "lg.db", check_same_thread=False))


def measure_run(mode: str, n: int, payload: str, base: Path) -> Sample:
    """Run the N-node graph once on a fresh saver: time, step costs, bytes left on disk."""
    folder = make_folder(base, f"lg-{mode}-")
    saver: InMemorySaver | SqliteSaver | None = None
    try:
        if mode == "memory":
            saver = InMemorySaver()
        elif mode == "sqlite":
            saver = open_sqlite(folder)
        clock = StepClock()
        app = linear_graph(n, payload, payload_step(payload, clock)).compile(checkpointer=saver)
        config = run_config(n, "bench")
        started = time.perf_counter()
        app.invoke(initial_input(payload), config, durability=durability(saver))
        seconds = time.perf_counter() - started
        if len(clock.stamps) != n:
            raise RuntimeError(f"expected {n} nodes to run, {len(clock.stamps)} did")
        sample = {"seconds": seconds, **clock.tenths()}
        if mode == "sqlite":
            sample["bytes_on_disk"] = bytes_on_disk(folder)
        return sample
    finally:
        if isinstance(saver, SqliteSaver):
            saver.conn.close()
        remove_folder(folder)


def measure_resume(mode: str, n: int, base: Path) -> Sample:
    """Interrupt a run after n nodes, then time a fresh saver continuing it for one more.

    Timed: opening the saver, ``get_state``, ``invoke(None)`` running node n+1 to the end.
    Compiling the graph is not (it is reported apart as ``compile_seconds``).
    """
    if mode != "sqlite":
        raise ValueError("only a SqliteSaver run can be resumed by a fresh saver")
    folder = make_folder(base, "lg-resume-")
    last = f"n{n - 1}"
    config = run_config(n + 1, "resume")
    try:
        first = open_sqlite(folder)
        graph = linear_graph(n + 1, "small", payload_step("small", StepClock()))
        graph.compile(checkpointer=first, interrupt_after=[last]).invoke(
            initial_input("small"), config, durability="sync"
        )
        first.conn.close()
        opening = time.perf_counter()
        saver = open_sqlite(folder)
        opened = time.perf_counter()
        app = graph.compile(checkpointer=saver, interrupt_after=[last])
        compiled = time.perf_counter()
        state = app.get_state(config)
        got_state = time.perf_counter()
        result = app.invoke(None, config, durability="sync")
        finished = time.perf_counter()
        saver.conn.close()
        if state.next != (f"n{n}",) or len(result["items"]) != n + 1:
            raise RuntimeError(f"resume did not continue at n{n}: next was {state.next}")
        return {
            "seconds": (opened - opening) + (finished - compiled),
            "get_state_seconds": got_state - compiled,
            "compile_seconds": compiled - opened,
        }
    finally:
        remove_folder(folder)


async def concurrent_runs(mode: str, runs: int, nodes: int, folder: Path) -> Sample:
    clocks = {f"run-{index}": StepClock() for index in range(runs)}

    async def step(state: SmallState, config: RunnableConfig) -> dict[str, Any]:
        clocks[config["configurable"]["thread_id"]].tick()
        return {"items": [small_item()]}

    graph = linear_graph(nodes, "small", step)

    async def run_all(saver: AsyncSqliteSaver | None) -> float:
        app = graph.compile(checkpointer=saver)
        started = time.perf_counter()
        await asyncio.gather(
            *(
                app.ainvoke(
                    initial_input("small"), run_config(nodes, run_id), durability=durability(saver)
                )
                for run_id in clocks
            )
        )
        return time.perf_counter() - started

    if mode == "sqlite":
        async with AsyncSqliteSaver.from_conn_string(str(folder / "lg.db")) as saver:
            seconds = await run_all(saver)
    else:
        seconds = await run_all(None)
    steps = [step for clock in clocks.values() for step in clock.steps_us()]
    if len(steps) != runs * (nodes - 1):
        raise RuntimeError(f"expected {runs} runs of {nodes} nodes, got {len(steps)} steps")
    return {
        "seconds": seconds,
        "runs_per_s": runs / seconds,
        "p50_step_us": percentile(steps, 0.50),
        "p99_step_us": percentile(steps, 0.99),
    }


def measure_concurrent(mode: str, runs: int, nodes: int, base: Path) -> Sample:
    """``runs`` runs of an ``nodes``-node graph at once, one shared saver."""
    if mode not in ("none", "sqlite"):
        raise ValueError(f"no concurrency measure for mode {mode!r}")
    folder = make_folder(base, f"lg-concurrent-{mode}-")
    try:
        return asyncio.run(concurrent_runs(mode, runs, nodes, folder))
    finally:
        remove_folder(folder)


def measure(request: Request, base: Path) -> Sample:
    """Carry out one request (see :data:`~_common.Request`)."""
    mode, kind = request["mode"], request["kind"]
    if mode not in MODES:
        raise ValueError(f"unknown LangGraph mode {mode!r}")
    if kind == "run":
        return measure_run(mode, request["n"], request["payload"], base)
    if kind == "resume":
        return measure_resume(mode, request["n"], base)
    if kind == "concurrent":
        return measure_concurrent(mode, request["runs"], request["nodes"], base)
    raise ValueError(f"unknown measurement kind {kind!r}")


def every_shape(quick: bool) -> list[Request]:
    sizes = (10,) if quick else (10, 100, 1000)
    runs = 5 if quick else 50
    requests: list[Request] = [
        {"kind": "run", "mode": mode, "n": n, "payload": payload}
        for n in sizes
        for payload in ("small", "large")
        for mode in MODES
    ]
    requests.append({"kind": "resume", "mode": "sqlite", "n": sizes[-1]})
    requests += [
        {"kind": "concurrent", "mode": mode, "runs": runs, "nodes": CONCURRENT_NODES}
        for mode in ("none", "sqlite")
    ]
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="answer JSON requests on stdin")
    parser.add_argument("--quick", action="store_true", help="tiny shapes only")
    parser.add_argument("--tmp", help="where to create the storage (default: system temp)")
    args = parser.parse_args()
    base = base_folder(args.tmp)
    if args.serve:
        serve(lambda request: measure(request, base))
        return
    results = [{**request, **measure(request, base)} for request in every_shape(args.quick)]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
