"""Triage a few documents with the example agent and show where each one went.

Run with ``make demo`` (or ``.venv/bin/python examples/run_demo.py``). The agent lives in
``examples/agents/document_triage/``: ``agent.json`` is the graph, ``functions.py`` the
Python behind its nodes. No LLM and no network are needed. Each run's decision log is
written under ``$AGENTGRAPH_HOME`` (default ``~/.agentgraph``) in ``decisions/<run id>/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from framework.errors import AgentGraphError
from framework.runner import AgentRunner

AGENT = Path(__file__).parent / "agents" / "document_triage"

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


async def main() -> int:
    try:
        runner = AgentRunner.load(AGENT)
    except AgentGraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    info = runner.info()
    print(f"{info.name}: {len(info.nodes)} nodes, {len(info.edges)} edges")
    print(f"decision logs: {runner.runtime.root}\n")
    failures = 0
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
        if triage.get("parties"):
            parties = " and ".join(triage["parties"])
            print(f"    parties:  {parties}, {triage['term_months']} months")
        log = runner.runtime.get_run(result.run_id)
        print(f"    logged:   {len(log.decisions)} decisions, run {result.run_id}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
