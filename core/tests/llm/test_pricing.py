"""A call's cost: a price table of one's own first, then genai-prices; unknown is None."""

from __future__ import annotations

import pytest

from framework.llm import ModelPrice, Pricing


def test_a_model_in_the_table_is_priced_from_it_with_cached_tokens_at_their_own_price() -> None:
    pricing = Pricing(
        {
            "house-model": {
                "input_per_million": 2.0,
                "output_per_million": 8.0,
                "cached_input_per_million": 0.5,
            }
        }
    )
    cost, note = pricing.cost("openai", "house-model", 1_000_000, 500_000, cached_tokens=400_000)
    assert note is None
    assert cost == pytest.approx(600_000 * 2.0 / 1e6 + 400_000 * 0.5 / 1e6 + 500_000 * 8.0 / 1e6)


def test_cached_tokens_cost_what_other_prompt_tokens_cost_without_a_cached_price() -> None:
    price = ModelPrice(input_per_million=3.0, output_per_million=15.0)
    assert price.cost(1000, 100, cached_tokens=600) == pytest.approx((1000 * 3 + 100 * 15) / 1e6)


def test_the_table_wins_over_the_library_for_a_model_both_know() -> None:
    table = {"gpt-4o": ModelPrice(input_per_million=1.0, output_per_million=1.0)}
    cost, _ = Pricing(table).cost("openai", "gpt-4o", 1_000_000, 0)
    assert cost == pytest.approx(1.0)


def test_a_public_model_is_priced_by_genai_prices() -> None:
    cost, note = Pricing().cost("openai", "gpt-4o", 1_000_000, 1_000_000)
    assert note is None
    assert cost is not None and cost > 0


def test_a_model_nobody_prices_has_an_unknown_cost_with_the_reason_never_zero() -> None:
    cost, note = Pricing().cost("openai", "my-finetune-xyz", 100, 10)
    assert cost is None
    assert note is not None and "my-finetune-xyz" in note


def test_an_endpoint_of_its_own_is_not_priced_as_the_provider_it_imitates() -> None:
    cost, note = Pricing().cost("openai", "gpt-4o", 100, 10, endpoint="http://127.0.0.1:9/v1")
    assert cost is None
    assert note is not None and "gpt-4o" in note


def test_without_the_library_only_the_table_prices() -> None:
    cost, note = Pricing(library=False).cost("openai", "gpt-4o", 100, 10)
    assert cost is None
    assert note == "model 'gpt-4o' is not in the price table given"


def test_a_negative_price_is_refused() -> None:
    with pytest.raises(ValueError, match="input_per_million"):
        Pricing({"m": {"input_per_million": -1, "output_per_million": 1}})
