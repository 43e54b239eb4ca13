"""The layers of DESIGN.md hold in the source: no import cycles, nothing imports upward."""

from __future__ import annotations

from imports import cycles, import_graph, imports_of

# What each part may import besides itself. The root leaves (errors, settings and the
# private helpers) import nothing of the framework, so every layer may use them.
LEAVES = {"errors", "settings", "_closing", "_callables", "_lazy"}
MAY_IMPORT = {
    "schemas": set(),
    "storage": {"schemas"},
    "durable": {"schemas", "storage"},
    "batch": {"schemas", "storage", "durable", "llm"},
    "runtime": {"schemas"},
    "llm": set(),
    "graph": {"schemas", "storage", "durable", "batch", "runtime", "llm"},
    "runner": {"schemas", "storage", "durable", "batch", "runtime", "llm", "graph"},
    # The top layer: two front-ends over the same views. The dashboard serves what the
    # commands print, and `agentgraph serve` starts it; a module cycle stays refused.
    "cli": {
        "schemas",
        "storage",
        "durable",
        "batch",
        "runtime",
        "llm",
        "graph",
        "runner",
        "server",
    },
    "server": {
        "schemas",
        "storage",
        "durable",
        "batch",
        "runtime",
        "llm",
        "graph",
        "runner",
        "cli",
    },
    "testing": {"schemas", "storage", "durable", "runtime"},
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_itself_through_others() -> None:
    found = cycles(import_graph())

    assert found == [], "import cycles (module-level, function-level and TYPE_CHECKING):\n" + (
        "\n".join(" -> ".join(group) for group in found)
    )


def test_every_part_imports_only_the_layers_below_it() -> None:
    upward = []
    for module, targets in import_graph().items():
        part = _part(module)
        if part == "":
            continue  # the package face re-exports from everywhere, lazily
        allowed = {part} | LEAVES | MAY_IMPORT.get(part, set())
        for target, line in targets.items():
            if _part(target) not in allowed:
                upward.append(f"{module}:{line} imports {target}")

    assert upward == [], "imports against the layers:\n" + "\n".join(upward)


def test_the_root_leaves_import_nothing_of_the_framework() -> None:
    graph = import_graph()

    leaking = {
        leaf: sorted(graph[f"framework.{leaf}"]) for leaf in LEAVES if graph[f"framework.{leaf}"]
    }

    assert leaking == {}


def test_every_part_of_the_framework_has_a_layer() -> None:
    parts = {_part(module) for module in import_graph()} - {""}

    assert parts <= LEAVES | set(MAY_IMPORT), parts - LEAVES - set(MAY_IMPORT)


def test_the_check_sees_function_level_and_type_checking_imports(tmp_path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from framework.b import Thing\n"
        "def late():\n"
        "    from framework import c\n"
        "    import framework.d\n",
        encoding="utf-8",
    )
    known = {"framework", "framework.a", "framework.b", "framework.c", "framework.d"}

    found = dict(imports_of("framework.a", source, known))

    assert found == {"framework.b": 3, "framework.c": 5, "framework.d": 6}
    assert cycles({"a": {"b": 1}, "b": {"a": 1}, "c": {"c": 1}, "d": {"a": 1}}) == [
        ["a", "b"],
        ["c"],
    ]
