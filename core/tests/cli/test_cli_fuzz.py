"""Hundreds of malformed agent folders through `agentgraph validate` and `agentgraph run`.

Each case is a deterministic mutation of the document triage example: wrong types, missing
fields, huge values, deep nesting, unicode, duplicate ids, references to missing nodes,
injection attempts in conditions, routes and criteria, damaged files, and a functions.py
that misbehaves. Whatever the folder holds, each command ends with exit 0 or 1; one that
fails says so in exactly one ``error:`` line on stderr (the only other lines allowed there
are the retry notes), never a traceback or an internal error; an agent that validate
refuses is never run; the run writes only into its storage root and AGENTGRAPH_HOME, and
nothing at all into the agent folder (no ``__pycache__``) or the working directory.

The commands run in this process through ``framework.cli.main.main``, as the console
script calls it, to keep several hundred of them fast; retries wait no time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from framework.graph import executor
from framework.graph.retry import RetryPolicy

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "agents" / "document_triage"
SPEC: dict[str, Any] = json.loads((EXAMPLE / "agent.json").read_text())
FUNCTIONS = (EXAMPLE / "functions.py").read_text()
DOCUMENT = json.dumps({"document": "Invoice no. 9 from: Big Co. Total: $25,000.00 bill to: Us"})
CASES_PER_KIND = 30  # each list of injections, damages and bad functions is used in full
CANARY = "@CANARY@"  # replaced by a path in the case's folder that nothing may create

WRONG_TYPES: list[Any] = [None, True, 0, -1, 1.5, "", "x", [], {}, [1, "a"], {"a": 1}]
HUGE: list[Any] = [
    10**4000,
    -(2**64),
    1e308,
    -1e308,
    "x" * 100_000,
    ["n"] * 5_000,
    {f"k{i}": i for i in range(2_000)},
]
UNICODE = [
    "ünïcødé",
    "\u202eevil",
    "😀",
    "\ud800",
    "\x00",
    "a\nb\rc",
    "../../etc/passwd",
    "${HOME}",
    "%s%n",
    "[bold]markup[/bold]",
    "\ufeff",
    "\uff44\uff4f\uff43_type",
    " ",
]
INJECTIONS = [
    f"__import__('os').system('touch {CANARY}')",
    f"open('{CANARY}', 'w').write('x')",
    "().__class__.__base__.__subclasses__()",
    "doc_type.__class__.__mro__[1].__subclasses__()",
    f"[c for c in ().__class__.__base__.__subclasses__()][0](['touch', '{CANARY}'])",
    "lambda: 1",
    "exec('import os')",
    "eval('1 + 1')",
    "globals()",
    "__builtins__",
    "(lambda f: f(f))(lambda f: f(f))",
    "doc_type == 'invoice' or __import__('os')",
    "amount > 10000; import os",
    "f'{__import__(\"os\")}'",
    "getattr(amount, '__class__')",
    "amount.__class__",
    "[x for x in range(10 ** 9)]",
    "9 ** 9 ** 9",
    "'a' * 10000 * 10000 * 20",
    "[0] * 10 ** 8",
    "(" * 500 + "1" + ")" * 500,
    "1 + " * 3000 + "1",
    "amount\x00 > 1",
    "\uff44\uff4f\uff43_type == 'invoice'",
    "_secret",
    "memory['__class__']",
    "yield 1",
    "await x",
    "",
    "   ",
]
BAD_FUNCTIONS = [
    "def broken(:\n",
    "raise RuntimeError('cannot import me')\n",
    "import sys\nsys.exit(3)\n",
    "FUNCTIONS = 5\n",
    "FUNCTIONS = {'normalize_text': 42}\n",
    "FUNCTIONS = {7: print}\n",
    "normalize_text = 'not a function'\n",
    "def normalize_text(document):\n    return object()\n",
    "def normalize_text(document):\n    return {1, 2, 3}\n",
    "def normalize_text(document):\n    raise ValueError('bad ' * 1000)\n",
    "def normalize_text(document):\n    return normalize_text(document)\n",
    "def normalize_text():\n    return {'text': 'x', 'word_count': 1}\n",
    "def normalize_text(document):\n    return {'text': 'x' * 2_000_000, 'word_count': 1}\n",
    "def normalize_text(document):\n    yield 1\n",
    "async def normalize_text(document):\n    raise KeyboardInterrupt\n",
    "def normalize_text(document):\n    raise SystemExit(4)\n",
    "def normalize_text(document):\n    return {'text': float('nan'), 'word_count': 10**5000}\n",
    "import os\ndef normalize_text(document):\n    return {'text': os, 'word_count': 1}\n",
    "def classify_document(text):\n    return 'not a dict'\n",
    "def extract_invoice_fields(text):\n    return {'invoice': None, 'amount': 'lots'}\n",
]


Where = tuple[str | int, ...]
Mutation = Callable[[random.Random, Any], tuple[str, Any]]
"""Changes a parsed agent.json: returns a label and the changed copy."""
Kind = Callable[[random.Random, int], tuple[str, dict[str, bytes]]]
"""Makes the ``turn``-th case of one kind of damage: a label and the folder's files."""


