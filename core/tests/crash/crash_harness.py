"""Kill a child process again and again until its durable run completes, then check the logs.

A *life* is one child process. The parent kills it either with SIGKILL after a random delay
(seeded, so a failure can be replayed from its seed) or through a storage fault point
(``AGENTGRAPH_FAULT_POINT`` / ``AGENTGRAPH_FAULT_COUNTDOWN``), so it also dies in the
middle of checkpoint and ledger writes. After each life the parent appends a
``--- life N rc R`` marker to the node log (the child is dead by then), which splits the
log into lives for the checks below.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.testing.postgres_server import fresh_schema

CHILD = Path(__file__).parent / "crash_child.py"
KILLED = -signal.SIGKILL
_MARKER = re.compile(r"^--- life (\d+) rc (-?\d+)$")
_LOADED = re.compile(r"^loaded (\S+) corrupt \[(.*)\]$", re.M)


@dataclass
class Life:
    """One child process: how it ended and what it printed."""

    index: int
    how: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == KILLED


@dataclass
class Scenario:
    """One durable run (``run_id``) in its own folder: database, logs and result file."""

    mode: str
    folder: Path
    storage: str = "sqlite"
    run_id: str = "crash-run"
    node_delay: float = 0.02
    lives: list[Life] = field(default_factory=list)
    postgres_url: str = ""

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in ("nodes.log", "calls.log", "effects.log"):
            (self.folder / name).touch()
        if self.storage == "postgres":
            self.postgres_url = fresh_schema()[1]

    @property
    def storage_url(self) -> str:
        """``sqlite``: one database file; ``file``: the file backend's folder; ``postgres``: a
        schema of its own on the tests' server."""
        if self.storage == "file":
            return f"file://{self.folder / 'store'}"
        if self.storage == "postgres":
            return self.postgres_url
        return f"sqlite://{self.folder / 'state.db'}"

    @property
    def node_log(self) -> Path:
        return self.folder / "nodes.log"

    @property
    def kills(self) -> int:
        return sum(life.killed for life in self.lives)

    def report(self) -> dict[str, Any]:
        return json.loads((self.folder / "out.json").read_text(encoding="utf-8"))

    def text(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")

    def live(
        self, *, kill_after: float | None = None, fault: tuple[str, int] | None = None
    ) -> Life:
        """Run one child; kill it ``kill_after`` seconds after it is ready, or let a fault
        point kill it, or let it finish."""
        env = {
            **os.environ,
            "CRASH_NODE_LOG": str(self.node_log),
            "CRASH_CALL_LOG": str(self.folder / "calls.log"),
            "CRASH_EFFECT_LOG": str(self.folder / "effects.log"),
            "CRASH_NODE_DELAY": str(self.node_delay),
        }
        env.pop("AGENTGRAPH_FAULT_POINT", None)
        how = "left to finish"
        if fault is not None:
            env["AGENTGRAPH_FAULT_POINT"], countdown = fault[0], fault[1]
            env["AGENTGRAPH_FAULT_COUNTDOWN"] = str(countdown)
            how = f"fault point {fault[0]} at hit {countdown}"
        command = [
            sys.executable,
            str(CHILD),
            self.mode,
            "--storage",
            self.storage_url,
            "--home",
            str(self.folder / "home"),
            "--run-id",
            self.run_id,
            "--out",
            str(self.folder / "out.json"),
        ]
        child = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        watchdog = threading.Timer(60, child.kill)
        watchdog.start()
        try:
            head = _read_until_ready(child)
            if kill_after is not None:
                how = f"SIGKILL {kill_after:.3f}s after ready"
                time.sleep(kill_after)
                child.send_signal(signal.SIGKILL)
            rest, stderr = child.communicate()
        finally:
            watchdog.cancel()
        life = Life(len(self.lives), how, child.returncode, head + rest, stderr)
        with self.node_log.open("a", encoding="utf-8") as log:
            log.write(f"--- life {life.index} rc {life.returncode}\n")
        self.lives.append(life)
        return life

    def describe(self) -> str:
        """Every life, for a failure message."""
        return "\n".join(
            f"life {life.index}: {life.how} -> rc {life.returncode}" for life in self.lives
        )


def _read_until_ready(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    seen = []
    for line in child.stdout:
        seen.append(line)
        if line.strip() == "ready":
            break
    return "".join(seen)


def crash_until_complete(
    scenario: Scenario,
    rng: random.Random,
    *,
    kills: int,
    max_delay: float,
    fault_points: tuple[str, ...],
    fault_share: float,
    max_countdown: int,
) -> None:
    """Kill ``scenario``'s child up to ``kills`` times, restarting it until its run completes.

    Each life after the kills are spent is left to finish. A life that ends other than by
    SIGKILL or success fails the test with its stderr.
    """
    while len(scenario.lives) < kills + 20:
        fault = kill_after = None
        if scenario.kills < kills:
            # Until one kill has landed inside a write, aim every life at a fault point
            # early enough in the run that it is surely reached.
            faulted = any(
                life.killed and life.how.startswith("fault point") for life in scenario.lives
            )
            if fault_points and (not faulted or rng.random() < fault_share):
                limit = max_countdown if faulted else min(max_countdown, 10)
                fault = (rng.choice(fault_points), rng.randint(1, limit))
            else:
                kill_after = rng.uniform(0.0, max_delay)
        life = scenario.live(kill_after=kill_after, fault=fault)
        if life.returncode == 0:
            return
        assert life.killed, f"life {life.index} ({life.how}) failed:\n{life.stderr}"
    raise AssertionError(f"the run never completed:\n{scenario.describe()}")


@dataclass
class Segment:
    """The node-log lines of one life: ``(event, node)`` pairs, and whether it was killed."""

    events: list[tuple[str, str]]
    killed: bool

    @property
    def last_started(self) -> str | None:
        starts = [node for event, node in self.events if event == "start"]
        return starts[-1] if starts else None

    @property
    def dangling(self) -> bool:
        """Killed while its last started node had not logged ``done``."""
        return bool(self.events) and self.events[-1][0] == "start"


def segments(node_log: str) -> list[Segment]:
    found: list[Segment] = []
    events: list[tuple[str, str]] = []
    for line in node_log.splitlines():
        if marker := _MARKER.match(line):
            found.append(Segment(events, int(marker[2]) == KILLED))
            events = []
            continue
        event, node = line.split()
        events.append((event, node))
    assert not events, f"log lines after the last life marker: {events}"
    return found


def check_exactly_once(node_log: str, order: list[str]) -> list[str]:
    """Problems with the node log of a crashed-and-recovered run (empty: none).

    Every node logged ``done`` exactly once, except that a node in flight when a life was
    killed (its last started node) may have run again in the next life; each life logs
    start/done pairs in order; each life continues where the previous one stopped.
    """
    problems = []
    lives = segments(node_log)
    following = dict(itertools.pairwise(order))
    previous: Segment | None = None
    for number, life in enumerate(lives):
        pairs = life.events[:-1] if life.dangling else life.events
        expected = [(kind, node) for _, node in pairs[::2] for kind in ("start", "done")]
        if pairs != expected or (life.dangling and not life.killed):
            problems.append(f"life {number} logged out of order: {life.events}")
        if not life.events:
            continue
        first = life.events[0][1]
        if previous is None:
            allowed = {order[0]}
        elif previous.dangling:
            allowed = {previous.last_started}
        else:
            allowed = {previous.last_started, following.get(previous.last_started or "")}
        if first not in allowed:
            problems.append(f"life {number} started at {first}, expected one of {allowed}")
        previous = life
    done = Counter(node for life in lives for event, node in life.events if event == "done")
    for node in order:
        reruns = sum(
            1
            for life in lives
            if life.killed and life.last_started == node and ("done", node) in life.events
        )
        if not 1 <= done[node] <= 1 + reruns:
            problems.append(f"{node} done {done[node]} times (in flight at {reruns} kills)")
    unknown = set(done) - set(order)
    if unknown:
        problems.append(f"unexpected nodes ran: {sorted(unknown)}")
    return problems


def in_flight_nodes(node_log: str) -> Counter[str]:
    """How many kills each node was in flight at."""
    return Counter(
        life.last_started for life in segments(node_log) if life.killed and life.last_started
    )


def check_loaded_checkpoints(lives: list[Life]) -> list[str]:
    """Each life's checkpoint to resume from was one that verifies intact."""
    problems = []
    for life in lives:
        for loaded, corrupt in _LOADED.findall(life.stdout):
            corrupt_seqs = {part.strip() for part in corrupt.split(",") if part.strip()}
            if loaded in corrupt_seqs:
                problems.append(f"life {life.index} would load corrupt checkpoint {loaded}")
    return problems


def done_order(node_log: str) -> list[str]:
    """Nodes in the order they first logged ``done``."""
    seen: list[str] = []
    for line in node_log.splitlines():
        if line.startswith("done ") and line.split()[1] not in seen:
            seen.append(line.split()[1])
    return seen


def effect_lines(text: str, kind: str) -> list[tuple[str, str]]:
    """``(effect key, idempotency key)`` of each ``kind`` line of an effects or calls log."""
    return [
        (key, idem)
        for line_kind, key, idem in map(str.split, text.splitlines())
        if line_kind == kind
    ]


def check_effects(scenario: Scenario, keys: list[str]) -> list[str]:
    """Problems with the effects of a finished run whose effects are ``keys`` (empty: none).

    Each effect applied exactly once per idempotency key by the receipt service, and each
    of ``keys`` applied; each called with one idempotency key, and called again only as
    often as its node (or step) was in flight at a kill; the ledger holds each completed.
    """
    problems = []
    applied = effect_lines(scenario.text("effects.log"), "effect")
    calls = effect_lines(scenario.text("calls.log"), "call")
    per_idempotency_key = Counter(idem for _, idem in applied)
    problems += [f"{idem} applied {n} times" for idem, n in per_idempotency_key.items() if n > 1]
    if sorted(key for key, _ in applied) != sorted(keys):
        problems.append(f"applied effects {sorted(applied)}, expected each of {keys}")
    in_flight = in_flight_nodes(scenario.text("nodes.log"))
    for key in keys:
        keys_used = {idem for call_key, idem in calls if call_key == key}
        if len(keys_used) != 1:
            problems.append(f"{key} was called with idempotency keys {keys_used}")
        count = sum(call_key == key for call_key, _ in calls)
        if count > 1 + in_flight[key.split(":")[0]]:
            problems.append(f"{key} called {count} times, in flight at fewer kills")
    ledger = scenario.report()["effects"]
    if sorted(e["key"] for e in ledger) != sorted(keys):
        problems.append(f"ledger holds {[e['key'] for e in ledger]}")
    problems += [
        f"ledger: {e['key']} is {e['status']}" for e in ledger if e["status"] != "completed"
    ]
    return problems


@dataclass
class Campaign:
    """Kill fresh scenarios of one mode until enough kills landed, checking each run.

    ``expected`` is the report of an uninterrupted run: every crashed run must end with
    the same output, each node (or step) of ``order`` done exactly once but for the one in
    flight at a kill, each effect of ``effect_keys`` applied once, and no corrupt
    checkpoint loaded.
    """

    mode: str
    root: Path
    seed: int
    order: list[str]
    effect_keys: list[str]
    expected: dict[str, Any]
    storage: str = "sqlite"
    scenarios: list[Scenario] = field(default_factory=list)

    def run(
        self,
        *,
        kills: int,
        max_delay: float,
        fault_points: tuple[str, ...],
        max_countdown: int,
    ) -> int:
        """Crash scenarios until ``kills`` kills landed; return how many landed."""
        rng = random.Random(self.seed)
        landed = 0
        while landed < kills:
            name = f"crashed-{len(self.scenarios)}"
            scenario = Scenario(self.mode, self.root / name, self.storage)
            self.scenarios.append(scenario)
            crash_until_complete(
                scenario,
                rng,
                kills=kills - landed,
                max_delay=max_delay,
                fault_points=fault_points,
                fault_share=0.35,
                max_countdown=max_countdown,
            )
            landed += scenario.kills
            self.check(scenario)
        return landed

    def check(self, scenario: Scenario) -> None:
        context = f"seed {self.seed}, {self.storage} {scenario.folder.name}:\n{scenario.describe()}"
        report = scenario.report()
        node_log = scenario.text("nodes.log")
        assert report["success"], f"{report['error']}\n{context}"
        assert report["status"] == "completed", context
        assert check_exactly_once(node_log, self.order) == [], f"{node_log}\n{context}"
        assert done_order(node_log) == self.order, context
        assert check_effects(scenario, self.effect_keys) == [], context
        assert report["output"] == self.expected["output"], context
        assert check_loaded_checkpoints(scenario.lives) == [], context
        assert report["corrupt"] == [], context
        assert report["final_kind"] == "final", context

    def killed_inside_a_write(self) -> bool:
        return any(
            life.how.startswith("fault point") and life.killed
            for scenario in self.scenarios
            for life in scenario.lives
        )
