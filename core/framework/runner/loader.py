"""Reading an agent folder: ``agent.json`` (graph, goal, tools, llm) and ``functions.py``.

Every failure is an :class:`~framework.errors.AgentLoadError` naming the file, and within
it the element (``graph.nodes[2] (node 'classify').node_type``), with the reason.
``functions.py`` is user code: it is imported from its file path with importlib under a
unique module name, so two agents with the same folder name never share a module, and
compiled from its source every time, so loading writes nothing (no ``__pycache__``) into
the agent folder and never runs stale bytecode.

The ``llm`` section is read with the overrides of the environment and of the caller (the
command line's options) over it (:func:`~framework.llm.llm_config.merge_llm_config`), so a
definition names the model its runs use; building that provider is left to the runner.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import json
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any

from pydantic import TypeAdapter, ValidationError

from framework.errors import AgentLoadError, LLMError
from framework.graph.goal import Goal
from framework.graph.spec import GraphSpec
from framework.llm.llm_config import LLMConfig, LLMOverrides, merge_llm_config
from framework.llm.provider import Tool

__all__ = [
    "AGENT_FILE",
    "FUNCTIONS_FILE",
    "AgentDefinition",
    "load_definition",
    "load_functions",
    "why_unparsable",
]

AGENT_FILE = "agent.json"
FUNCTIONS_FILE = "functions.py"
_SECTIONS = ("graph", "goal", "tools", "llm")
_TOOLS = TypeAdapter(list[Tool])


@dataclass(frozen=True)
class AgentDefinition:
    """What an agent folder holds, parsed but not yet checked as a whole."""

    path: Path
    graph: GraphSpec
    goal: Goal
    tools: list[Tool] = field(default_factory=list)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    has_functions_file: bool = False
    llm: LLMConfig | None = None
    """The model its runs use: the ``llm`` section with the overrides over it; ``None``:
    none is named (a runner is then given one, or its LLM nodes fail)."""

    @property
    def agent_file(self) -> Path:
        return self.path / AGENT_FILE


def load_definition(
    agent_path: str | Path, *, llm_overrides: LLMOverrides | None = None
) -> AgentDefinition:
    """Parse the folder at ``agent_path``; raise AgentLoadError for anything unreadable.

    ``llm_overrides`` are given over the ``llm`` section and the ``AGENTGRAPH_LLM_*``
    environment variables (see :func:`~framework.llm.llm_config.merge_llm_config`).
    """
    folder = Path(agent_path).expanduser()
    if not folder.exists():
        raise AgentLoadError(str(folder), "agent folder does not exist")
    if not folder.is_dir():
        raise AgentLoadError(
            str(folder), f"is not a folder; point at the folder that holds {AGENT_FILE}"
        )
    agent_file = folder / AGENT_FILE
    if not agent_file.is_file():
        raise AgentLoadError(
            str(agent_file),
            f"missing {AGENT_FILE}; an agent folder needs one with 'graph' and 'goal'",
        )
    data = _read_json(agent_file)
    missing = [name for name in ("graph", "goal") if name not in data]
    if missing:
        raise AgentLoadError(
            str(agent_file), f"missing top-level key(s) {', '.join(map(repr, missing))}"
        )
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise AgentLoadError(
            str(agent_file), f"unknown top-level key(s) {names}; allowed: {', '.join(_SECTIONS)}"
        )
    graph = _parse(agent_file, "graph", data["graph"], GraphSpec.model_validate)
    goal = _parse(agent_file, "goal", data["goal"], Goal.model_validate)
    tools = _parse(agent_file, "tools", data.get("tools", []), _TOOLS.validate_python)
    llm = _llm_config(agent_file, data.get("llm"), llm_overrides)
    functions_file = folder / FUNCTIONS_FILE
    has_functions = functions_file.is_file()
    functions = load_functions(functions_file) if has_functions else {}
    return AgentDefinition(folder, graph, goal, tools, functions, has_functions, llm)


def load_functions(path: Path) -> dict[str, Callable[..., Any]]:
    """Import ``path`` and return its functions by name.

    Registered: every function defined in the file whose name does not start with ``_``
    (names it merely imports are left out), then the entries of a module-level
    ``FUNCTIONS`` dict, which add names or override them.
    """
    stem = re.sub(r"\W", "_", path.parent.name)
    module_name = f"agentgraph_agent_{stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(
        module_name, path, loader=_SourceOnly(module_name, str(path))
    )
    if spec is None or spec.loader is None:
        raise AgentLoadError(str(path), "cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before running it, so dataclasses and typing inside the file can find it.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # sys.exit() in the file must not end the caller
        del sys.modules[module_name]
        raise AgentLoadError(str(path), f"importing it raised {type(exc).__name__}: {exc}") from exc
    functions = {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and inspect.isfunction(value)
        and value.__module__ == module_name
    }
    overrides = getattr(module, "FUNCTIONS", {})
    if not isinstance(overrides, Mapping):
        raise AgentLoadError(str(path), "FUNCTIONS must be a dict of {name: callable}")
    for name, value in overrides.items():
        if not isinstance(name, str) or not callable(value):
            raise AgentLoadError(
                str(path), f"FUNCTIONS entry {name!r} must map a name to a callable"
            )
        functions[name] = value
    return dict(functions)


class _SourceOnly(importlib.machinery.SourceFileLoader):
    """Compiles the file from its source, neither reading nor writing cached bytecode."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentLoadError(str(path), f"cannot be read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AgentLoadError(
            f"{path}:{exc.lineno}:{exc.colno}", f"malformed JSON: {exc.msg}"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise AgentLoadError(str(path), f"cannot be read: {why_unparsable(exc)}") from None
    if not isinstance(data, dict):
        raise AgentLoadError(str(path), f"must hold a JSON object, not {type(data).__name__}")
    return data


def why_unparsable(exc: RecursionError | ValueError) -> str:
    """Why ``json.loads`` refused text that is valid JSON, and what to do about it."""
    if isinstance(exc, RecursionError):
        return "it is nested too deeply for Python to parse; flatten it"
    if "integer string conversion" in str(exc):
        digits = sys.get_int_max_str_digits()
        return f"it holds an integer of more than {digits} digits; write it as a string"
    return str(exc)


def _llm_config(path: Path, section: Any, overrides: LLMOverrides | None) -> LLMConfig | None:
    def merged(raw: Any) -> LLMConfig | None:
        return merge_llm_config(raw, overrides)

    try:
        config: LLMConfig | None = _parse(path, "llm", section, merged)
    except LLMError as exc:
        raise AgentLoadError(str(path), str(exc)) from None
    return config


def _parse(path: Path, section: str, raw: Any, parse: Callable[[Any], Any]) -> Any:
    try:
        return parse(raw)
    except ValidationError as exc:
        problems = [_describe(section, error, raw) for error in exc.errors()]
        raise AgentLoadError(str(path), f"invalid {section}: {'; '.join(problems)}") from None


def _describe(section: str, error: Any, raw: Any) -> str:
    """One pydantic error as ``where: what``, naming nodes and edges by index and id."""
    where, node = section, raw
    for part in error["loc"]:
        if isinstance(part, int):
            where += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                kind = {"graph.nodes": "node", "graph.edges": "edge"}.get(where.rsplit("[", 1)[0])
                where += f" ({kind or 'id'} '{node['id']}')"
        else:
            where += f".{part}"
            node = node.get(part) if isinstance(node, dict) else None
    kind = error["type"]
    if kind == "missing":
        return f"{where}: required field is missing"
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    if kind == "enum":
        return f"{where}: unknown value {error['input']!r}; allowed: {error['ctx']['expected']}"
    return f"{where}: {error['msg']}"