@dataclass(frozen=True)
class Case:
    """One malformed agent folder: its files by name, as written."""

    number: int
    label: str
    files: dict[str, bytes]


# --- mutations of the parsed agent.json ---------------------------------------------------


def places(value: Any, prefix: Where = ()) -> Iterator[Where]:
    """The path to every value inside ``value`` (not ``value`` itself)."""
    if isinstance(value, dict):
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return
    for key, child in children:
        yield (*prefix, key)
        yield from places(child, (*prefix, key))


def at(value: Any, where: Where) -> Any:
    for part in where:
        value = value[part]
    return value


def copied(spec: Any) -> Any:
    return json.loads(json.dumps(spec))


def replaced(spec: Any, where: Where, new: Any) -> Any:
    copy = copied(spec)
    at(copy, where[:-1])[where[-1]] = new
    return copy


def some_place(rng: random.Random, spec: Any, keep: Callable[[Any], bool] = bool) -> Where:
    candidates = [where for where in places(spec) if keep(at(spec, where))]
    return rng.choice(candidates or list(places(spec)))


def wrong_type(rng: random.Random, spec: Any) -> tuple[str, Any]:
    where = some_place(rng, spec, lambda _: True)
    new = rng.choice([v for v in WRONG_TYPES if type(v) is not type(at(spec, where))])
    return f"{where} = {new!r}", replaced(spec, where, new)


def missing_field(rng: random.Random, spec: Any) -> tuple[str, Any]:
    where = some_place(rng, spec, lambda _: True)
    copy = copied(spec)
    del at(copy, where[:-1])[where[-1]]
    return f"del {where}", copy


def huge_value(rng: random.Random, spec: Any) -> tuple[str, Any]:
    where = some_place(rng, spec, lambda v: not isinstance(v, dict | list))
    new = rng.choice(HUGE)
    return f"{where} = huge {type(new).__name__}", replaced(spec, where, new)


def unicode_text(rng: random.Random, spec: Any) -> tuple[str, Any]:
    if rng.random() < 0.3:
        where = some_place(rng, spec, lambda v: isinstance(v, dict) and bool(v))
        parent = at(spec, where)
        key = rng.choice(list(parent))
        suffix = rng.choice(UNICODE)
        renamed = {(k + suffix if k == key else k): v for k, v in parent.items()}
        return f"{where}.{key} renamed", replaced(spec, where, renamed)
    where = some_place(rng, spec, lambda v: isinstance(v, str))
    new, old = rng.choice(UNICODE), at(spec, where)
    value = rng.choice([new, f"{old}{new}", f"{new}{old}"]) if isinstance(old, str) else new
    return f"{where} = {value!r}", replaced(spec, where, value)


def duplicate_id(rng: random.Random, spec: Any) -> tuple[str, Any]:
    section = rng.choice(["nodes", "edges"])
    items = spec["graph"][section]
    twin_of = rng.choice(items)
    twin = {**rng.choice(items), "id": twin_of["id"]}
    return f"duplicate {section} id {twin_of['id']!r}", replaced(
        spec, ("graph", section), [*items, twin]
    )


