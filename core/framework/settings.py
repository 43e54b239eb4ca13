"""Every environment variable and default of agentgraph, read in one place.

=============================  ==========================================================
variable                       meaning
=============================  ==========================================================
``AGENTGRAPH_HOME``            where decision logs and the default database live
                               (default ``~/.agentgraph``)
``AGENTGRAPH_STORAGE``         the storage URL used when none is given (default: the
                               SQLite database ``state.db`` in ``AGENTGRAPH_HOME``)
``AGENTGRAPH_FAULT_POINT``     tests only: the storage write step at which the process
                               kills itself (see :mod:`framework.storage._faults`)
``AGENTGRAPH_FAULT_COUNTDOWN`` tests only: kill at the N-th time that point is reached
``AGENTGRAPH_LLM_PROVIDER``    the model provider of an agent folder's runs (``openai``,
                               ``anthropic``), over its ``agent.json``
``AGENTGRAPH_LLM_MODEL``       the model they ask, over ``agent.json``
``AGENTGRAPH_LLM_BASE_URL``    the endpoint they ask it at, over ``agent.json``
``OPENAI_API_KEY``             the key of :class:`~framework.llm.OpenAIProvider` (and
``OPENAI_BASE_URL``            its endpoint, organisation and project), as the ``openai``
``OPENAI_ORG_ID``              SDK reads them
``OPENAI_PROJECT_ID``
``ANTHROPIC_API_KEY``          the key and endpoint of
``ANTHROPIC_BASE_URL``         :class:`~framework.llm.AnthropicProvider`
``AGENTGRAPH_API_TOKEN``       the bearer token ``agentgraph serve`` requires of every
                               request that changes a run (default: one generated at start)
=============================  ==========================================================

An agent's ``"llm"`` section may name another variable for its key (``api_key_env``); it
is read with :func:`variable`, like the ones above, and so is ``AGENTGRAPH_TEST_POSTGRES_URL``
(tests only: the PostgreSQL server the suite uses, by default an embedded one it starts).

Variables are read when a function here is called, so a process may change them between
runs (tests do); only the fault points are read once, at import of the storage layer.
This module imports nothing of the framework, so every layer may use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "API_TOKEN_ENV",
    "DEFAULT_HOME",
    "DEFAULT_LEASE_TTL_SECONDS",
    "FAULT_COUNTDOWN_ENV",
    "FAULT_POINT_ENV",
    "HOME_ENV",
    "LLM_BASE_URL_ENV",
    "LLM_MODEL_ENV",
    "LLM_PROVIDER_ENV",
    "STATE_DB",
    "STORAGE_ENV",
    "api_token",
    "default_storage_url",
    "fault_countdown",
    "fault_point",
    "home",
    "variable",
]

HOME_ENV = "AGENTGRAPH_HOME"
STORAGE_ENV = "AGENTGRAPH_STORAGE"
FAULT_POINT_ENV = "AGENTGRAPH_FAULT_POINT"
FAULT_COUNTDOWN_ENV = "AGENTGRAPH_FAULT_COUNTDOWN"
LLM_PROVIDER_ENV = "AGENTGRAPH_LLM_PROVIDER"
LLM_MODEL_ENV = "AGENTGRAPH_LLM_MODEL"
LLM_BASE_URL_ENV = "AGENTGRAPH_LLM_BASE_URL"
API_TOKEN_ENV = "AGENTGRAPH_API_TOKEN"

DEFAULT_HOME = "~/.agentgraph"
STATE_DB = "state.db"
# How long a run's lease lasts without renewal; a writer renews it every third of that.
DEFAULT_LEASE_TTL_SECONDS = 30.0


def home() -> Path:
    """Where run logs and the default database go: ``$AGENTGRAPH_HOME``, else ``~/.agentgraph``."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser()


def default_storage_url(home_dir: str | os.PathLike[str] | None = None) -> str:
    """``$AGENTGRAPH_STORAGE``, else the SQLite database ``state.db`` in ``home_dir``.

    ``home_dir`` defaults to :func:`home`, so tests and demos that set ``AGENTGRAPH_HOME``
    keep their state apart from ``~/.agentgraph/state.db``.
    """
    if url := os.environ.get(STORAGE_ENV):
        return url
    folder = Path(home_dir).expanduser() if home_dir is not None else home()
    return "sqlite://" + quote(str(folder.resolve() / STATE_DB))


def fault_point() -> str | None:
    """The storage fault point the environment asks to crash at, if any."""
    return os.environ.get(FAULT_POINT_ENV) or None


def fault_countdown() -> int:
    """At which arrival at the fault point to crash (1: the first)."""
    return int(os.environ.get(FAULT_COUNTDOWN_ENV) or "1")


def api_token() -> str | None:
    """``$AGENTGRAPH_API_TOKEN``: the token ``agentgraph serve`` requires; ``None`` if unset."""
    return os.environ.get(API_TOKEN_ENV) or None


def variable(name: str) -> str | None:
    """Environment variable ``name``, ``None`` when it is unset or empty."""
    return os.environ.get(name) or None
