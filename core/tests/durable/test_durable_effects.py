"""The effects ledger: a node's side effects happen once per run, even across crashes."""

from __future__ import annotations

from typing import Any

import pytest
from durable_helpers import GOAL, RECEIPT, Crash, NodeLog, Payments, chain, executor_for

from framework.durable import idempotency_key
from framework.graph import EdgeCondition, EdgeSpec, GraphSpec
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.node import NodeContext, NodeSpec
from framework.schemas.effect import EffectStatus
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend

SEED = {"seed": "s"}


def charging_node(payments: Payments, *, use_async: bool, crash_after: list[bool]) -> Any:
    async def n2(ctx: NodeContext) -> Any:
        fn = payments.acharge if use_async else payments.charge
        receipt = await ctx.effect("charge", fn, 5)
        if crash_after and crash_after.pop():
            raise Crash("died after charging")
        return receipt

    return n2


@pytest.mark.parametrize("use_async", [False, True])
async def test_completed_effect_is_not_repeated_after_a_crash_and_returns_its_result(
    manager: CheckpointManager, storage: StorageBackend, use_async: bool
) -> None:
    graph = chain(3)
    payments = Payments()

    def build() -> Any:
        executor = executor_for(graph, NodeLog(), manager)
        node = charging_node(payments, use_async=use_async, crash_after=crash)
        executor.register_function("n2", node)
        return executor

    crash = [True]
    with pytest.raises(Crash):
        await build().execute(graph, GOAL, SEED, run_id="r")
    result = await build().execute(graph, GOAL, run_id="r")

    assert len(payments.calls) == 1
    assert result.output["n2"] == RECEIPT  # revived exactly: datetime and tuple included
    assert isinstance(result.output["n2"]["parts"], tuple)
    effect = storage.get_effect("r", "n2:charge")
    assert effect is not None and effect.status is EffectStatus.COMPLETED
    assert effect.attempts == 1


async def test_in_doubt_effect_is_called_again_with_the_same_idempotency_key(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    graph = chain(3)
    payments = Payments()
    payments.crash_inside = True

    def build() -> Any:
        executor = executor_for(graph, NodeLog(), manager)
        executor.register_function("n2", charging_node(payments, use_async=False, crash_after=[]))
        return executor

    with pytest.raises(Crash):
        await build().execute(graph, GOAL, SEED, run_id="r")
    preview = manager.preview_resume("r")
    assert [e.key for e in preview.in_doubt_effects] == ["n2:charge"]

    result = await build().execute(graph, GOAL, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    expected = idempotency_key("r", "n2", "n2:charge")
    assert payments.calls == [(5, expected), (5, expected)]
    effect = storage.get_effect("r", "n2:charge")
    assert effect is not None
    assert effect.status is EffectStatus.COMPLETED and effect.attempts == 2


async def test_in_doubt_effect_fails_the_run_when_configured_to_raise(
    storage: StorageBackend,
) -> None:
    graph = chain(3)
    manager = CheckpointManager(storage, {"in_doubt_effects": "raise"})
    payments = Payments()
    payments.crash_inside = True

    def build() -> Any:
        executor = executor_for(graph, NodeLog(), manager)
        executor.register_function("n2", charging_node(payments, use_async=False, crash_after=[]))
        return executor

    with pytest.raises(Crash):
        await build().execute(graph, GOAL, SEED, run_id="r")

    result = await build().execute(graph, GOAL, run_id="r")

    assert result.run_status is RunStatus.FAILED
    assert result.error is not None
    assert "InDoubtEffectError" in result.error and "n2:charge" in result.error
    assert len(payments.calls) == 1  # never called again, and the node was not retried
    record = storage.get_run("r")
    assert record is not None and record.status is RunStatus.FAILED
    effect = storage.get_effect("r", "n2:charge")
    assert effect is not None and effect.status is EffectStatus.STARTED


async def test_failed_effect_is_recorded_and_tried_again_by_the_retry(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    graph = chain(2)
    attempts: list[str] = []

    def flaky(*, idempotency_key: str) -> str:
        attempts.append(idempotency_key)
        if len(attempts) == 1:
            raise ConnectionError("gateway down")
        return "sent"

    async def n1(ctx: NodeContext) -> Any:
        return await ctx.effect("mail", flaky)

    executor = executor_for(graph, NodeLog(), manager)
    executor.register_function("n1", n1)

    result = await executor.execute(graph, GOAL, SEED, run_id="r")

    assert result.output["n1"] == "sent"
    assert len(attempts) == 2 and attempts[0] == attempts[1]
    effect = storage.get_effect("r", "n1:mail")
    assert effect is not None and effect.status is EffectStatus.COMPLETED
    assert effect.attempts == 2


async def test_each_visit_of_a_node_in_a_loop_has_its_own_effects(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    graph = GraphSpec(
        id="loop",
        entry_node="send",
        nodes=[NodeSpec(id="send", name="send", description="send one", output_keys=["sent"])],
        edges=[
            EdgeSpec(
                id="again",
                source="send",
                target="send",
                condition=EdgeCondition.CONDITIONAL,
                condition_expr="sent < 3",
            )
        ],
    )
    sent: list[int] = []

    def deliver(number: int) -> int:
        sent.append(number)
        return number

    async def send(ctx: NodeContext) -> int:
        return await ctx.effect("mail", deliver, ctx.visit)

    executor = executor_for(graph, NodeLog(), manager)
    executor.register_function("send", send)

    result = await executor.execute(graph, GOAL, run_id="r")

    assert result.output["sent"] == 3 and sent == [1, 2, 3]
    keys = [effect.key for effect in storage.list_effects("r")]
    assert keys == ["send:mail", "send:mail@2", "send:mail@3"]


async def test_without_a_manager_effects_are_simply_called_with_an_idempotency_key() -> None:
    graph = chain(2)
    payments = Payments()
    executor = executor_for(graph, NodeLog())
    executor.register_function("n2", charging_node(payments, use_async=True, crash_after=[]))

    first = await executor.execute(graph, GOAL, SEED, run_id="r")
    await executor.execute(graph, GOAL, SEED, run_id="r")

    assert first.output["n2"] == RECEIPT
    key = idempotency_key("r", "n2", "n2:charge")
    assert payments.calls == [(5, key), (5, key)]


async def test_effect_from_a_synchronous_node_function_fails_the_node_naming_the_fix(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    graph = chain(2)
    payments = Payments()

    def n2(ctx: NodeContext) -> Any:
        return ctx.effect("charge", payments.charge, 5)

    executor = executor_for(graph, NodeLog(), manager)
    executor.register_function("n2", n2)

    result = await executor.execute(graph, GOAL, SEED, run_id="r")

    assert not result.success
    assert "synchronous function of 'n2'" in result.error
    assert "async def" in result.error
    assert payments.calls == []
    assert storage.list_effects("r") == []
