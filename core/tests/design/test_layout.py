"""The package reads as its design: a light public face, the seed's paths, one name per
module, and a line between the API and its internals."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections import Counter

import pytest
from imports import ROOT, import_graph, module_files

import framework

# Paths the seed's users import, from the issue and the first release's README and
# examples; each must keep working (the module, or a re-export).
SEED_PATHS = {
    "framework.graph.edge": ["EdgeSpec", "GraphSpec", "EdgeCondition"],
    "framework.graph.goal": ["Goal"],
    "framework.graph.node": ["NodeContext", "NodeSpec", "NodeType", "NodeResult"],
    "framework.graph.plan": ["ActionSpec", "ActionType", "Plan", "PlanStep"],
    "framework.runner": ["AgentRunner"],
    "framework.schemas.lease": ["owner_is_alive"],
    "framework.errors": ["AgentGraphError"],
    "framework.schemas.checkpoint": ["Checkpoint", "CheckpointConfig", "CheckpointKind"],
    "framework.storage.backend": ["StorageBackend", "FileStorage", "CorruptCheckpoint"],
    "framework.graph.checkpoint_manager": ["CheckpointManager"],
    "framework.graph.executor": ["GraphExecutor", "ExecutionResult", "RetryPolicy"],
    "framework.graph.flexible_executor": ["FlexibleGraphExecutor", "ExecutorConfig"],
    "framework.runner.runner": ["AgentRunner"],
}
SURFACE = [
    "GraphExecutor",
    "FlexibleGraphExecutor",
    "CheckpointManager",
    "AgentRunner",
    "GraphSpec",
    "NodeSpec",
    "EdgeSpec",
    "Goal",
    "Plan",
    "CheckpointConfig",
    "open_storage",
    "FileStorage",
    "SQLiteStorage",
    "MemoryStorage",
    "StorageBackend",
]


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_framework_loads_only_its_lazy_loader() -> None:
    loaded = _python(
        "import sys, framework; print(sorted(m for m in sys.modules if m.startswith('framework')))"
    )

    assert loaded == "['framework', 'framework._lazy']"


def test_the_public_names_import_from_the_package_face() -> None:
    names = ", ".join(SURFACE)
    code = f"from framework import {names}; print(CheckpointManager.__module__)"

    assert _python(code) == "framework.durable.manager"


@pytest.mark.parametrize("name", framework.__all__)
def test_every_public_name_is_the_object_its_module_defines(name: str) -> None:
    value = getattr(framework, name)

    if name != "__version__":
        assert getattr(importlib.import_module(value.__module__), name) is value


@pytest.mark.parametrize(("module", "names"), sorted(SEED_PATHS.items()))
def test_every_path_the_seed_imports_still_works_first_thing_in_a_process(
    module: str, names: list[str]
) -> None:
    assert _python(f"from {module} import {', '.join(names)}; print('ok')") == "ok"


def test_no_two_modules_share_a_basename() -> None:
    names = Counter(path.name for path in ROOT.rglob("*.py") if path.name != "__init__.py")

    assert [name for name, count in names.items() if count > 1] == []


# The storage spec is a package of tests: pytest collects it, nothing imports from it.
SPEC = "framework.testing.spec"


def test_every_package_names_its_public_part() -> None:
    missing = []
    for name, path in module_files().items():
        if path.name != "__init__.py" or "._" in name or name == SPEC:
            continue
        package = importlib.import_module(name)
        exported = getattr(package, "__all__", None)
        if not exported:
            missing.append(f"{name}: no __all__")
            continue
        missing.extend(f"{name}: {n} is not defined" for n in exported if not hasattr(package, n))

    assert missing == []


def test_private_modules_are_imported_only_inside_their_package() -> None:
    crossing = []
    for module, targets in import_graph().items():
        for target in targets:
            parts = target.split(".")
            private = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
            if private is None:
                continue
            home = ".".join(parts[:private])
            if module != home and not module.startswith(home + "."):
                crossing.append(f"{module} imports {target}")

    assert crossing == []
