"""An agent folder's model: the ``llm`` section of agent.json, what overrides it, the provider
built from it, and the runner that builds it only when a run needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from framework.errors import AgentLoadError, LLMError
from framework.graph.llm_nodes import LLMNode
from framework.graph.node import NodeContext, NodeSpec
from framework.graph.shared_memory import SharedMemory
from framework.llm import MockLLMProvider, ModelPrice
from framework.llm.anthropic_provider import AnthropicProvider
from framework.llm.llm_config import (
    LLMConfig,
    LLMOverrides,
    ProviderName,
    merge_llm_config,
    provider_from_config,
)
from framework.llm.openai_provider import OpenAIProvider
from framework.llm.provider import Message, Role
from framework.runner import AgentRunner, load_definition
from framework.testing.fake_endpoint import FakeEndpoint, Reply

SECRET = "sk-test-do-not-print-0123456789"
GOAL = {"id": "goal", "name": "Goal", "description": "Test."}
ASK = {
    "id": "ask",
    "name": "Ask",
    "description": "Answer the question.",
    "node_type": "llm_generate",
    "prompt_template": "{question}",
    "input_keys": ["question"],
    "output_keys": ["answer"],
}
ENDPOINT_VARIABLES = (
    "AGENTGRAPH_LLM_PROVIDER",
    "AGENTGRAPH_LLM_MODEL",
    "AGENTGRAPH_LLM_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
)

Endpoint = Callable[..., FakeEndpoint]


@pytest.fixture(autouse=True)
def no_model_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests say which variables are set; the developer's own keys play no part."""
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def chat_completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def anthropic_message(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }


def write_agent(folder: Path, llm: Any = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"graph": {"id": "g", "entry_node": "ask", "nodes": [ASK]}, "goal": GOAL}
    if llm is not None:
        data["llm"] = llm
    (folder / "agent.json").write_text(json.dumps(data))
    return folder


def load_error(folder: Path, **overrides: str) -> AgentLoadError:
    with pytest.raises(AgentLoadError) as caught:
        load_definition(folder, llm_overrides=LLMOverrides.given(**overrides))
    return caught.value


def ask(provider: Any) -> str:
    async def call() -> str:
        response = await provider.complete([Message(role=Role.USER, content="hello")])
        await provider.aclose()
        return str(response.content)

    return anyio.run(call)


# --- the llm section ----------------------------------------------------------------------


def test_an_llm_section_is_read_into_the_definition(tmp_path: Path) -> None:
    section = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": "http://127.0.0.1:8000/v1",
        "api_key_env": "GATEWAY_KEY",
        "timeout": 12.5,
        "max_tokens": 300,
        "max_attempts": 2,
        "headers": {"x-team": "docs"},
        "organization": "org-1",
        "prices": {"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6}},
    }
    definition = load_definition(write_agent(tmp_path / "agent", section))
    assert definition.llm == LLMConfig(
        provider=ProviderName.OPENAI,
        model="gpt-4o-mini",
        base_url="http://127.0.0.1:8000/v1",
        api_key_env="GATEWAY_KEY",
        timeout=12.5,
        max_tokens=300,
        max_attempts=2,
        headers={"x-team": "docs"},
        organization="org-1",
        prices={"gpt-4o-mini": ModelPrice(input_per_million=0.15, output_per_million=0.6)},
    )
    assert definition.llm.key_variable == "GATEWAY_KEY"


def test_an_agent_without_an_llm_section_names_no_model(tmp_path: Path) -> None:
    assert load_definition(write_agent(tmp_path / "agent")).llm is None


@pytest.mark.parametrize(
    ("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")]
)
def test_the_key_variable_defaults_to_the_providers_own(provider: str, variable: str) -> None:
    assert LLMConfig(provider=ProviderName(provider), model="m").key_variable == variable


def test_an_api_key_in_agent_json_is_refused_pointing_at_api_key_env(tmp_path: Path) -> None:
    folder = write_agent(
        tmp_path / "agent", {"provider": "openai", "model": "m", "api_key": SECRET}
    )
    error = load_error(folder)
    assert error.where == str(folder / "agent.json")
    assert '"api_key" is refused' in error.reason
    assert '"api_key_env"' in error.reason
    assert SECRET not in str(error)


def test_an_api_key_given_in_python_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="api_key_env") as caught:
        LLMConfig.model_validate({"provider": "openai", "model": "m", "api_key": SECRET})
    assert SECRET not in str(caught.value)


def test_a_key_pasted_into_api_key_env_is_refused_without_showing_it(tmp_path: Path) -> None:
    folder = write_agent(
        tmp_path / "agent", {"provider": "openai", "model": "m", "api_key_env": SECRET}
    )
    error = load_error(folder)
    assert "llm.api_key_env: must be the name of an environment variable" in error.reason
    assert SECRET not in str(error)


