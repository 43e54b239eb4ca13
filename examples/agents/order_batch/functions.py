"""The functions of the order-batch agent: a slow, deterministic invoicing pipeline.

Each function is named like its node. They log what they do to the ``order_batch`` logger
and take ``ORDER_BATCH_STEP_SECONDS`` (default 0.2) each, standing in for real work (API
calls, database queries). ``send_invoice`` emails through ``ctx.effect``, so a node run
again after a crash never sends a second email: the effects ledger returns the recorded
receipt. The "mail server" writes one file per idempotency key into
``$ORDER_BATCH_OUTBOX`` when that is set, so you can count what was really sent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import anyio

__all__ = [
    "apply_discounts",
    "archive_batch",
    "build_invoice",
    "compute_tax",
    "load_orders",
    "price_orders",
    "send_invoice",
    "validate_orders",
]

log = logging.getLogger("order_batch")

CATALOGUE = {"desk": 320.0, "chair": 145.0, "lamp": 38.5, "monitor": 210.0, "cable": 7.25}
DISCOUNT_OVER = 200.0
DISCOUNT_RATE = 0.10
VAT_RATE = 0.20


def _step_seconds() -> float:
    return float(os.environ.get("ORDER_BATCH_STEP_SECONDS", "0.2"))


def _work(node: str, what: str) -> None:
    # Sync functions run in a worker thread, so sleeping here never blocks the event loop.
    log.info("%s: %s", node, what)
    time.sleep(_step_seconds())


def load_orders(batch_id: str) -> list[dict[str, Any]]:
    seed = int(hashlib.sha256(batch_id.encode()).hexdigest(), 16)
    names = sorted(CATALOGUE)
    orders = []
    for number in range(6):
        picks = [names[(seed >> (8 * number + k)) % len(names)] for k in range(number % 4)]
        orders.append({"order_id": f"{batch_id}-{number + 1}", "items": picks})
    _work("load_orders", f"{len(orders)} orders in batch {batch_id}")
    return orders


def validate_orders(orders: list[dict[str, Any]]) -> dict[str, Any]:
    valid = [order for order in orders if order["items"]]
    rejected = [order["order_id"] for order in orders if not order["items"]]
    _work("validate_orders", f"{len(valid)} valid, {len(rejected)} without items")
    return {"valid_orders": valid, "rejected": rejected}


def price_orders(valid_orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    priced = [
        {**order, "subtotal": round(sum(CATALOGUE[item] for item in order["items"]), 2)}
        for order in valid_orders
    ]
    _work("price_orders", f"priced {len(priced)} orders")
    return priced


def apply_discounts(priced: list[dict[str, Any]]) -> list[dict[str, Any]]:
    discounted = []
    for order in priced:
        rate = DISCOUNT_RATE if order["subtotal"] > DISCOUNT_OVER else 0.0
        discounted.append({**order, "net": round(order["subtotal"] * (1 - rate), 2)})
    _work("apply_discounts", f"{sum(o['net'] < o['subtotal'] for o in discounted)} discounted")
    return discounted


def compute_tax(discounted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    taxed = [{**order, "gross": round(order["net"] * (1 + VAT_RATE), 2)} for order in discounted]
    _work("compute_tax", f"VAT {VAT_RATE:.0%} on {len(taxed)} orders")
    return taxed


def build_invoice(batch_id: str, taxed: list[dict[str, Any]]) -> dict[str, Any]:
    invoice = {
        "invoice_id": f"INV-{batch_id}",
        "lines": [{"order_id": o["order_id"], "gross": o["gross"]} for o in taxed],
        "total": round(sum(order["gross"] for order in taxed), 2),
    }
    _work("build_invoice", f"{invoice['invoice_id']} total {invoice['total']:.2f}")
    return invoice


def _email(invoice: dict[str, Any], *, idempotency_key: str) -> str:
    """The mail server: one message per idempotency key, however often it is asked."""
    outbox = os.environ.get("ORDER_BATCH_OUTBOX")
    if outbox:
        message = Path(outbox) / f"{idempotency_key}.eml"
        message.parent.mkdir(parents=True, exist_ok=True)
        if not message.exists():
            message.write_text(f"Invoice {invoice['invoice_id']}: {invoice['total']:.2f}\n")
    return f"msg-{idempotency_key[-12:]}"


async def send_invoice(invoice: dict[str, Any], ctx: Any) -> str:
    log.info("send_invoice: emailing %s", invoice["invoice_id"])
    await anyio.sleep(_step_seconds())
    return await ctx.effect("email", _email, invoice)


def archive_batch(invoice: dict[str, Any], receipt: str) -> str:
    _work("archive_batch", f"filed {invoice['invoice_id']} with receipt {receipt}")
    return f"archive/{invoice['invoice_id']}/{receipt}"
