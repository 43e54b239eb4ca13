"""What a model call costs: a price table of one's own, else the ``genai-prices`` library.

:class:`Pricing` prices one attempt's tokens for a model. A model in the table given to it
is priced from that table (it wins over the library, so a negotiated price or a private
model is priced right); any other model is looked up in ``genai-prices`` (the ``prices``
extra), which knows the public prices of the major providers. A model neither knows has an
unknown cost, ``None``, with the reason: never 0, which would read as free.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = ["ModelPrice", "Pricing"]

_NOT_INSTALLED = (
    "genai-prices is not installed (pip install 'agentgraph-durable[prices]'), and the "
    "model is not in the price table given"
)


class ModelPrice(BaseModel):
    """A model's price in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    input_per_million: float = Field(ge=0)
    """Prompt tokens."""
    output_per_million: float = Field(ge=0)
    """Completion tokens."""
    cached_input_per_million: float | None = Field(default=None, ge=0)
    """Prompt tokens read from the cache (``None``: priced as other prompt tokens)."""
    cache_write_per_million: float | None = Field(default=None, ge=0)
    """Prompt tokens written to the cache (``None``: priced as other prompt tokens)."""

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """The price of a call's tokens; ``input_tokens`` includes the cached and
        cache-written ones."""
        read_rate = _or(self.cached_input_per_million, self.input_per_million)
        write_rate = _or(self.cache_write_per_million, self.input_per_million)
        fresh = max(input_tokens - cached_tokens - cache_write_tokens, 0)
        return (
            fresh * self.input_per_million
            + cached_tokens * read_rate
            + cache_write_tokens * write_rate
            + output_tokens * self.output_per_million
        ) / 1_000_000


def _or(rate: float | None, default: float) -> float:
    return default if rate is None else rate


_TABLE = TypeAdapter(dict[str, ModelPrice])


class Pricing:
    """Prices attempts: ``table`` (model name -> :class:`ModelPrice` or its fields) first,
    then ``genai-prices`` unless ``library=False``."""

    def __init__(
        self,
        table: Mapping[str, ModelPrice | Mapping[str, Any]] | None = None,
        *,
        library: bool = True,
    ) -> None:
        self.table = _TABLE.validate_python(dict(table or {}))
        self.library = library

    def cost(
        self,
        provider_id: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
        *,
        cache_write_tokens: int = 0,
        endpoint: str | None = None,
    ) -> tuple[float | None, str | None]:
        """``(cost, None)``, or ``(None, why it is unknown)``."""
        price = self.table.get(model)
        if price is not None:
            return price.cost(input_tokens, output_tokens, cached_tokens, cache_write_tokens), None
        if not self.library:
            return None, f"model {model!r} is not in the price table given"
        try:
            import genai_prices
        except ImportError:
            return None, _NOT_INSTALLED
        usage = genai_prices.Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if endpoint is None:
                    priced = genai_prices.calc_price(usage, model, provider_id=provider_id)
                else:
                    priced = genai_prices.calc_price(usage, model, provider_api_url=endpoint)
        except LookupError as exc:
            return None, f"genai-prices does not know model {model!r} ({exc})"
        return float(priced.total_price), None
