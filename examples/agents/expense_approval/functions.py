"""The functions of the expense-approval agent.

``manager_review`` is a human_input node: it has no function. The run pauses there until
someone resumes it with ``{"approved": ..., "reviewer_note": ...}`` — from Python
(``await runner.resume(run_id, answer)``) or the shell (``agentgraph resume AGENT_DIR
RUN_ID --input JSON``). ``settle`` pays through ``ctx.effect``, so a payout is never made
twice even if the process dies right after paying. Each function logs to the
``expense_approval`` logger.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["policy_check", "settle", "submit"]

log = logging.getLogger("expense_approval")

RECEIPT_REQUIRED_OVER = 75.0
DIRECTOR_SIGN_OFF_OVER = 1_000.0


def submit(expense: dict[str, Any]) -> dict[str, Any]:
    claim = {
        "employee": str(expense["employee"]).strip(),
        "amount": round(float(expense["amount"]), 2),
        "purpose": str(expense.get("purpose", "")).strip() or "unspecified",
    }
    log.info("submit: %s claims %.2f for %s", claim["employee"], claim["amount"], claim["purpose"])
    return claim


def policy_check(claim: dict[str, Any]) -> list[str]:
    notes = []
    if claim["amount"] > RECEIPT_REQUIRED_OVER:
        notes.append(f"receipt required above {RECEIPT_REQUIRED_OVER:.2f}")
    if claim["amount"] > DIRECTOR_SIGN_OFF_OVER:
        notes.append(f"director sign-off required above {DIRECTOR_SIGN_OFF_OVER:.2f}")
    log.info("policy_check: %s", "; ".join(notes) or "within policy")
    return notes


def _pay_out(employee: str, amount: float, *, idempotency_key: str) -> str:
    """The payroll system: it pays once per idempotency key."""
    return f"payout-{idempotency_key[-10:]}"


async def settle(claim: dict[str, Any], approved: bool, reviewer_note: str, ctx: Any) -> dict:
    if not approved:
        log.info("settle: rejected (%s)", reviewer_note)
        return {"status": "rejected", "note": reviewer_note}
    payout = await ctx.effect("payout", _pay_out, claim["employee"], claim["amount"])
    log.info("settle: paid %.2f to %s (%s)", claim["amount"], claim["employee"], payout)
    return {"status": "paid", "payout": payout, "note": reviewer_note}
