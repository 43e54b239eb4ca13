"""The SDKs are optional extras: ``import framework`` loads none, each provider loads its own."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("provider", "sdk", "module"),
    [
        ("OpenAIProvider", "openai", "framework.llm.openai_provider"),
        ("AnthropicProvider", "anthropic", "framework.llm.anthropic_provider"),
    ],
)
def test_an_sdk_is_imported_only_when_its_provider_is_asked_for(
    provider: str, sdk: str, module: str
) -> None:
    code = (
        "import sys, framework, framework.llm\n"
        "print(sorted(name for name in ('openai', 'anthropic') if name in sys.modules))\n"
        f"from framework.llm import {provider}\n"
        f"print({sdk!r} in sys.modules, {provider}.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", f"True {module}"]
