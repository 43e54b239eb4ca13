"""From samples to figures: medians, per-node overhead, ratios against the targets, markdown.

Every figure is a median over the rounds. The extra cost per node of a mode is computed
per round, against the no-manager (or no-checkpointer) run of the same side, shape and
round, then the median of those is taken, so a round slowed by the machine cancels out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from _common import Request, Sample, median

__all__ = ["Target", "render", "summarise"]

Results = dict[str, list[Sample]]
Document = dict[str, Any]


def task_key(side: str, request: Request) -> str:
    """A stable name of one measurement, e.g. ``ours/run/sqlite/100/small``."""
    shape = [request.get(name) for name in ("n", "payload", "runs", "nodes")]
    parts = [side, request["kind"], request["mode"], *(str(v) for v in shape if v is not None)]
    return "/".join(parts)


def middle(samples: Sequence[Sample], name: str, scale: float = 1.0) -> float | None:
    values = [sample[name] * scale for sample in samples if name in sample]
    return median(values) if values else None


def run_figures(side: str, request: Request, label: str, results: Results) -> Document:
    samples = results[task_key(side, request)]
    reference = results[task_key(side, {**request, "mode": "none"})]
    n = request["n"]
    extras = [
        (sample["seconds"] - plain["seconds"]) / n * 1e6
        for sample, plain in zip(samples, reference, strict=True)
    ]
    flatness = [
        sample["last_tenth_us"] / sample["first_tenth_us"]
        for sample in samples
        if sample.get("first_tenth_us")
    ]
    return {
        "side": side,
        "mode": request["mode"],
        "label": label,
        "n": n,
        "payload": request["payload"],
        "median_ms": middle(samples, "seconds", 1e3),
        "extra_us_per_node": median(extras) if request["mode"] != "none" else 0.0,
        "first_tenth_us": middle(samples, "first_tenth_us"),
        "last_tenth_us": middle(samples, "last_tenth_us"),
        "last_over_first": median(flatness) if flatness else None,
        "bytes_on_disk": middle(samples, "bytes_on_disk"),
        "samples": samples,
    }


def resume_figures(side: str, request: Request, label: str, results: Results) -> Document:
    samples = results[task_key(side, request)]
    return {
        "side": side,
        "mode": request["mode"],
        "label": label,
        "n": request["n"],
        "median_ms": middle(samples, "seconds", 1e3),
        "get_state_ms": middle(samples, "get_state_seconds", 1e3),
        "samples": samples,
    }


def concurrency_figures(side: str, request: Request, label: str, results: Results) -> Document:
    samples = results[task_key(side, request)]
    return {
        "side": side,
        "mode": request["mode"],
        "label": label,
        "runs": request["runs"],
        "nodes": request["nodes"],
        "runs_per_s": middle(samples, "runs_per_s"),
        "p50_step_ms": middle(samples, "p50_step_us", 1e-3),
        "p99_step_ms": middle(samples, "p99_step_us", 1e-3),
        "samples": samples,
    }


@dataclass(frozen=True)
class Target:
    """One target of the issue: the figure compared, its reference, and the goal."""

    name: str
    unit: str
    ours: float | None
    reference: float | None
    reference_name: str
    measured: float | None
    """What the goal applies to: the ratio ours / reference, or ours itself."""
    goal: str
    met: bool | None

    def as_json(self) -> Document:
        return dict(self.__dict__)


def _find(items: list[Document], **fields: Any) -> Document | None:
    return next((i for i in items if all(i.get(k) == v for k, v in fields.items())), None)


def _figure(item: Document | None, name: str) -> float | None:
    value = None if item is None else item.get(name)
    return float(value) if isinstance(value, int | float) else None


def _ratio(ours: float | None, reference: float | None) -> float | None:
    if ours is None or reference is None or reference == 0:
        return None
    return ours / reference


def _target(
    name: str,
    unit: str,
    ours: float | None,
    reference: float | None,
    reference_name: str,
    goal: str,
    limit: float,
    *,
    ratio: bool = True,
    at_least: bool = False,
) -> Target:
    """A target whose goal is ``measured <= limit`` (``>=`` with ``at_least``)."""
    measured = _ratio(ours, reference) if ratio else ours
    met = None if measured is None else (measured >= limit if at_least else measured <= limit)
    return Target(name, unit, ours, reference, reference_name, measured, goal, met)


def _megabytes(value: float | None) -> float | None:
    return None if value is None else value / 1e6


def targets(doc: Document, mid: int, big: int, baseline: float | None) -> list[Target]:
    """The issue's targets, from the figures of this run (and a baseline run's runs/s)."""
    runs, resumes, crowds = doc["runs"], doc["resume"], doc["concurrency"]

    def run(side: str, mode: str, n: int, name: str) -> float | None:
        return _figure(_find(runs, side=side, mode=mode, n=n, payload="small"), name)

    def resume(side: str) -> float | None:
        return _figure(_find(resumes, side=side, mode="sqlite"), "median_ms")

    extra, flat, size = "extra_us_per_node", "last_over_first", "bytes_on_disk"
    sqlite_saver, memory_saver = "LangGraph SqliteSaver", "LangGraph InMemorySaver"
    return [
        _target(
            f"SQLite default, N={mid} small: extra per node vs SqliteSaver sync",
            "µs",
            run("ours", "sqlite", mid, extra),
            run("langgraph", "sqlite", mid, extra),
            sqlite_saver,
            "ratio ≤ 0.1",
            0.1,
        ),
        _target(
            f"memory://, N={mid} small: extra per node vs InMemorySaver",
            "µs",
            run("ours", "memory", mid, extra),
            run("langgraph", "memory", mid, extra),
            memory_saver,
            "ratio ≤ 0.2",
            0.2,
        ),
        _target(
            f"power-loss durable, N={mid} small: extra per node vs one write + fsync",
            "µs",
            run("ours", "sqlite-fsync", mid, extra),
            doc["floor"].get("fsync_write_us"),
            "write + fsync floor",
            "ratio ≤ 1.5",
            1.5,
        ),
        _target(
            f"flat cost, N={big} small: last / first tenth step cost (SQLite)",
            "x",
            run("ours", "sqlite", big, flat),
            run("langgraph", "sqlite", big, flat),
            sqlite_saver,
            "≤ 1.2",
            1.2,
            ratio=False,
        ),
        _target(
            f"bytes on disk after N={big} small (SQLite)",
            "MB",
            _megabytes(run("ours", "sqlite", big, size)),
            _megabytes(run("langgraph", "sqlite", big, size)),
            sqlite_saver,
            "≤ 1 MB",
            1.0,
            ratio=False,
        ),
        _target(
            f"resume at N={big} (SQLite)",
            "ms",
            resume("ours"),
            resume("langgraph"),
            sqlite_saver,
            "≤ 2 ms",
            2.0,
            ratio=False,
        ),
        _target(
            "concurrent 20-node runs on SQLite: runs/s vs the baseline run",
            "runs/s",
            _figure(_find(crowds, side="ours", mode="sqlite"), "runs_per_s"),
            baseline,
            "baseline run",
            "ratio ≥ 10",
            10.0,
            at_least=True,
        ),
    ]


def summarise(
    labels: dict[tuple[str, str], str],
    tasks: list[tuple[str, Request]],
    results: Results,
    floor: dict[str, list[float]],
    baseline_runs_per_s: float | None,
) -> Document:
    """The JSON document of a run (without its ``meta``)."""
    doc: Document = {"runs": [], "resume": [], "concurrency": [], "floor": {}}
    figures = {"run": run_figures, "resume": resume_figures, "concurrent": concurrency_figures}
    sections = {"run": "runs", "resume": "resume", "concurrent": "concurrency"}
    for side, request in tasks:
        kind = request["kind"]
        label = labels[(side, request["mode"])]
        doc[sections[kind]].append(figures[kind](side, request, label, results))
    doc["floor"] = {name: median(values) for name, values in floor.items()}
    doc["floor_samples"] = {name: len(values) for name, values in floor.items()}
    sizes = sorted({item["n"] for item in doc["runs"]})
    mid = 100 if 100 in sizes else sizes[-1]
    doc["targets"] = [t.as_json() for t in targets(doc, mid, sizes[-1], baseline_runs_per_s)]
    return doc


# --- markdown -----------------------------------------------------------------------------


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _by_mode(doc: Document, name: str, digits: int) -> list[str]:
    shapes = sorted({(i["payload"] != "small", i["n"]) for i in doc["runs"]})
    header = ["mode", *(f"N={n} {'large' if large else 'small'}" for large, n in shapes)]
    rows = []
    for label in dict.fromkeys(i["label"] for i in doc["runs"]):
        cells = [label]
        for large, n in shapes:
            payload = "large" if large else "small"
            item = _find(doc["runs"], label=label, n=n, payload=payload)
            cells.append(_number(None if item is None else item[name], digits))
        rows.append(cells)
    return _table(header, rows)


def _flatness(doc: Document) -> list[str]:
    big = max(i["n"] for i in doc["runs"])
    rows = [
        [
            i["label"],
            _number(i["first_tenth_us"]),
            _number(i["last_tenth_us"]),
            _number(i["last_over_first"], 2),
        ]
        for i in doc["runs"]
        if i["n"] == big and i["payload"] == "small" and i["first_tenth_us"] is not None
    ]
    header = ["mode", "first tenth µs/step", "last tenth µs/step", "last / first"]
    return [
        f"Step cost at N={big} small (time between consecutive nodes):",
        "",
        *_table(header, rows),
    ]


def _disk(doc: Document) -> list[str]:
    big = max(i["n"] for i in doc["runs"])
    rows = []
    for label in dict.fromkeys(i["label"] for i in doc["runs"] if i["bytes_on_disk"]):
        cells = [label]
        for payload in ("small", "large"):
            item = _find(doc["runs"], label=label, n=big, payload=payload)
            size = None if item is None or item["bytes_on_disk"] is None else item["bytes_on_disk"]
            cells.append(_number(None if size is None else size / 1e6, 2))
        rows.append(cells)
    header = ["mode", f"N={big} small, MB", f"N={big} large, MB"]
    return [
        "Bytes on disk after the run (all files, SQLite -wal included):",
        "",
        *_table(header, rows),
    ]


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _heading(meta: Document) -> list[str]:
    """The title and the line saying when, where and how the figures were measured."""
    details = [
        f"{meta['nproc']} CPUs ({meta['cpu']})",
        f"Python {meta['python']}",
        f"{meta['reps']} interleaved rounds",
        _duration(meta["seconds"]),
        "peers: " + ", ".join(f"{k} {v}" for k, v in meta["peers"].items())
        if meta["peers"]
        else "no peers",
    ]
    if meta.get("load_average"):
        details.append(f"load average at the end {meta['load_average'][0]:.1f}")
    note = f". {meta['note']}" if meta.get("note") else ""
    title = f"# Checkpoint overhead — {meta['date']} on {meta['host']}"
    return [title, "", "; ".join(details) + note, ""]


def render(doc: Document) -> str:
    """The markdown report of a run."""
    out = [
        *_heading(doc["meta"]),
        "Targets (issue 9):",
        "",
    ]
    out += _table(
        ["figure", "ours", "reference", "measured", "goal", "met"],
        [
            [
                t["name"],
                f"{_number(t['ours'], 2)} {t['unit']}",
                f"{_number(t['reference'], 2)} ({t['reference_name']})",
                _number(t["measured"], 3),
                t["goal"],
                _number(t["met"]),
            ]
            for t in doc["targets"]
        ],
    )
    out += ["Extra µs per node over the no-manager run of the same round (median):", ""]
    out += _by_mode(doc, "extra_us_per_node", 0)
    out += ["Median run time, ms:", ""]
    out += _by_mode(doc, "median_ms", 1)
    out += _flatness(doc)
    out += _disk(doc)
    out += ["Resume (open storage, load the latest checkpoint, run one more node):", ""]
    out += _table(
        ["mode", "N", "ms", "of which get_state, ms"],
        [
            [i["label"], str(i["n"]), _number(i["median_ms"], 2), _number(i["get_state_ms"], 2)]
            for i in doc["resume"]
        ],
    )
    out += ["Disk floor, measured in the same run (median µs):", ""]
    floor_names = doc.get("floor_names", {})
    out += _table(
        ["operation", "µs"],
        [[floor_names.get(name, name), _number(value, 1)] for name, value in doc["floor"].items()],
    )
    out += ["Concurrent runs in one process (one shared manager / saver):", ""]
    out += _table(
        ["mode", "runs x nodes", "runs/s", "p50 step ms", "p99 step ms"],
        [
            [
                i["label"],
                f"{i['runs']} x {i['nodes']}",
                _number(i["runs_per_s"], 1),
                _number(i["p50_step_ms"], 2),
                _number(i["p99_step_ms"], 2),
            ]
            for i in doc["concurrency"]
        ],
    )
    return "\n".join(out)
