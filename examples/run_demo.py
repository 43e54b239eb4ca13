"""The demo: a run survives its process being killed, then an agent triages documents.

Run with ``make demo`` (or ``.venv/bin/python examples/run_demo.py``). No LLM and no
network are needed.

1. Fault recovery (``examples/04_fault_recovery.py``): a worker process is killed with
   SIGKILL in the middle of an eight-node run; a restarted worker finds the run and
   continues it from its latest checkpoint, skipping every node that had completed, and
   the result equals an uninterrupted run's. Its databases live in a temporary folder.
2. Document triage (``examples/agents/document_triage/``): a few documents go through the
   triage agent as durable runs, stored in ``$AGENTGRAPH_HOME/state.db`` (default
   ``~/.agentgraph``) with their decision logs under ``decisions/<run id>/``; inspect
   them later or resume one with ``agentgraph resume``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio

from framework import AgentRunner
from framework.errors import AgentGraphError

EXAMPLES = Path(__file__).parent
AGENT = EXAMPLES / "agents" / "document_triage"

DOCUMENTS = {
    "office-supplies invoice": """
        INVOICE No. INV-2024-0193
        From: Paper & Pens Ltd, 4 Mill Lane.   Bill to: Acme Corp
        Office supplies, March.     Total: $1,240.50
        Payment terms: 30 days.  Due date: 2024-04-30
    """,
    "data-centre invoice": """
        Invoice number: DC-7781
        From: Northwind Hosting. Bill to: Acme Corp
        Rack space and bandwidth, Q1.  Amount due: EUR 48,300.00
        Due: 2024-05-15
    """,
    "services contract": """
        This Services Agreement is made between Acme Corp and Globex Consulting, for a
        term of 12 months. The parties hereby agree to the statement of work attached.
        Either party may terminate with 30 days notice. Governing law: Delaware.
    """,
    "meeting note": """
        Notes from Tuesday: move the planning meeting to Thursday and bring the roadmap.
    """,
}


def fault_recovery() -> int:
    print("=== 1. a run that survives SIGKILL ===\n", flush=True)
    story = subprocess.run([sys.executable, str(EXAMPLES / "04_fault_recovery.py")], check=False)
    return story.returncode


async def triage() -> int:
    print("\n=== 2. document triage, as durable runs ===\n")
    try:
        runner = AgentRunner.load(AGENT)
    except AgentGraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failures = 0
    async with runner:
        info = runner.info()
        print(f"{info.name}: {len(info.nodes)} nodes, {len(info.edges)} edges")
        print(f"runs stored in {runner.storage}\n")
        for title, document in DOCUMENTS.items():
            result = await runner.run({"document": document})
            if not result.success:
                failures += 1
                print(f"- {title}: FAILED: {result.error}")
                continue
            triage = result.output["triage"]
            print(f"- {title}")
            print(f"    path:     {' -> '.join(result.path)}")
            print(f"    decision: {triage['decision']} (queue {triage['queue']})")
            if "reason" in triage:
                print(f"    reason:   {triage['reason']}")
            print(f"    run:      {result.run_id} ({result.run_status})")
    return 1 if failures else 0


def main() -> int:
    recovered = fault_recovery()
    triaged = anyio.run(triage)
    return recovered or triaged


if __name__ == "__main__":
    sys.exit(main())
