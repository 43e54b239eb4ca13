"""Bad input to `agentgraph` is one `error:` line on stderr and exit 1, never a traceback.

The cases the issue found printing tracebacks: JSON that Python's parser refuses after
parsing started (an integer of more than 4,300 digits, nesting 100,000 deep) in agent.json
and in --input, storage URLs naming something that is not a store, and an AGENTGRAPH_HOME
or --storage path under a file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Agentgraph

import framework

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "agents" / "document_triage"
DOCUMENT = json.dumps({"document": "Lunch moves to Thursday."})
HUGE_INTEGER = "9" * 4_400
DEEP = 100_000


def agentgraph(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "AGENTGRAPH_HOME": str(home),
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            # The child runs the framework this test imported (a checkout's, not the venv's).
            "PYTHONPATH": str(Path(framework.__file__).parents[1]),
            **env,
        },
        check=False,
    )


def assert_one_error_line(completed: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("error: ")
    assert "internal error" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def agent_with(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "agent"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "agent.json").write_text(text)
    return folder


def huge_integer_agent(tmp_path: Path) -> Path:
    spec = (EXAMPLE / "agent.json").read_text()
    return agent_with(
        tmp_path, spec.replace('"max_retries": 0', f'"max_retries": {HUGE_INTEGER}', 1)
    )


def deep_agent(tmp_path: Path) -> Path:
    spec = json.loads((EXAMPLE / "agent.json").read_text())
    spec["graph"]["description"] = "@"
    text = json.dumps(spec).replace('"@"', "[" * DEEP + "]" * DEEP)
    return agent_with(tmp_path, text)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_integer_too_long_for_python_in_agent_json_is_one_error_line(
    tmp_path: Path, command: str
) -> None:
    folder = huge_integer_agent(tmp_path)
    completed = agentgraph(command, str(folder), home=tmp_path / "home")
    assert_one_error_line(completed, str(folder / "agent.json"), "more than 4300 digits")


@pytest.mark.parametrize("command", ["validate", "run"])
def test_agent_json_nested_too_deeply_is_one_error_line(tmp_path: Path, command: str) -> None:
    folder = deep_agent(tmp_path)
    completed = agentgraph(command, str(folder), home=tmp_path / "home")
    assert_one_error_line(completed, str(folder / "agent.json"), "nested too deeply")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("[" * DEEP + "]" * DEEP, "nested too deeply"),
        (HUGE_INTEGER, "more than 4300 digits"),
    ],
    ids=["deep", "huge-integer"],
)
def test_input_file_that_python_cannot_parse_is_one_error_line(
    tmp_path: Path, value: str, fragment: str
) -> None:
    # 100,000 levels do not fit in one command-line argument, so they come in a file.
    input_file = tmp_path / "input.json"
    input_file.write_text('{"document": ' + value + "}")
    completed = agentgraph(
        "run", str(EXAMPLE), "--input-file", str(input_file), home=tmp_path / "home"
    )
    assert_one_error_line(completed, f"--input-file {input_file}", fragment)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        (HUGE_INTEGER, "more than 4300 digits"),
    ],
    ids=["deep", "huge-integer"],
)
def test_input_that_python_cannot_parse_is_one_error_line(
    tmp_path: Path, value: str, fragment: str
) -> None:
    completed = agentgraph(
        "run", str(EXAMPLE), "--input", '{"document": ' + value + "}", home=tmp_path / "home"
    )
    assert_one_error_line(completed, "--input", fragment)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_file_store_whose_folders_cannot_be_created_is_one_error_line(tmp_path: Path) -> None:
    completed = agentgraph(
        "run", str(EXAMPLE), "--input", DOCUMENT, "--storage", "file:///proc/self", home=tmp_path
    )
    assert_one_error_line(completed, "cannot create the folder")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("sqlite:///dev/null", "/dev/null is not a regular file"),
        ("file:///etc/passwd", "/etc/passwd is a file, not a folder"),
        ("sqlite:///%00x", "holds a NUL character"),
    ],
)
@pytest.mark.parametrize("command", ["run", "recover"])
def test_storage_url_that_names_no_store_is_one_error_line(
    tmp_path: Path, url: str, fragment: str, command: str
) -> None:
    args = ("--input", DOCUMENT) if command == "run" else ()
    completed = agentgraph(command, str(EXAMPLE), *args, "--storage", url, home=tmp_path)
    assert_one_error_line(completed, fragment)


@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_storage_path_under_a_file_is_one_error_line(tmp_path: Path, scheme: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    url = f"{scheme}://{tmp_path}/a-file/store/state.db"
    completed = agentgraph(
        "run", str(EXAMPLE), "--input", DOCUMENT, "--storage", url, home=tmp_path / "home"
    )
    assert_one_error_line(completed, f"{tmp_path / 'a-file'} is a file")


@pytest.mark.parametrize("home_name", ["a-file/home", "a-file"])
@pytest.mark.parametrize("storage", [None, "memory://"])
def test_agentgraph_home_under_a_file_or_a_file_itself_is_one_error_line(
    tmp_path: Path, storage: str | None, home_name: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    home = tmp_path / home_name
    args = ("--storage", storage) if storage else ()
    completed = agentgraph("run", str(EXAMPLE), "--input", DOCUMENT, *args, home=home)
    assert_one_error_line(completed, f"AGENTGRAPH_HOME {home}", "set AGENTGRAPH_HOME to a folder")


def test_an_error_is_one_line_and_debug_adds_its_traceback(
    agentgraph: Agentgraph, tmp_path: Path
) -> None:
    plain = agentgraph("info", str(tmp_path / "missing"))
    debugged = agentgraph("--debug", "info", str(tmp_path / "missing"))

    assert plain.code == debugged.code == 1
    assert plain.stderr.count("\n") == 1 and plain.stderr.startswith("error: ")
    assert "Traceback (most recent call last)" in debugged.stderr
    assert debugged.stderr.splitlines()[-1] == plain.stderr.strip()
