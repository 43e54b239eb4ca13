"""An order workflow as a state machine, checkpointed to SQLite after every state.

Run with ``.venv/bin/python examples/02_state_machine.py``. The order moves through
states (received -> reserved -> charging -> shipped -> delivered); a router decides after
each card charge whether to ship, retry the charge (a loop, at most three attempts) or
cancel. The card is declined twice, so the payment loop runs three times and the visit
counts show it. Every completed state is a checkpoint in a SQLite database: the script
lists them — each one says which state the order was in and which node runs next, which
is exactly where a restarted process would continue. Executing the same run id again
returns the stored result without running a single node.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

from framework import (
    CheckpointConfig,
    CheckpointManager,
    EdgeSpec,
    Goal,
    GraphExecutor,
    GraphSpec,
    NodeSpec,
    NodeType,
)

RUN_ID = "order-1001"
ORDER = {"order_id": "1001", "items": {"desk": 1, "lamp": 2}, "card": "4000-0000-0000-0002"}
DECLINES_BEFORE_SUCCESS = 2
MAX_PAYMENT_ATTEMPTS = 3

calls: Counter[str] = Counter()


def receive(order: dict[str, Any]) -> dict[str, Any]:
    calls["receive"] += 1
    return {"status": "received", "units": sum(order["items"].values())}


def reserve_stock(units: int) -> dict[str, Any]:
    calls["reserve_stock"] += 1
    return {"status": "reserved", "reservation": f"RES-{units}"}


def charge_card(order: dict[str, Any], payment_attempts: int = 0) -> dict[str, Any]:
    calls["charge_card"] += 1
    attempt = payment_attempts + 1
    paid = attempt > DECLINES_BEFORE_SUCCESS
    return {
        "status": "charging",
        "payment_status": "paid" if paid else "declined",
        "payment_attempts": attempt,
    }


def wait_and_retry(payment_attempts: int) -> dict[str, Any]:
    calls["wait_and_retry"] += 1
    return {"status": "payment_retry", "retry_note": f"retrying after attempt {payment_attempts}"}


def ship(reservation: str) -> dict[str, Any]:
    calls["ship"] += 1
    return {"status": "shipped", "tracking": f"TRK-{reservation[4:]}-77"}


def deliver(tracking: str) -> dict[str, Any]:
    calls["deliver"] += 1
    return {"status": "delivered", "delivered_with": tracking}


def cancel_order(payment_attempts: int) -> dict[str, Any]:
    calls["cancel_order"] += 1
    return {"status": "cancelled", "reason": f"card declined {payment_attempts} times"}


def state(node_id: str, inputs: list[str], outputs: list[str], **fields: Any) -> NodeSpec:
    return NodeSpec(
        id=node_id,
        name=node_id.replace("_", " "),
        description=f"order state machine: {node_id}",
        input_keys=inputs,
        output_keys=outputs,
        max_retries=0,
        **fields,
    )


def order_workflow() -> GraphSpec:
    return GraphSpec(
        id="order-workflow",
        entry_node="receive",
        terminal_nodes=["deliver", "cancel_order"],
        nodes=[
            state("receive", ["order"], ["status", "units"]),
            state("reserve_stock", ["units"], ["status", "reservation"]),
            state(
                "charge_card",
                ["order", "payment_attempts"],
                ["status", "payment_status", "payment_attempts"],
            ),
            state(
                "payment_router",
                ["payment_status", "payment_attempts"],
                [],
                node_type=NodeType.ROUTER,
                routes={
                    "payment_status == 'paid'": "ship",
                    f"payment_attempts >= {MAX_PAYMENT_ATTEMPTS}": "cancel_order",
                    "default": "wait_and_retry",
                },
            ),
            state("wait_and_retry", ["payment_attempts"], ["status", "retry_note"]),
            state("ship", ["reservation"], ["status", "tracking"]),
            state("deliver", ["tracking"], ["status", "delivered_with"]),
            state("cancel_order", ["payment_attempts"], ["status", "reason"]),
        ],
        edges=[
            EdgeSpec(id="received", source="receive", target="reserve_stock"),
            EdgeSpec(id="reserved", source="reserve_stock", target="charge_card"),
            EdgeSpec(id="charged", source="charge_card", target="payment_router"),
            EdgeSpec(id="retry", source="wait_and_retry", target="charge_card"),
            EdgeSpec(id="shipped", source="ship", target="deliver"),
        ],
    )


def executor(manager: CheckpointManager) -> GraphExecutor:
    run = GraphExecutor(checkpoint_manager=manager)
    for function in (
        receive,
        reserve_stock,
        charge_card,
        wait_and_retry,
        ship,
        deliver,
        cancel_order,
    ):
        run.register_function(function.__name__, function)
    return run


async def main() -> None:
    goal = Goal(id="fulfil", name="Fulfil order", description="Get the order paid and delivered.")
    graph = order_workflow()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{Path(folder) / 'orders.db'}"
        config = CheckpointConfig(retention_strategy="all")
        async with CheckpointManager(url, config) as manager:
            result = await executor(manager).execute(graph, goal, {"order": ORDER}, run_id=RUN_ID)
            print(
                f"run {result.run_id}: {result.run_status}, final state {result.output['status']}"
            )
            print(f"path: {' -> '.join(result.path)}")
            visits = ", ".join(f"{node} x{n}" for node, n in result.node_visit_counts.items())
            print(f"visits: {visits}")

            print(f"\ncheckpoints in {url}:")
            print(f"{'seq':<4} {'kind':<14} {'after node':<15} {'state':<14} {'payment':<11} next")
            for meta in await manager.alist_checkpoints(RUN_ID):
                cp = await manager.aget_checkpoint(RUN_ID, meta.id)
                assert cp is not None
                memory = cp.memory_snapshot
                after = cp.current_node_id or "-"
                payment = "-"
                if "payment_status" in memory:
                    payment = f"{memory['payment_status']} #{memory['payment_attempts']}"
                print(
                    f"{meta.seq:<4} {meta.kind:<14} {after:<15} {memory.get('status', '-'):<14} "
                    f"{payment:<11} {cp.next_node_id or '(done)'}"
                )

            ran_before = sum(calls.values())
            again = await executor(manager).execute(graph, goal, {"order": ORDER}, run_id=RUN_ID)
            ran = sum(calls.values()) - ran_before
            same = again.output == result.output
            print(
                f"\nsame run id again: {again.run_status}, {ran} nodes ran, "
                f"stored result returned: {'yes' if same else 'NO'}"
            )


if __name__ == "__main__":
    anyio.run(main)
