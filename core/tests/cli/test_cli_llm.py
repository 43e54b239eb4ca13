"""`agentgraph run / info` of an agent whose model agent.json names, and `--provider`,
`--model`, `--base-url` and the `AGENTGRAPH_LLM_*` variables over it, against a scripted
OpenAI-compatible endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Agentgraph, Finished

from framework.testing.fake_endpoint import FakeEndpoint, Received, Reply

KEY_VARIABLE = "AGENT_TEST_LLM_KEY"
SECRET = "sk-test-cli-do-not-print-0123456789"
GOAL = {"id": "goal", "name": "Goal", "description": "Answer."}
GRAPH = {
    "id": "asker",
    "entry_node": "ask",
    "nodes": [
        {
            "id": "ask",
            "name": "Ask",
            "description": "Answer the question.",
            "node_type": "llm_generate",
            "prompt_template": "{question}",
            "input_keys": ["question"],
            "output_keys": ["answer"],
        }
    ],
}
QUESTION = json.dumps({"question": "What is six times seven?"})


def chat_completion(received: Received) -> Reply:
    """A reply naming the model the request asked for."""
    model = received.body["model"]
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"42, says {model}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
    )


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGENTGRAPH_STORAGE", f"sqlite:///{tmp_path / 'state.db'}")
    for name in (
        "AGENTGRAPH_LLM_PROVIDER",
        "AGENTGRAPH_LLM_MODEL",
        "AGENTGRAPH_LLM_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        KEY_VARIABLE,
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeEndpoint]:
    with FakeEndpoint(chat_completion) as endpoint:
        yield endpoint


def write_agent(
    folder: Path, llm: dict[str, Any] | None = None, *, pause_first: bool = False
) -> Path:
    """The asking agent; with ``pause_first``, a run pauses before it asks."""
    folder.mkdir(parents=True)
    graph: dict[str, Any] = GRAPH
    if pause_first:
        hold = {"id": "hold", "name": "Hold", "description": "Wait.", "output_keys": ["held"]}
        graph = {
            **GRAPH,
            "entry_node": "hold",
            "pause_nodes": ["hold"],
            "nodes": [hold, *GRAPH["nodes"]],
            "edges": [{"id": "hold-ask", "source": "hold", "target": "ask"}],
        }
        (folder / "functions.py").write_text("def hold():\n    return True\n")
    data: dict[str, Any] = {"graph": graph, "goal": GOAL}
    if llm is not None:
        data["llm"] = llm
    (folder / "agent.json").write_text(json.dumps(data))
    return folder


@pytest.fixture
def configured(tmp_path: Path, server: FakeEndpoint) -> Path:
    """An agent whose llm section names model `named-model` at the scripted endpoint."""
    section = {
        "provider": "openai",
        "model": "named-model",
        "base_url": f"{server.url}/v1",
        "api_key_env": KEY_VARIABLE,
    }
    return write_agent(tmp_path / "configured", section)


def answer(finished: Finished) -> str:
    assert finished.code == 0, finished.stderr
    return str(json.loads(finished.stdout)["output"]["answer"])


def asked_models(server: FakeEndpoint) -> list[str]:
    return [request.body["model"] for request in server.requests]


def test_run_asks_the_model_agent_json_names_with_the_key_of_the_named_variable(
    agentgraph: Agentgraph, configured: Path, server: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    finished = agentgraph("run", str(configured), "--input", QUESTION, "--json")
    assert answer(finished) == "42, says named-model"
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "named-model"
    assert request.body["messages"][-1]["content"] == "What is six times seven?"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in finished.stdout + finished.stderr


def test_run_prints_the_models_reply(
    agentgraph: Agentgraph, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    finished = agentgraph("run", str(configured), "--input", QUESTION)
    assert finished.code == 0, finished.stderr
    assert "completed" in finished.stdout
    assert '"answer": "42, says named-model"' in finished.stdout


def test_model_option_and_variable_override_the_one_agent_json_names(
    agentgraph: Agentgraph, configured: Path, server: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    monkeypatch.setenv("AGENTGRAPH_LLM_MODEL", "env-model")
    assert answer(agentgraph("run", str(configured), "--input", QUESTION, "--json")) == (
        "42, says env-model"
    )
    finished = agentgraph("run", str(configured), "--input", QUESTION, "--json", "--model", "other")
    assert answer(finished) == "42, says other"
    assert asked_models(server) == ["env-model", "other"]


def test_the_options_configure_an_agent_without_an_llm_section(
    agentgraph: Agentgraph, tmp_path: Path, server: FakeEndpoint
) -> None:
    folder = write_agent(tmp_path / "plain")
    base_url = f"{server.url}/v1"
    options = ["--provider", "openai", "--model", "m", "--base-url", base_url]
    finished = agentgraph("run", str(folder), "--input", QUESTION, "--json", *options)
    assert answer(finished) == "42, says m"
    assert asked_models(server) == ["m"]


def test_the_readmes_ticket_agent_runs_on_the_model_the_options_name(
    agentgraph: Agentgraph, server: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    agent = Path(__file__).resolve().parents[3] / "examples" / "agents" / "ticket_reply"
    ticket = json.dumps({"ticket": "My invoice shows two charges for March."})
    options = ["--provider", "openai", "--model", "gpt-4o-mini", "--base-url", f"{server.url}/v1"]

    finished = agentgraph("run", str(agent), "--input", ticket, "--json", *options)

    assert finished.code == 0, finished.stderr
    result = json.loads(finished.stdout)
    assert result["output"]["summary"] == "42, says gpt-4o-mini"
    assert result["output"]["reply"] == "42, says gpt-4o-mini"
    assert result["total_tokens"] == 2 * 7
    [summarise, draft] = server.requests
    assert summarise.body["messages"][0]["role"] == "system"
    assert "two charges for March" in draft.body["messages"][1]["content"]
    assert summarise.headers["authorization"] == f"Bearer {SECRET}"


def test_the_variables_configure_an_agent_without_an_llm_section(
    agentgraph: Agentgraph, tmp_path: Path, server: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTGRAPH_LLM_PROVIDER", "openai")
    monkeypatch.setenv("AGENTGRAPH_LLM_MODEL", "env-model")
    monkeypatch.setenv("AGENTGRAPH_LLM_BASE_URL", f"{server.url}/v1")
    folder = write_agent(tmp_path / "plain")
    assert answer(agentgraph("run", str(folder), "--input", QUESTION, "--json")) == (
        "42, says env-model"
    )


def assert_one_error_line(finished: Finished, *fragments: str) -> str:
    assert finished.code == 1
    assert "Traceback" not in finished.stderr
    [line] = finished.stderr.splitlines()
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line
    return line


def test_a_missing_key_variable_is_one_error_line_naming_it(
    agentgraph: Agentgraph, tmp_path: Path
) -> None:
    """OpenAI's own API needs a key (a local server may take none)."""
    section = {"provider": "openai", "model": "gpt-4o", "api_key_env": KEY_VARIABLE}
    folder = write_agent(tmp_path / "remote", section)
    finished = agentgraph("run", str(folder), "--input", QUESTION)
    line = assert_one_error_line(finished, f"the environment variable {KEY_VARIABLE} is not set")
    assert "'gpt-4o'" in line
    assert finished.stdout == ""


