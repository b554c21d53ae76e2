"""Cost of one call: tokens × the catalog price in force, each kind of token at its own price."""

from dataclasses import dataclass
from decimal import Decimal

COST_QUANTUM = Decimal("0.0000000001")  # UsageRecord.cost_usd keeps 10 decimal places


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per token; None where the catalog has no price."""

    input: Decimal | None
    output: Decimal | None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    @property
    def known(self) -> bool:
        return self.input is not None and self.output is not None


def usage_cost(
    *,
    prices: Prices,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Decimal | None:
    """The cost in USD, or None when the model's price is unknown (never $0 by default).

    prompt_tokens includes cached reads and cache writes (OpenAI's convention); those are charged at their own
    prices, falling back to the input price where the catalog has no cache price.
    """
    if not prices.known:
        return None
    cache_read_price = prices.cache_read if prices.cache_read is not None else prices.input
    cache_write_price = prices.cache_write if prices.cache_write is not None else prices.input
    uncached = max(prompt_tokens - cached_tokens - cache_write_tokens, 0)
    cost = (
        uncached * prices.input
        + cached_tokens * cache_read_price
        + cache_write_tokens * cache_write_price
        + completion_tokens * prices.output
    )
    return cost.quantize(COST_QUANTUM)
