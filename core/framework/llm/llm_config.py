"""The model an agent folder names: its ``"llm"`` section, what overrides it, and the provider
built from it.

``agent.json`` may hold an ``"llm"`` section, an :class:`LLMConfig`::

    "llm": {"provider": "anthropic", "model": "claude-sonnet-4-5", "max_attempts": 6}
    "llm": {"provider": "openai", "model": "llama3.2", "base_url": "http://localhost:11434/v1"}

Three of its settings may be given over it, highest first: the command line's
``--provider`` / ``--model`` / ``--base-url``, then the environment variables
``AGENTGRAPH_LLM_PROVIDER``, ``AGENTGRAPH_LLM_MODEL`` and ``AGENTGRAPH_LLM_BASE_URL``
(:mod:`framework.settings`). :func:`merge_llm_config` applies them; given a provider and a
model, they configure an agent whose folder names none.

A key never lives in the config, which refuses an ``api_key`` field: ``api_key_env`` names
the environment variable that holds it (default ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``).
:func:`provider_from_config` reads it when it builds the provider, and no message holds its
value. Only then is the provider's module imported, with its SDK: a config alone imports none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from framework import settings
from framework.errors import LLMError
from framework.llm.pricing import ModelPrice
from framework.llm.provider import LLMProvider
from framework.llm.retries import LLMRetryPolicy
from framework.settings import LLM_BASE_URL_ENV, LLM_MODEL_ENV, LLM_PROVIDER_ENV

__all__ = [
    "LLMConfig",
    "LLMOverrides",
    "ProviderName",
    "merge_llm_config",
    "provider_from_config",
    "provider_named",
]

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_API_KEY_REFUSED = (
    '"api_key" is refused: a key is never kept in the config; put it in an environment '
    'variable and name that variable in "api_key_env" (default OPENAI_API_KEY or '
    "ANTHROPIC_API_KEY)"
)


class ProviderName(StrEnum):
    """The providers a config can name."""

    OPENAI = "openai"
    """Any OpenAI-compatible endpoint: OpenAI's own API, or vLLM, Ollama, llama.cpp,
    LM Studio, a gateway (``base_url`` picks it)."""
    ANTHROPIC = "anthropic"
    """Anthropic's Messages API."""


_KEY_VARIABLES = {
    ProviderName.OPENAI: "OPENAI_API_KEY",
    ProviderName.ANTHROPIC: "ANTHROPIC_API_KEY",
}


