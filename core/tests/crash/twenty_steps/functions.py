"""The crash-test agent's twenty steps: each logs its start and end, every fourth sends a receipt.

Logs are files named by environment variables, appended one line at a time with flush and
fsync so they survive a SIGKILL of the process:

- ``CRASH_NODE_LOG``: ``start <node>`` and ``done <node>``;
- ``CRASH_CALL_LOG``: ``call <effect key> <idempotency key>`` each time the receipt
  service is called;
- ``CRASH_EFFECT_LOG``: ``effect <effect key> <idempotency key>`` each time it applies a
  receipt. Like a real idempotent API it applies an idempotency key at most once, so this
  file counts what really happened outside the process.

``CRASH_NODE_DELAY`` (seconds, default 0.02) is each step's work time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import anyio

EFFECT_EVERY = 4


def _append(variable: str, line: str) -> None:
    with open(os.environ[variable], "a", encoding="utf-8") as log:
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())


def _send_receipt(node_id: str, acc: str, *, idempotency_key: str) -> str:
    key = f"{node_id}:receipt"
    _append("CRASH_CALL_LOG", f"call {key} {idempotency_key}")
    applied = Path(os.environ["CRASH_EFFECT_LOG"])
    seen = applied.read_text(encoding="utf-8").split() if applied.exists() else []
    if idempotency_key not in seen:
        _append("CRASH_EFFECT_LOG", f"effect {key} {idempotency_key}")
    return f"receipt-{node_id}-{acc[:8]}"


def _make_step(number: int) -> Any:
    node_id = f"n{number:02d}"

    async def step(acc: str, ctx: Any) -> Any:
        _append("CRASH_NODE_LOG", f"start {node_id}")
        await anyio.sleep(float(os.environ.get("CRASH_NODE_DELAY", "0.02")))
        acc = hashlib.sha256(f"{acc}/{node_id}".encode()).hexdigest()[:16]
        output: Any = acc
        if number % EFFECT_EVERY == 0:
            receipt = await ctx.effect("receipt", _send_receipt, node_id, acc)
            output = {"acc": acc, f"receipt_{node_id}": receipt}
        _append("CRASH_NODE_LOG", f"done {node_id}")
        return output

    step.__name__ = node_id
    return step


FUNCTIONS = {f"n{number:02d}": _make_step(number) for number in range(1, 21)}