def test_an_unknown_provider_in_agent_json_is_named_with_the_known_ones(tmp_path: Path) -> None:
    error = load_error(write_agent(tmp_path / "agent", {"provider": "gemini", "model": "m"}))
    assert error.reason == (
        "invalid llm: llm.provider: unknown value 'gemini'; allowed: 'openai' or 'anthropic'"
    )


def test_an_unknown_setting_of_the_llm_section_is_named(tmp_path: Path) -> None:
    folder = write_agent(tmp_path / "agent", {"provider": "openai", "model": "m", "temp": 0})
    assert load_error(folder).reason == "invalid llm: llm.temp: unknown field"


def test_an_organization_is_refused_for_anthropic(tmp_path: Path) -> None:
    folder = write_agent(
        tmp_path / "agent", {"provider": "anthropic", "model": "m", "organization": "org-1"}
    )
    assert "organization" in load_error(folder).reason


def test_an_llm_section_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    error = load_error(write_agent(tmp_path / "agent", "gpt-4o"))
    assert error.reason.startswith("invalid llm: llm: ")


def test_a_section_without_a_model_is_refused_once_nothing_gives_one(tmp_path: Path) -> None:
    folder = write_agent(tmp_path / "agent", {"provider": "openai"})
    error = load_error(folder)
    assert error.where == str(folder / "agent.json")
    assert error.reason.startswith("llm.model: no model is named")
    assert "--model" in error.reason and "AGENTGRAPH_LLM_MODEL" in error.reason
    definition = load_definition(folder, llm_overrides=LLMOverrides.given(model="m"))
    assert definition.llm is not None and definition.llm.model == "m"


def test_a_model_given_for_an_agent_without_a_section_needs_a_provider(tmp_path: Path) -> None:
    error = load_error(write_agent(tmp_path / "agent"), model="m")
    assert error.reason.startswith("llm.provider: no provider is named")
    assert "--provider" in error.reason


# --- what overrides it --------------------------------------------------------------------

SECTION = {"provider": "openai", "model": "from-agent-json", "base_url": "http://json/v1"}
ENVIRON = {
    "AGENTGRAPH_LLM_PROVIDER": "anthropic",
    "AGENTGRAPH_LLM_MODEL": "from-env",
    "AGENTGRAPH_LLM_BASE_URL": "http://env",
}
OPTIONS = LLMOverrides.given("openai", "from-cli", "http://cli/v1")


def test_the_command_line_wins_over_the_environment_which_wins_over_agent_json() -> None:
    assert merge_llm_config(SECTION, OPTIONS, ENVIRON) == LLMConfig(
        provider=ProviderName.OPENAI, model="from-cli", base_url="http://cli/v1"
    )
    assert merge_llm_config(SECTION, None, ENVIRON) == LLMConfig(
        provider=ProviderName.ANTHROPIC, model="from-env", base_url="http://env"
    )
    assert merge_llm_config(SECTION, None, {}) == LLMConfig(
        provider=ProviderName.OPENAI, model="from-agent-json", base_url="http://json/v1"
    )


@pytest.mark.parametrize(
    ("section", "options", "environ", "expected"),
    [
        (SECTION, None, {}, ("openai", "from-agent-json", "http://json/v1")),
        (None, None, ENVIRON, ("anthropic", "from-env", "http://env")),
        (None, OPTIONS, {}, ("openai", "from-cli", "http://cli/v1")),
    ],
    ids=["agent.json alone", "environment alone", "command line alone"],
)
def test_each_level_alone_configures_the_model(
    section: Any, options: LLMOverrides | None, environ: dict[str, str], expected: tuple
) -> None:
    config = merge_llm_config(section, options, environ)
    assert config is not None
    assert (config.provider.value, config.model, config.base_url) == expected


def test_each_override_replaces_only_its_own_setting() -> None:
    section = {**SECTION, "max_attempts": 2, "api_key_env": "GATEWAY_KEY"}
    config = merge_llm_config(section, None, {"AGENTGRAPH_LLM_MODEL": "from-env"})
    assert config == LLMConfig(
        provider=ProviderName.OPENAI,
        model="from-env",
        base_url="http://json/v1",
        max_attempts=2,
        api_key_env="GATEWAY_KEY",
    )


def test_nothing_given_anywhere_is_no_model() -> None:
    assert merge_llm_config(None, LLMOverrides(), {}) is None


def test_empty_variables_count_as_unset() -> None:
    environ = {"AGENTGRAPH_LLM_PROVIDER": "", "AGENTGRAPH_LLM_MODEL": ""}
    assert merge_llm_config(None, None, environ) is None
    config = merge_llm_config(SECTION, None, environ)
    assert config is not None and config.model == "from-agent-json"


