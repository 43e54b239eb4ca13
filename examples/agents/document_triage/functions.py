"""The functions of the document triage agent: plain Python, no LLM needed.

Each function is named by a node's ``function`` in ``agent.json``. Functions receive the
node's inputs as keyword arguments; a node with several output keys returns a dict holding
each of them, a node with one output key returns that key's value.
"""

from __future__ import annotations

import re

__all__ = [
    "approve_invoice",
    "classify_document",
    "escalate_invoice",
    "extract_invoice_fields",
    "flag_for_review",
    "normalize_text",
    "summarize_contract",
]

AUTO_APPROVE_LIMIT = 10_000
_SIGNALS = {
    "invoice": ("invoice", "amount due", "bill to", "payment terms", "total"),
    "contract": ("agreement", "parties", "term of", "governing law", "terminate", "hereby"),
}
_MIN_SIGNALS = 2
_AMOUNT = re.compile(
    r"(?:total|amount due)\b[^0-9]{0,20}?(?P<currency>USD|EUR|GBP|[$€£])?\s*"
    r"(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d{2})?|\d+(?:\.\d{2})?)",
    re.IGNORECASE,
)
_CURRENCIES = {"$": "USD", "€": "EUR", "£": "GBP"}


def normalize_text(document: str) -> dict[str, object]:
    """Collapse whitespace and count words, so later steps see one clean line of text."""
    text = re.sub(r"\s+", " ", document).strip()
    return {"text": text, "word_count": len(text.split())}


def classify_document(text: str) -> dict[str, object]:
    """Label the text invoice, contract or unknown by counting tell-tale phrases."""
    lowered = text.lower()
    scores = {label: sum(s in lowered for s in signals) for label, signals in _SIGNALS.items()}
    label, score = max(scores.items(), key=lambda item: item[1])
    if score < _MIN_SIGNALS:
        return {"doc_type": "unknown", "confidence": 0.0}
    return {"doc_type": label, "confidence": round(score / len(_SIGNALS[label]), 2)}


def extract_invoice_fields(text: str) -> dict[str, object]:
    """Pull invoice number, vendor, due date and amount; ``amount`` is None if not found."""
    number = re.search(r"invoice\s*(?:no\.?|number|#)\s*:?\s*([A-Z0-9][\w-]*)", text, re.I)
    vendor = re.search(r"\bfrom:?\s+(.+?)(?:\s+(?:to|bill to):|[.,;]|$)", text, re.I)
    due = re.search(r"\bdue(?:\s+date)?:?\s+(\d{4}-\d{2}-\d{2})", text, re.I)
    amount_match = _AMOUNT.search(text)
    amount = float(amount_match["amount"].replace(",", "")) if amount_match else None
    currency = amount_match["currency"] if amount_match else None
    invoice = {
        "number": number[1] if number else None,
        "vendor": vendor[1].strip() if vendor else None,
        "due_date": due[1] if due else None,
        "amount": amount,
        "currency": _CURRENCIES.get(currency, currency) if currency else None,
    }
    return {"invoice": invoice, "amount": amount}


def summarize_contract(text: str) -> dict[str, object]:
    """Name the parties and the term, and keep the first sentence as the summary."""
    parties = re.search(r"\bbetween\s+(.+?)\s+and\s+(.+?)(?:[,.(]|\s+for\b)", text, re.I)
    term = re.search(r"\b(\d+)[\s-]*months?\b", text, re.I)
    first_sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return {
        "decision": "file_contract",
        "queue": "legal",
        "parties": [parties[1].strip(), parties[2].strip()] if parties else [],
        "term_months": int(term[1]) if term else None,
        "summary": first_sentence,
    }


def escalate_invoice(invoice: dict[str, object], amount: float) -> dict[str, object]:
    """Invoices above the auto-approval limit go to a person who may sign them off."""
    return {
        "decision": "escalate",
        "queue": "finance-director",
        "reason": f"amount {amount:,.2f} is above the {AUTO_APPROVE_LIMIT:,} auto-approval limit",
        "invoice": invoice,
    }


def approve_invoice(invoice: dict[str, object], amount: float) -> dict[str, object]:
    """Small invoices are approved for payment without a person looking at them."""
    return {
        "decision": "auto_approve",
        "queue": "accounts-payable",
        "reason": f"amount {amount:,.2f} is within the auto-approval limit",
        "invoice": invoice,
    }


def flag_for_review(doc_type: str = "unknown", word_count: int = 0) -> dict[str, object]:
    """Anything the agent cannot handle with confidence goes to a person, with the reason."""
    if doc_type == "invoice":
        reason = "looks like an invoice but no amount could be read"
    else:
        reason = f"could not tell what this {word_count}-word document is"
    return {"decision": "manual_review", "queue": "triage-desk", "reason": reason}