def missing_node(rng: random.Random, spec: Any) -> tuple[str, Any]:
    ghost = rng.choice(["ghost", "", "normalize ", "NORMALIZE", "ünknown", "../x", "\x00"])
    graph = spec["graph"]
    ends = [
        ("graph", "edges", i, end)
        for i in range(len(graph["edges"]))
        for end in ("source", "target")
    ]
    routes = [("graph", "nodes", 2, "routes", label) for label in graph["nodes"][2]["routes"]]
    terminals = [("graph", "terminal_nodes", i) for i in range(len(graph["terminal_nodes"]))]
    where = rng.choice([("graph", "entry_node"), *terminals, *ends, *routes])
    copy = replaced(spec, where, ghost)
    if rng.random() < 0.3:
        copy["graph"]["pause_nodes"] = [ghost]
    return f"{where} = {ghost!r}", copy


def injection(rng: random.Random, spec: Any, source: str | None = None) -> tuple[str, Any]:
    source = rng.choice(INJECTIONS) if source is None else source
    copy = copied(spec)
    place = rng.choice(["edge", "route", "criterion", "new edge"])
    if place == "edge":
        rng.choice(copy["graph"]["edges"]).update(condition="conditional", condition_expr=source)
    elif place == "route":
        copy["graph"]["nodes"][2]["routes"] = {
            source: "extract_invoice",
            "default": "manual_review",
        }
    elif place == "criterion":
        copy["goal"]["success_criteria"][0]["expression"] = source
    else:
        edge = {"id": "injected", "source": "normalize", "target": "classify"}
        copy["graph"]["edges"].insert(
            0, {**edge, "condition": "conditional", "condition_expr": source, "priority": 9}
        )
    return f"{place}: {source[:60]!r}", copy


def combined(rng: random.Random, spec: Any) -> tuple[str, Any]:
    first_label, first = rng.choice([wrong_type, missing_field, unicode_text, missing_node])(
        rng, spec
    )
    second_label, second = rng.choice([wrong_type, missing_field, injection, duplicate_id])(
        rng, first
    )
    return f"{first_label} and {second_label}", second


# --- mutations of the files ----------------------------------------------------------------


def agent_files(spec_text: str | bytes, functions: str = FUNCTIONS) -> dict[str, bytes]:
    text = spec_text if isinstance(spec_text, bytes) else spec_text.encode("utf-8", "surrogatepass")
    return {"agent.json": text, "functions.py": functions.encode()}


def deep_nesting(rng: random.Random, turn: int) -> tuple[str, dict[str, bytes]]:
    where = some_place(rng, SPEC, lambda _: True)
    depth = rng.choice([50, 300, 999, 5_000])
    opening, closing = ("[", "]") if rng.random() < 0.5 else ('{"k": ', "}")
    # json.dumps cannot write thousands of levels: the nesting is spliced in as text.
    inner = opening * depth + json.dumps(at(SPEC, where)) + closing * depth
    text = json.dumps(replaced(SPEC, where, "@NESTED@")).replace('"@NESTED@"', inner, 1)
    return f"{where} nested {depth} deep", agent_files(text)


def damaged_file(rng: random.Random, turn: int) -> tuple[str, dict[str, bytes]]:
    text = json.dumps(SPEC, indent=2)
    entry = '"entry_node": "normalize"'
    damages: dict[str, Callable[[], bytes | str]] = {
        "truncated": lambda: text[: rng.randrange(len(text))],
        "empty": lambda: "",
        "random bytes": lambda: rng.randbytes(rng.randrange(1, 400)),
        "not utf-8": lambda: text.encode().replace(b"Normalize", b"\xff\xfeNorm"),
        "byte order mark": lambda: "\ufeff" + text,
        "a list": lambda: json.dumps([SPEC]),
        "null": lambda: "null",
        "NaN": lambda: text.replace('"max_retries": 0', '"max_retries": NaN', 1),
        "Infinity": lambda: text.replace('"priority": 2', '"priority": Infinity', 1),
        "5000 digits": lambda: text.replace('"max_retries": 0', '"max_retries": ' + "7" * 5000),
        "100,000 deep": lambda: '{"graph": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "trailing garbage": lambda: text + "}}",
        "duplicate keys": lambda: text.replace(entry, f'{entry}, "entry_node": "ghost"'),
        "extra top-level key": lambda: json.dumps({**SPEC, "tools": [], "extra": 1}),
        "tools of the wrong shape": lambda: json.dumps({**SPEC, "tools": [{"name": 5}]}),
    }
    kind = list(damages)[turn % len(damages)]
    return kind, agent_files(damages[kind]())