def test_an_unknown_provider_override_is_one_line_naming_where_and_the_known_ones() -> None:
    with pytest.raises(LLMError) as caught:
        merge_llm_config(SECTION, None, {"AGENTGRAPH_LLM_PROVIDER": "gemini"})
    assert str(caught.value) == (
        "unknown LLM provider 'gemini' (AGENTGRAPH_LLM_PROVIDER); "
        "known providers: anthropic, openai"
    )
    with pytest.raises(LLMError, match=r"'gemini' \(--provider\); known providers"):
        LLMOverrides.given("gemini")


def test_the_environment_overrides_what_a_loaded_agent_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_agent(tmp_path / "agent", SECTION)
    monkeypatch.setenv("AGENTGRAPH_LLM_MODEL", "from-env")
    definition = load_definition(folder, llm_overrides=LLMOverrides.given(base_url="http://cli"))
    assert definition.llm is not None
    assert (definition.llm.model, definition.llm.base_url) == ("from-env", "http://cli")


# --- the provider built from it -----------------------------------------------------------


def test_an_openai_config_builds_a_provider_asking_its_model_with_the_named_key(
    endpoint: Endpoint,
) -> None:
    server = endpoint([Reply(body=chat_completion("hi there", "gpt-test"))])
    config = LLMConfig(
        provider=ProviderName.OPENAI,
        model="gpt-test",
        base_url=f"{server.url}/v1",
        api_key_env="GATEWAY_KEY",
        headers={"x-team": "docs"},
        max_attempts=2,
        prices={"gpt-test": ModelPrice(input_per_million=1.0, output_per_million=2.0)},
    )
    provider = provider_from_config(config, {"GATEWAY_KEY": SECRET})
    assert isinstance(provider, OpenAIProvider)
    assert (provider.model, provider.endpoint) == ("gpt-test", f"{server.url}/v1")
    assert provider.retry.max_attempts == 2
    assert provider.pricing.table["gpt-test"].input_per_million == 1.0
    assert ask(provider) == "hi there"
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "gpt-test"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["x-team"] == "docs"


def test_an_anthropic_config_builds_a_provider_asking_its_model_with_the_named_key(
    endpoint: Endpoint,
) -> None:
    server = endpoint([Reply(body=anthropic_message("bonjour", "claude-test"))])
    config = LLMConfig(
        provider=ProviderName.ANTHROPIC, model="claude-test", base_url=server.url, max_tokens=99
    )
    provider = provider_from_config(config, {"ANTHROPIC_API_KEY": SECRET})
    assert isinstance(provider, AnthropicProvider)
    assert (provider.model, provider.endpoint) == ("claude-test", server.url)
    assert ask(provider) == "bonjour"
    [request] = server.requests
    assert request.path == "/v1/messages"
    assert request.body["model"] == "claude-test"
    assert request.body["max_tokens"] == 99
    assert request.headers["authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("config", "variable"),
    [
        (LLMConfig(provider=ProviderName.OPENAI, model="gpt-4o"), "OPENAI_API_KEY"),
        (
            LLMConfig(provider=ProviderName.OPENAI, model="gpt-4o", api_key_env="TEAM_KEY"),
            "TEAM_KEY",
        ),
        (LLMConfig(provider=ProviderName.ANTHROPIC, model="claude"), "ANTHROPIC_API_KEY"),
    ],
    ids=["openai", "openai, a variable of one's own", "anthropic"],
)
def test_a_missing_key_variable_is_named_and_no_key_is_shown(
    config: LLMConfig, variable: str
) -> None:
    environ = {"OTHER_KEY": SECRET}
    with pytest.raises(LLMError) as caught:
        provider_from_config(config, environ)
    message = str(caught.value)
    assert f"the environment variable {variable} is not set" in message
    assert repr(config.model) in message
    assert SECRET not in message
    assert "\n" not in message


