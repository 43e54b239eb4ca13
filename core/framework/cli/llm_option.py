"""The model a command's agent runs with: ``--provider``, ``--model``, ``--base-url``.

``run``, ``resume``, ``recover`` and ``batch`` take them; they win over the environment's
``AGENTGRAPH_LLM_*`` variables, which win over the agent folder's ``llm`` section (see
:mod:`framework.llm.llm_config`). A command they were given to prints them again in the
``resume with: ...`` command it suggests, so the run continues with the same model.

``agentgraph info`` shows the model an agent is configured with: the variable its key is
read from is named, never read.
"""

from __future__ import annotations

from typing import Annotated

import typer

from framework.llm.llm_config import LLMConfig, LLMOverrides

__all__ = [
    "BaseUrl",
    "Model",
    "Provider",
    "described_llm",
    "llm_arguments",
    "llm_line",
    "llm_overrides",
]

Provider = Annotated[
    str | None,
    typer.Option(
        "--provider",
        help="LLM provider (openai: any OpenAI-compatible endpoint; anthropic), over the "
        "agent's llm section; default $AGENTGRAPH_LLM_PROVIDER.",
        show_default=False,
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Model its LLM nodes ask, over the agent's llm section; default "
        "$AGENTGRAPH_LLM_MODEL.",
        show_default=False,
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="The model's endpoint (e.g. http://localhost:11434/v1), over the agent's llm "
        "section; default $AGENTGRAPH_LLM_BASE_URL.",
        show_default=False,
    ),
]


def llm_overrides(provider: str | None, model: str | None, base_url: str | None) -> LLMOverrides:
    """The options given; an unknown provider raises :class:`~framework.errors.LLMError`."""
    return LLMOverrides.given(provider, model, base_url, source="--provider")


def llm_arguments(overrides: LLMOverrides) -> list[str]:
    """The options that give ``overrides`` again, for a command to paste."""
    arguments: list[str] = []
    for option, value in (
        ("--provider", overrides.provider),
        ("--model", overrides.model),
        ("--base-url", overrides.base_url),
    ):
        if value is not None:
            arguments += [option, str(value)]
    return arguments


def described_llm(config: LLMConfig) -> dict[str, str | None]:
    """What ``info --json`` shows of the agent's model."""
    return {
        "provider": config.provider.value,
        "model": config.model,
        "base_url": config.base_url,
        "api_key_env": config.key_variable,
    }


def llm_line(config: LLMConfig) -> str:
    """What ``info`` shows of the agent's model, on one line."""
    at = f" at {config.base_url}" if config.base_url else ""
    return f"llm: {config.provider} model {config.model}{at}, key from ${config.key_variable}"
