"""Plan steps' side effects: ``ctx.effect`` in a FUNCTION step happens once per plan run."""

from __future__ import annotations

from typing import Any

import pytest
from durable_helpers import RECEIPT, Crash, Payments

from framework.durable import idempotency_key
from framework.graph import ActionSpec, ActionType, ExecutionStatus, Plan, PlanStep
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.flexible_executor import FlexibleGraphExecutor
from framework.graph.goal import Goal
from framework.graph.step_context import StepContext
from framework.graph.worker_node import WorkerNode
from framework.schemas.effect import EffectStatus
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend

GOAL = Goal(id="goal", name="Plan goal", description="Charge once.")


def function_step(step_id: str, *deps: str, max_retries: int = 3) -> PlanStep:
    action = ActionSpec(action_type=ActionType.FUNCTION, function_name=step_id)
    return PlanStep(id=step_id, action=action, dependencies=list(deps), max_retries=max_retries)


def three_steps(max_retries: int = 3) -> Plan:
    """``a -> b -> c``; step ``b`` charges through ``ctx.effect``."""
    return Plan(
        id="plan",
        goal_id="goal",
        steps=[
            function_step("a"),
            function_step("b", "a", max_retries=max_retries),
            function_step("c", "b"),
        ],
    )


class PlanPayments(Payments):
    """Payments for plan step ``b``: ``crash_after`` kills the "process" right after the
    step's charge returned; ``fail_after`` makes the step fail (an ordinary exception)
    right after the charge, once."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_after = False
        self.fail_after = False

    def functions(self, *, use_async: bool = False) -> dict[str, Any]:
        async def b(ctx: StepContext) -> dict[str, Any]:
            receipt = await ctx.effect("charge", self.acharge if use_async else self.charge, 5)
            if self.crash_after:
                self.crash_after = False
                raise Crash("died after charging")
            if self.fail_after:
                self.fail_after = False
                raise ConnectionError("lost the reply")
            return {"receipt": receipt}

        return {"a": lambda: "a", "b": b, "c": lambda: "c"}

    def executor(self, manager: CheckpointManager | None, **kwargs: Any) -> FlexibleGraphExecutor:
        return FlexibleGraphExecutor(
            None, functions=self.functions(**kwargs), checkpoint_manager=manager
        )


@pytest.mark.parametrize("use_async", [False, True])
async def test_completed_step_effect_is_not_repeated_after_a_crash_and_returns_its_result(
    manager: CheckpointManager, storage: StorageBackend, use_async: bool
) -> None:
    payments = PlanPayments()
    payments.crash_after = True
    with pytest.raises(Crash):
        await payments.executor(manager, use_async=use_async).execute_plan(
            three_steps(), GOAL, run_id="p"
        )
    assert manager.preview_resume("p").next_node == "b"

    result = await payments.executor(manager, use_async=use_async).execute_plan(
        three_steps(), GOAL, run_id="p"
    )

    assert result.status is ExecutionStatus.COMPLETED
    assert len(payments.calls) == 1
    assert result.results["b"] == {"receipt": RECEIPT}  # revived exactly, datetime included
    assert isinstance(result.results["b"]["receipt"]["parts"], tuple)
    effect = storage.get_effect("p", "b:charge")
    assert effect is not None and effect.status is EffectStatus.COMPLETED
    assert effect.attempts == 1 and effect.node_id == "b"


async def test_in_doubt_step_effect_is_called_again_with_the_same_idempotency_key(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    payments = PlanPayments()
    payments.crash_inside = True
    with pytest.raises(Crash):
        await payments.executor(manager).execute_plan(three_steps(), GOAL, run_id="p")
    assert [e.key for e in manager.preview_resume("p").in_doubt_effects] == ["b:charge"]

    result = await payments.executor(manager).execute_plan(three_steps(), GOAL, run_id="p")

    assert result.status is ExecutionStatus.COMPLETED and result.run_status is RunStatus.COMPLETED
    expected = idempotency_key("p", "b", "b:charge")
    assert payments.calls == [(5, expected), (5, expected)]
    effect = storage.get_effect("p", "b:charge")
    assert effect is not None
    assert effect.status is EffectStatus.COMPLETED and effect.attempts == 2


async def test_in_doubt_step_effect_fails_the_plan_without_retries_when_configured_to_raise(
    storage: StorageBackend,
) -> None:
    manager = CheckpointManager(storage, {"in_doubt_effects": "raise"})
    payments = PlanPayments()
    payments.crash_inside = True
    with pytest.raises(Crash):
        await payments.executor(manager).execute_plan(three_steps(), GOAL, run_id="p")

    result = await payments.executor(manager).execute_plan(three_steps(), GOAL, run_id="p")

    assert result.status is ExecutionStatus.FAILED and result.run_status is RunStatus.FAILED
    assert result.failed_step == "b" and result.completed_steps == ["a"]
    assert "InDoubtEffectError" in result.errors["b"] and "b:charge" in result.errors["b"]
    step_b = result.plan.get_step("b")
    assert step_b is not None and step_b.attempts == 1  # its three retries were not used
    assert len(payments.calls) == 1  # never called again
    record = storage.get_run("p")
    assert record is not None and record.status is RunStatus.FAILED
    effect = storage.get_effect("p", "b:charge")
    assert effect is not None and effect.status is EffectStatus.STARTED


async def test_retry_of_a_step_gets_the_effect_its_failed_attempt_completed(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    payments = PlanPayments()
    payments.fail_after = True

    result = await payments.executor(manager).execute_plan(three_steps(), GOAL, run_id="p")

    assert result.status is ExecutionStatus.COMPLETED
    step_b = result.plan.get_step("b")
    assert step_b is not None and step_b.attempts == 2
    assert len(payments.calls) == 1
    assert result.results["b"] == {"receipt": RECEIPT}
    assert [(e.key, e.status, e.attempts) for e in storage.list_effects("p")] == [
        ("b:charge", EffectStatus.COMPLETED, 1)
    ]


async def test_steps_using_the_same_effect_key_have_separate_ledger_entries(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    sent: list[tuple[str, str]] = []

    def deliver(to: str, *, idempotency_key: str) -> str:
        sent.append((to, idempotency_key))
        return f"sent to {to}"

    def mailer(to: str) -> Any:
        async def send(ctx: StepContext) -> str:
            return await ctx.effect("mail", deliver, to)

        return send

    plan = Plan(id="mail", goal_id="goal", steps=[function_step("a"), function_step("b", "a")])
    executor = FlexibleGraphExecutor(
        None, functions={"a": mailer("ann"), "b": mailer("bob")}, checkpoint_manager=manager
    )

    result = await executor.execute_plan(plan, GOAL, run_id="p")

    assert result.results == {"a": {"result": "sent to ann"}, "b": {"result": "sent to bob"}}
    assert [e.key for e in storage.list_effects("p")] == ["a:mail", "b:mail"]
    assert [idem for _, idem in sent] == [
        idempotency_key("p", "a", "a:mail"),
        idempotency_key("p", "b", "b:mail"),
    ]


async def test_without_a_manager_step_effects_are_simply_called_with_an_idempotency_key() -> None:
    payments = PlanPayments()
    payments.fail_after = True
    executor = payments.executor(None)

    first = await executor.execute_plan(three_steps(), GOAL)
    second = await executor.execute_plan(three_steps(), GOAL)

    assert first.status is ExecutionStatus.COMPLETED and first.run_id is None
    assert second.status is ExecutionStatus.COMPLETED
    assert [amount for amount, _ in payments.calls] == [5, 5, 5]  # no ledger: each call charges
    retried, retry, other_run = (key for _, key in payments.calls)
    assert retried is not None and retried.startswith("idem-")
    assert retried == retry  # a retry within a run keeps the key
    assert other_run != retried  # another run has its own keys


async def test_sync_step_function_receives_the_step_context(manager: CheckpointManager) -> None:
    seen: list[tuple[str, str, int, bool]] = []

    def look(ctx: StepContext) -> str:
        seen.append((ctx.run_id, ctx.step_id, ctx.attempt, ctx.effects is not None))
        return "looked"

    plan = Plan(id="look", goal_id="goal", steps=[function_step("look")])
    executor = FlexibleGraphExecutor(None, functions={"look": look}, checkpoint_manager=manager)

    result = await executor.execute_plan(plan, GOAL, run_id="p")

    assert result.results == {"look": {"result": "looked"}}
    assert seen == [("p", "look", 1, True)]


async def test_step_run_by_a_worker_on_its_own_gets_a_context_without_a_ledger() -> None:
    calls: list[str] = []

    async def send(ctx: StepContext) -> str:
        def deliver(*, idempotency_key: str) -> str:
            calls.append(idempotency_key)
            return "sent"

        return await ctx.effect("mail", deliver) + f" by {ctx.step_id}"

    result = await WorkerNode(functions={"send": send}).execute(function_step("send"), {})

    assert result.success and result.outputs == {"result": "sent by send"}
    assert len(calls) == 1 and calls[0].startswith("idem-")


async def test_effect_from_a_synchronous_step_function_fails_the_step_naming_the_fix(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    payments = PlanPayments()

    def charge(ctx: StepContext) -> Any:
        return ctx.effect("charge", payments.charge, 5)

    plan = Plan(id="sync", goal_id="goal", steps=[function_step("charge", max_retries=0)])
    executor = FlexibleGraphExecutor(None, functions={"charge": charge}, checkpoint_manager=manager)

    result = await executor.execute_plan(plan, GOAL, run_id="p")

    assert "charge" not in result.results
    assert "synchronous function of 'charge'" in result.errors["charge"]
    assert "async def" in result.errors["charge"]
    assert payments.calls == []
    assert storage.list_effects("p") == []