def test_an_unset_variable_of_ones_own_never_falls_back_to_the_providers_usual_one(
    monkeypatch: pytest.MonkeyPatch, endpoint: Endpoint
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("TEAM_KEY", raising=False)
    server = endpoint([Reply(body=chat_completion("should not be asked", "m"))])
    config = LLMConfig(
        provider=ProviderName.OPENAI, model="m", base_url=f"{server.url}/v1", api_key_env="TEAM_KEY"
    )

    with pytest.raises(LLMError, match="the environment variable TEAM_KEY is not set"):
        provider_from_config(config)
    assert server.requests == []


def test_a_local_endpoint_that_takes_no_key_needs_no_variable(endpoint: Endpoint) -> None:
    """An Ollama user names the model and the server, and nothing else."""
    server = endpoint([Reply(body=chat_completion("from llama", "llama3.2"))])
    config = merge_llm_config(
        {"provider": "openai", "model": "llama3.2", "base_url": f"{server.url}/v1"}, None, {}
    )
    assert config is not None
    assert ask(provider_from_config(config, {})) == "from llama"
    assert server.requests[0].body["model"] == "llama3.2"


# --- the runner ---------------------------------------------------------------------------


def test_describing_and_validating_a_configured_agent_needs_no_key(tmp_path: Path) -> None:
    folder = write_agent(tmp_path / "agent", {"provider": "anthropic", "model": "claude"})
    runner = AgentRunner.load(folder, storage_path=tmp_path / "home")
    assert runner.definition.llm is not None
    assert runner.info().nodes[0].id == "ask"
    assert runner.validate().warnings == []


def test_an_agent_without_a_model_still_warns_that_its_llm_node_needs_one(tmp_path: Path) -> None:
    runner = AgentRunner.load(write_agent(tmp_path / "agent"), storage_path=tmp_path / "home")
    assert runner.validate().warnings == [
        "llm_generate node 'ask' needs an LLM and none is configured"
    ]


async def test_a_run_builds_the_model_agent_json_names(
    tmp_path: Path, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = endpoint([Reply(body=chat_completion("forty-two", "gpt-test"))])
    section = {"provider": "openai", "model": "gpt-test", "base_url": f"{server.url}/v1"}
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    async with AgentRunner.load(
        write_agent(tmp_path / "agent", section), storage="memory://", storage_path=tmp_path
    ) as runner:
        result = await runner.run({"question": "the answer?"})
    assert result.success, result.error
    assert result.output["answer"] == "forty-two"
    assert server.requests[0].body["model"] == "gpt-test"
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_a_runner_closed_between_runs_builds_its_model_again(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    server = endpoint([], default=Reply(body=chat_completion("again", "llama3.2")))
    section = {"provider": "openai", "model": "llama3.2", "base_url": f"{server.url}/v1"}
    runner = AgentRunner.load(
        write_agent(tmp_path / "agent", section), storage="memory://", storage_path=tmp_path
    )

    async def run_once() -> Any:
        try:
            return await runner.run({"question": "q"})
        finally:
            await runner.aclose()

    outputs = [anyio.run(run_once).output["answer"] for _ in range(2)]
    assert outputs == ["again", "again"]
    assert len(server.requests) == 2


async def test_an_explicit_llm_wins_over_the_one_agent_json_names(tmp_path: Path) -> None:
    section = {"provider": "anthropic", "model": "claude"}  # no key: building it would fail
    mock = MockLLMProvider(["from the mock"])
    runner = AgentRunner.load(
        write_agent(tmp_path / "agent", section), llm=mock, storage_path=tmp_path
    )
    result = await runner.run({"question": "q"})
    assert result.output["answer"] == "from the mock"


async def test_a_run_without_the_key_fails_naming_the_variable(tmp_path: Path) -> None:
    section = {"provider": "anthropic", "model": "claude", "api_key_env": "TEAM_KEY"}
    runner = AgentRunner.load(write_agent(tmp_path / "agent", section), storage_path=tmp_path)
    with pytest.raises(LLMError, match="the environment variable TEAM_KEY is not set"):
        await runner.run({"question": "q"})


async def test_an_llm_node_without_a_model_says_how_to_configure_one() -> None:
    spec = NodeSpec.model_validate(ASK)
    context = NodeContext(
        run_id="run",
        node_id="ask",
        node_spec=spec,
        memory=SharedMemory({}),
        inputs={"question": "q"},
        llm=None,
    )
    result = await LLMNode().execute(context)
    assert not result.success
    assert result.error == (
        "LLMError: node 'ask' needs an LLM but none is configured; pass llm= to GraphExecutor "
        'or AgentRunner, or, for an agent folder, add an "llm" section to agent.json or give '
        "--provider/--model"
    )


# --- what is imported ---------------------------------------------------------------------


def test_loading_and_describing_an_agent_imports_no_sdk(tmp_path: Path) -> None:
    plain = write_agent(tmp_path / "plain")
    configured = write_agent(tmp_path / "configured", {"provider": "openai", "model": "m"})
    script = textwrap.dedent(
        f"""
        import sys
        import framework.runner
        for folder in ({str(plain)!r}, {str(configured)!r}):
            runner = framework.runner.AgentRunner.load(folder, storage_path={str(tmp_path)!r})
            runner.info(), runner.validate()
        print(sorted(name for name in ("openai", "anthropic") if name in sys.modules))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
