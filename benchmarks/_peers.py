"""The peers' side seen from the benchmark: their virtual environment and a worker process.

LangGraph is installed in ``benchmarks/.venv-peers`` (created on first use from the pinned
``peers-requirements.txt``, reinstalled when that file changes), never in the project's
environment. :class:`PeerWorker` keeps one ``peers_langgraph.py --serve`` process running
for the whole benchmark, so each round can interleave peer measurements with ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from _common import Request, Sample

__all__ = ["PEER_MODES", "PeerWorker", "peer_python", "peer_versions"]

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-peers"
REQUIREMENTS = HERE / "peers-requirements.txt"
SCRIPT = HERE / "peers_langgraph.py"

PEER_MODES = {
    "none": "LangGraph, no checkpointer",
    "memory": "LangGraph InMemorySaver (durability sync)",
    "sqlite": "LangGraph SqliteSaver (durability sync)",
}


def peer_python() -> Path:
    """The peers' python, after creating and filling its environment if needed."""
    scripts = "Scripts" if os.name == "nt" else "bin"
    python = VENV / scripts / ("python.exe" if os.name == "nt" else "python")
    stamp = VENV / ".installed"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        print(f"creating {VENV} for the peers", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def peer_versions(python: Path) -> dict[str, str]:
    """The installed versions of the peers' packages."""
    names = [line.split("==")[0] for line in REQUIREMENTS.read_text().split() if "==" in line]
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    done = subprocess.run(
        [str(python), "-c", code, *names], check=True, capture_output=True, text=True
    )
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


class PeerWorker:
    """One long-lived peers process answering measurement requests."""

    def __init__(self, python: Path, base: Path) -> None:
        self._process = subprocess.Popen(
            [str(python), str(SCRIPT), "--serve", "--tmp", str(base)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        if self._process.stdin is None or self._process.stdout is None:
            raise RuntimeError("the peers worker has no pipes")
        return self._process.stdin, self._process.stdout

    def measure(self, request: Request) -> Sample:
        requests, answers = self._pipes()
        requests.write(json.dumps(request) + "\n")
        requests.flush()
        line = answers.readline()
        if not line:
            raise RuntimeError(f"the peers worker stopped (exit code {self._process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"LangGraph measurement {request} failed: {answer['error']}")
        sample: Sample = answer
        return sample

    def close(self) -> None:
        requests, _ = self._pipes()
        requests.close()
        self._process.wait(timeout=60)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
