"""What tokens cost: a price list per model, extendable from the environment, and the estimate."""

import json
import os

from studio.errors import StudioError

# USD per million tokens (prompt, completion). Override or extend with STUDIO_LLM_PRICES, e.g.
# '{"my-model": [0.2, 0.8]}', or with the price fields of LLMSettings.
PRICES = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "smollm2": (0.0, 0.0),  # the bundled model (studio.generation.llm.LOCAL_MODEL) runs here, for free
}


def env_prices() -> dict[str, list[float]]:
    extra = os.environ.get("STUDIO_LLM_PRICES")
    if not extra:
        return {}
    try:
        return {name: [float(pair[0]), float(pair[1])] for name, pair in json.loads(extra).items()}
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        raise StudioError('STUDIO_LLM_PRICES must be JSON like {"model": [prompt_usd, completion_usd]} '
                          "per million tokens") from error


def model_price(model: str) -> tuple[float, float] | None:
    prices = dict(PRICES)
    prices.update({name: tuple(pair) for name, pair in env_prices().items()})
    if model in prices:
        return prices[model]
    # Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their base model costs; longest name first.
    for name in sorted(prices, key=len, reverse=True):
        if model.startswith(name + "-"):
            return prices[name]
    return None


def estimate_cost(price: tuple[float, float] | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