class LLMConfig(BaseModel):
    """The model an agent's LLM nodes, routers and edges ask, and how to reach it."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, use_attribute_docstrings=True
    )

    provider: ProviderName
    """Which provider speaks to the endpoint."""
    model: str = Field(min_length=1)
    """The model asked when a node names none."""
    base_url: str | None = None
    """The endpoint (an OpenAI-compatible server's ``.../v1``); ``None``: the provider's own
    (or its SDK's variable, ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL``)."""
    api_key_env: str | None = None
    """The NAME of the environment variable holding the key; ``None``: ``OPENAI_API_KEY``
    for openai, ``ANTHROPIC_API_KEY`` for anthropic."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds each attempt may take."""
    max_tokens: int | None = Field(default=None, ge=1)
    """The longest reply, in tokens, when a call sets no limit; ``None``: the provider's
    default."""
    max_attempts: int | None = Field(default=None, ge=1)
    """Attempts per call, the first included (see :class:`LLMRetryPolicy`); ``None``: its
    default."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every request (a gateway's own headers)."""
    organization: str | None = None
    """The OpenAI organization the requests are billed to (openai only)."""
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """Prices per model name, over those ``genai-prices`` knows (a private model, a
    negotiated price)."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "api_key" in data:
            raise PydanticCustomError("api_key_refused", _API_KEY_REFUSED)
        return data

    @field_validator("api_key_env")
    @classmethod
    def _is_variable_name(cls, name: str | None) -> str | None:
        # Said without the value, which may be a key pasted in the wrong place.
        if name is not None and not _VARIABLE_NAME.fullmatch(name):
            raise PydanticCustomError(
                "variable_name",
                "must be the name of an environment variable (letters, digits and _, such "
                "as OPENAI_API_KEY), not the key itself",
            )
        return name

    @model_validator(mode="after")
    def _organization_is_openai(self) -> Self:
        if self.organization is not None and self.provider is not ProviderName.OPENAI:
            raise PydanticCustomError(
                "organization_refused",
                '"organization" is a setting of provider openai only',
            )
        return self

    @property
    def key_variable(self) -> str:
        """The environment variable the key is read from."""
        return self.api_key_env or _KEY_VARIABLES[self.provider]


def provider_named(name: str, source: str) -> ProviderName:
    """The provider ``name`` names; :class:`LLMError` listing the known ones if none.
    ``source`` says where the name was given (``--provider``, a variable)."""
    try:
        return ProviderName(name)
    except ValueError:
        known = ", ".join(sorted(ProviderName))
        raise LLMError(
            f"unknown LLM provider {name!r} ({source}); known providers: {known}"
        ) from None


@dataclass(frozen=True)
class LLMOverrides:
    """Settings given over an agent's ``llm`` section (``None``: not given)."""

    provider: ProviderName | None = None
    model: str | None = None
    base_url: str | None = None

    @classmethod
    def given(
        cls,
        provider: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        *,
        source: str = "--provider",
    ) -> LLMOverrides:
        """The overrides of these values (an empty one is not given); an unknown provider
        raises :class:`LLMError` naming ``source``."""
        return cls(
            provider_named(provider, source) if provider else None,
            model or None,
            base_url or None,
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> LLMOverrides:
        """The overrides the ``AGENTGRAPH_LLM_*`` variables of ``environ`` (default: the
        process's) give."""
        return cls.given(
            _variable(environ, LLM_PROVIDER_ENV),
            _variable(environ, LLM_MODEL_ENV),
            _variable(environ, LLM_BASE_URL_ENV),
            source=LLM_PROVIDER_ENV,
        )

    def over(self, lower: LLMOverrides) -> LLMOverrides:
        """These overrides, with ``lower``'s where these give none."""
        return LLMOverrides(
            self.provider or lower.provider,
            self.model or lower.model,
            self.base_url or lower.base_url,
        )

    def given_values(self) -> dict[str, str]:
        """The settings given, by their name in :class:`LLMConfig`."""
        return {name: value for name, value in asdict(self).items() if value is not None}


def merge_llm_config(
    section: Any,
    options: LLMOverrides | None = None,
    environ: Mapping[str, str] | None = None,
) -> LLMConfig | None:
    """The model an agent uses: ``section`` (agent.json's ``llm``, as read; ``None``: there is
    none), under the overrides ``environ`` (default: the process's environment) gives, under
    ``options`` (the command line's).

    ``None`` when none of them gives anything. Once merged, a provider and a model are
    required: :class:`LLMError` names the one missing and where to give it. An invalid
    section raises pydantic's ``ValidationError``.
    """
    given = (options or LLMOverrides()).over(LLMOverrides.from_environ(environ))
    overrides = given.given_values()
    if section is None and not overrides:
        return None
    if section is not None and not isinstance(section, Mapping):
        return LLMConfig.model_validate(section)  # refused: it is not an object
    merged = {**(section or {}), **overrides}
    for name, option, variable in (
        ("provider", "--provider", LLM_PROVIDER_ENV),
        ("model", "--model", LLM_MODEL_ENV),
    ):
        if merged.get(name) is None:
            raise LLMError(
                f'llm.{name}: no {name} is named; give "{name}" in the "llm" section of '
                f"agent.json, {option}, or {variable}"
            )
    return LLMConfig.model_validate(merged)


def provider_from_config(
    config: LLMConfig, environ: Mapping[str, str] | None = None
) -> LLMProvider:
    """The provider ``config`` describes, with the key from the variable
    ``config.key_variable`` of ``environ`` (default: the process's environment).

    Imports the provider's module (and its SDK) now: :class:`LLMError` says which extra to
    install when it is missing. When the variable is unset, the provider is built without
    a key, so an endpoint that takes none (a local OpenAI-compatible server: Ollama, vLLM,
    llama.cpp) works without one; where a key is needed, :class:`LLMError` names the variable.
    A variable named by ``api_key_env`` must be set.
    """
    key = _variable(environ, config.key_variable)
    if key is None and config.api_key_env is not None:
        # Else the provider would fall back to its usual variable: another account's key.
        raise LLMError(
            f"{config.provider} model {config.model!r}: the environment variable "
            f"{config.api_key_env} is not set, and llm.api_key_env names it as the one "
            "holding the key; set it, or remove api_key_env"
        )
    retry = (
        None if config.max_attempts is None else LLMRetryPolicy(max_attempts=config.max_attempts)
    )
    build = _openai if config.provider is ProviderName.OPENAI else _anthropic
    try:
        return build(config, key, retry)
    except ImportError as exc:
        extra = config.provider.value
        raise LLMError(
            f"provider {extra} needs the {extra!r} package: "
            f"pip install 'agentgraph-durable[{extra}]' ({exc})"
        ) from exc
    except LLMError:
        if key is not None:
            raise
        at = f" at {config.base_url}" if config.base_url else ""
        raise LLMError(
            f"{config.provider} model {config.model!r}{at} needs an API key, and the "
            f"environment variable {config.key_variable} is not set; set it, or name the "
            'variable that holds the key in "api_key_env"'
        ) from None


def _variable(environ: Mapping[str, str] | None, name: str) -> str | None:
    """Variable ``name`` of ``environ``, else of the process (through :mod:`framework.settings`);
    ``None`` when unset or empty."""
    if environ is None:
        return settings.variable(name)
    return environ.get(name) or None


def _openai(config: LLMConfig, key: str | None, retry: LLMRetryPolicy | None) -> LLMProvider:
    from framework.llm.openai_provider import OpenAIProvider

    return OpenAIProvider(
        config.model,
        base_url=config.base_url,
        api_key=key,
        organization=config.organization,
        headers=config.headers or None,
        timeout=config.timeout,
        max_tokens=config.max_tokens,
        retry=retry,
        prices=config.prices or None,
    )


def _anthropic(config: LLMConfig, key: str | None, retry: LLMRetryPolicy | None) -> LLMProvider:
    from framework.llm.anthropic_provider import AnthropicProvider

    limit = {} if config.max_tokens is None else {"max_tokens": config.max_tokens}
    return AnthropicProvider(
        config.model,
        base_url=config.base_url,
        api_key=key,
        headers=config.headers or None,
        timeout=config.timeout,
        retry=retry,
        prices=config.prices or None,
        **limit,
    )
