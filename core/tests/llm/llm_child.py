"""The process the model crash test kills: one durable run of a tool-using LLM node.

``python llm_child.py --storage URL --base-url URL --run-id ID --marker FILE``

The node asks the model (an :class:`OpenAIProvider` of ``--base-url``), which asks for the
``lookup`` tool. The first time the tool runs it creates ``--marker`` and the process kills
itself with SIGKILL: after the model answered, before the node finished. Run again, the
tool answers and the node finishes; the run's result is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import anyio

from framework.durable import CheckpointManager
from framework.graph import GraphSpec
from framework.graph.executor import GraphExecutor
from framework.graph.goal import Goal
from framework.graph.node import NodeSpec, NodeType
from framework.llm import OpenAIProvider, Tool, ToolCall

KEY = "sk-test-0123456789abcdef"
PRICES = {"gpt-test": {"input_per_million": 1.0, "output_per_million": 2.0}}
GRAPH = GraphSpec(
    id="lookup-agent",
    entry_node="agent",
    nodes=[
        NodeSpec(
            id="agent",
            name="agent",
            description="Look the word up, then answer.",
            node_type=NodeType.LLM_TOOL_USE,
            prompt_template="What does {word} mean?",
            input_keys=["word"],
            output_keys=["answer"],
            tools=["lookup"],
            max_retries=0,
        )
    ],
    edges=[],
)
GOAL = Goal(id="define", name="Define", description="Define a word.")


def lookup(marker: Path, call: ToolCall) -> str:
    if not marker.exists():
        with marker.open("w") as file:
            file.flush()
            os.fsync(file.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    return "the rise and fall of the sea"


async def main(args: argparse.Namespace) -> None:
    marker = Path(args.marker)
    llm = OpenAIProvider("gpt-test", base_url=args.base_url, api_key=KEY, prices=PRICES)
    async with CheckpointManager(args.storage) as manager, llm:
        executor = GraphExecutor(
            llm=llm,
            tools=[Tool(name="lookup", description="Look a word up.")],
            tool_executor=lambda call: lookup(marker, call),
            checkpoint_manager=manager,
        )
        result = await executor.execute(GRAPH, GOAL, {"word": "tide"}, run_id=args.run_id)
    print(json.dumps(result.model_dump(mode="json")), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for option in ("--storage", "--base-url", "--run-id", "--marker"):
        parser.add_argument(option, required=True)
    anyio.run(main, parser.parse_args())
