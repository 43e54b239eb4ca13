"""Types carry the design: every enum member and every stored or exchanged field says what
it means.

Enum members are documented by an attribute docstring (a string right after the member),
found by walking the framework's source, so a new enum anywhere is held to it at once.
Model fields are documented the same way and reach ``FieldInfo.description`` through
``use_attribute_docstrings=True``, which is what this checks for the models that are
stored in checkpoints and logs or exchanged with users.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from pydantic import BaseModel

import framework

FRAMEWORK = Path(framework.__file__).resolve().parent
ENUM_BASES = {"Enum", "StrEnum", "IntEnum", "Flag", "IntFlag", "ReprEnum"}

# The modules whose models are stored (checkpoints, run records, logs, agent files) or
# handed to and from users (specs, results, approvals, LLM messages, agent descriptions).
MODEL_MODULES = [
    *(f"framework.schemas.{path.stem}" for path in sorted((FRAMEWORK / "schemas").glob("*.py"))),
    *(
        f"framework.graph.{name}"
        for name in (
            "spec",
            "edge",
            "node",
            "goal",
            "plan",
            "review",
            "graph_run",
            "plan_run",
            "worker_node",
            "retry",
            "flexible_executor",
        )
    ),
    *(f"framework.runtime.{path.stem}" for path in sorted((FRAMEWORK / "runtime").glob("*.py"))),
    "framework.llm.provider",
    "framework.runner.description",
]


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    return ""


def _enum_classes() -> Iterator[tuple[str, ast.ClassDef]]:
    """``(where, class)`` for every class in the framework's source that derives from an
    enum base, or from another enum defined in the framework."""
    classes: list[tuple[str, ast.ClassDef]] = []
    for path in sorted(FRAMEWORK.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(FRAMEWORK.parent).as_posix()
        classes.extend(
            (f"{where}:{node.lineno}", node)
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
        )
    enum_names = set(ENUM_BASES)
    found: dict[str, tuple[str, ast.ClassDef]] = {}
    grew = True
    while grew:  # an enum may derive from a framework enum defined in another module
        grew = False
        for where, node in classes:
            if where not in found and enum_names & {_base_name(b) for b in node.bases}:
                found[where] = (where, node)
                enum_names.add(node.name)
                grew = True
    return iter(sorted(found.values()))


def _members(node: ast.ClassDef) -> Iterator[tuple[str, ast.stmt | None]]:
    """``(name, statement after it)`` for every member assigned in an enum's body."""
    body = node.body
    for index, statement in enumerate(body):
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets = [statement.target]
        else:
            continue
        following = body[index + 1] if index + 1 < len(body) else None
        for target in targets:
            if isinstance(target, ast.Name) and not target.id.startswith("_"):
                yield target.id, following


def _is_docstring(statement: ast.stmt | None) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
        and bool(statement.value.value.strip())
    )


def _models(module: ModuleType) -> Iterator[type[BaseModel]]:
    for _, value in sorted(vars(module).items()):
        if (
            inspect.isclass(value)
            and issubclass(value, BaseModel)
            and value.__module__ == module.__name__
        ):
            yield value


def test_every_enum_member_says_what_it_means() -> None:
    enums = list(_enum_classes())
    assert len(enums) >= 15, f"the source walk found only {len(enums)} enums; is it broken?"

    undocumented = [
        f"{where} {node.name}.{name}"
        for where, node in enums
        for name, following in _members(node)
        if not _is_docstring(following)
    ]

    assert not undocumented, (
        "these enum members have no docstring on the line after them saying what they "
        "mean:\n  " + "\n  ".join(undocumented)
    )


def test_every_enum_says_what_it_is_for() -> None:
    undocumented = [
        f"{where} {node.name}" for where, node in _enum_classes() if not ast.get_docstring(node)
    ]

    assert not undocumented, "these enums have no class docstring:\n  " + "\n  ".join(undocumented)


def test_every_field_of_a_stored_or_exchanged_model_says_what_it_means() -> None:
    models = [model for name in MODEL_MODULES for model in _models(importlib.import_module(name))]
    assert len(models) >= 40, f"found only {len(models)} models; is the module list stale?"

    undocumented = [
        f"{model.__module__}.{model.__qualname__}.{field}"
        for model in models
        for field, info in model.model_fields.items()
        if not (info.description or "").strip()
    ]

    assert not undocumented, (
        "these model fields have no description (an attribute docstring under the field, "
        "with use_attribute_docstrings=True in the model's config):\n  " + "\n  ".join(undocumented)
    )