def test_an_unknown_provider_is_one_error_line_listing_the_known_ones(
    agentgraph: Agentgraph, configured: Path
) -> None:
    for command in (["run", str(configured), "--input", QUESTION], ["recover", str(configured)]):
        finished = agentgraph(*command, "--provider", "gemini")
        assert_one_error_line(
            finished, "unknown LLM provider 'gemini' (--provider)", "anthropic, openai"
        )


def test_batch_items_ask_the_model_the_options_name(
    agentgraph: Agentgraph,
    configured: Path,
    server: FakeEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    items = tmp_path / "items.jsonl"
    items.write_text(QUESTION + "\n")
    finished = agentgraph(
        "batch", str(configured), "--items", str(items), "--run-id", "b1", "--model", "batch-model"
    )
    assert finished.code == 0, finished.stderr
    assert finished.stdout.splitlines()[0] == "batch b1 completed"
    assert asked_models(server) == ["batch-model"]


def test_a_paused_run_resumes_with_the_model_its_printed_command_names(
    agentgraph: Agentgraph, tmp_path: Path, server: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    section = {"provider": "openai", "base_url": f"{server.url}/v1", "api_key_env": KEY_VARIABLE}
    folder = write_agent(tmp_path / "pausing", section, pause_first=True)
    paused = agentgraph("run", str(folder), "--input", QUESTION, "--model", "chosen-model")
    assert paused.code == 0, paused.stderr
    [hint] = [line for line in paused.stdout.splitlines() if line.startswith("resume with: ")]
    command = shlex.split(hint.removeprefix("resume with: "))
    assert command[:2] == ["agentgraph", "resume"]
    assert command[-2:] == ["--model", "chosen-model"]
    assert server.requests == []
    assert answer(agentgraph(*command[1:], "--json")) == "42, says chosen-model"
    assert asked_models(server) == ["chosen-model"]


def test_info_shows_the_provider_and_model_and_never_a_key(
    agentgraph: Agentgraph, configured: Path, server: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    text = agentgraph("info", str(configured))
    assert text.code == 0, text.stderr
    assert (
        f"llm: openai model named-model at {server.url}/v1, key from ${KEY_VARIABLE}"
        in text.stdout.splitlines()
    )
    shown = agentgraph("info", str(configured), "--json")
    assert json.loads(shown.stdout)["llm"] == {
        "provider": "openai",
        "model": "named-model",
        "base_url": f"{server.url}/v1",
        "api_key_env": KEY_VARIABLE,
    }
    assert SECRET not in text.stdout + shown.stdout


def test_info_and_validate_of_a_configured_agent_need_no_key(
    agentgraph: Agentgraph, configured: Path
) -> None:
    assert agentgraph("info", str(configured)).code == 0
    validated = agentgraph("validate", str(configured), "--json")
    assert validated.code == 0, validated.stderr
    assert json.loads(validated.stdout)["warnings"] == []


def test_info_of_an_agent_without_a_model_shows_none(
    agentgraph: Agentgraph, tmp_path: Path
) -> None:
    folder = write_agent(tmp_path / "plain")
    assert "llm" not in json.loads(agentgraph("info", str(folder), "--json").stdout)
    assert "llm:" not in agentgraph("info", str(folder)).stdout