def bad_functions(rng: random.Random, turn: int) -> tuple[str, dict[str, bytes]]:
    source = BAD_FUNCTIONS[turn % len(BAD_FUNCTIONS)]
    code = FUNCTIONS
    if source.removeprefix("async ").startswith("def "):
        # The example's function of that name is renamed away, so this one replaces it.
        name = source.split("(", 1)[0].split()[-1]
        code = code.replace(f"def {name}(", f"def _replaced_{name}(", 1)
    label = f"functions.py: {' '.join(source.split())[:60]!r}"
    return label, agent_files(json.dumps(SPEC), f"{code}\n\n{source}")


def of_spec(mutation: Mutation) -> Kind:
    def mutate(rng: random.Random, turn: int) -> tuple[str, dict[str, bytes]]:
        label, spec = mutation(rng, SPEC)
        return label, agent_files(json.dumps(spec))

    mutate.__name__ = mutation.__name__
    return mutate


def injected(rng: random.Random, turn: int) -> tuple[str, dict[str, bytes]]:
    label, spec = injection(rng, SPEC, INJECTIONS[turn % len(INJECTIONS)])
    return label, agent_files(json.dumps(spec))


KINDS: list[Kind] = [
    *map(
        of_spec,
        [wrong_type, missing_field, huge_value, unicode_text, duplicate_id, missing_node],
    ),
    injected,
    of_spec(combined),
    deep_nesting,
    damaged_file,
    bad_functions,
]


def generated_cases() -> list[Case]:
    rng = random.Random(8)
    cases = []
    for turn in range(CASES_PER_KIND):
        for kind in KINDS:
            label, files = kind(rng, turn)
            cases.append(Case(len(cases), f"{kind.__name__}: {label}", files))
    return cases


CASES = generated_cases()


# --- what every case must show -------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``, by relative path, with a hash of its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        found[name] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def assert_ended_cleanly(finished: Any, command: str) -> None:
    where = f"agentgraph {command}: exit {finished.code}\n{finished.stderr[-3000:]}"
    assert finished.code in (0, 1), where
    assert "Traceback" not in finished.stderr + finished.stdout, where
    lines = finished.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert all(line.startswith(("error: ", "retry ")) for line in lines), where
    assert len(errors) == (finished.code == 1), where
    assert not any("internal error" in line for line in errors), where


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries of failing nodes happen at once, so hundreds of runs stay fast."""
    monkeypatch.setattr(executor, "RetryPolicy", functools.partial(RetryPolicy, base_delay=0))


@pytest.mark.usefixtures("no_backoff")
@pytest.mark.parametrize("case", CASES, ids=[f"{case.number}-{case.label[:70]}" for case in CASES])
def test_a_malformed_agent_folder_is_refused_in_one_line_and_writes_nowhere_else(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agentgraph: Callable[..., Any]
) -> None:
    canary = tmp_path / "canary"
    agent = tmp_path / "agent"
    agent.mkdir()
    for name, data in case.files.items():
        (agent / name).write_bytes(data.replace(CANARY.encode(), str(canary).encode()))
    home, store, cwd = tmp_path / "home", tmp_path / "store", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("AGENTGRAPH_HOME", str(home))
    monkeypatch.delenv("AGENTGRAPH_STORAGE", raising=False)
    # Python writes bytecode next to what it imports unless told not to (as CI may be).
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    url = f"sqlite://{store}/state.db" if case.number % 2 else f"file://{store}"
    before = snapshot(tmp_path)

    validated = agentgraph("validate", str(agent))
    ran = agentgraph("run", str(agent), "--input", DOCUMENT, "--storage", url)

    assert_ended_cleanly(validated, "validate")
    assert_ended_cleanly(ran, "run")
    if validated.code == 1:
        assert ran.code == 1, "an agent that validate refuses must not run"
    after = snapshot(tmp_path)
    assert snapshot(agent) == {"agent.json": ANY, "functions.py": ANY}, "no __pycache__"
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    outside = sorted(name for name in changed if Path(name).parts[0] not in ("home", "store"))
    assert outside == [], "only the storage root and AGENTGRAPH_HOME may change"
    assert not canary.exists()


def test_the_cases_cover_every_kind_of_damage() -> None:
    assert len(CASES) >= 300
    kinds = {case.label.split(":", 1)[0] for case in CASES}
    assert kinds == {kind.__name__ for kind in KINDS}
