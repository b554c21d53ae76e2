"""Derived catalog fields: category, power level, plan tier and a seed quality score.

The rule, in order (prices are USD per token in the database, per 1M tokens below):

1. blended price = (input + 3 x output) / 4 per 1M tokens (output weighs more: answers are longer than most
   prompts and output tokens cost more). An unknown price has no blended price.
2. price band: blended <= $2.50 -> cheap; <= $10 -> mid; above -> high. Unknown price -> mid.
3. power_level and plan_tier follow the band: cheap -> ECO / starter, mid -> BALANCED / pro,
   high -> PRECISION / enterprise. Free models (blended 0) are cheap.
4. category: a coding marker in the upstream name ("code" at a word start, so coder, codex, codestral, plus
   "devstral") -> coding; else a creative marker (creative, story, roleplay, "rp" as a word, fiction, mythomax,
   euryale) -> creative; else the band: cheap -> fast-cheap, mid -> balanced, high -> premium.
5. quality_score (0..1, a seed until benchmark TaskScores exist): 0.45 + 0.1 x log10(1 + blended) + 0.05 if
   reasoning + 0.02 if tools + 0.02 if vision + 0.01 if JSON output, capped at 0.95, 4 decimals.
   Unknown price -> 0.5.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from .models import Category, PlanTier, PowerLevel

PER_MILLION = Decimal(1_000_000)
CHEAP_MAX = Decimal("2.50")
MID_MAX = Decimal("10")
QUALITY_UNKNOWN = Decimal("0.5000")
QUALITY_CAP = Decimal("0.95")
QUALITY_PLACES = Decimal("0.0001")

CODING_RE = re.compile(r"(?<![a-z])code|devstral")
CREATIVE_RE = re.compile(r"creative|story|roleplay|(?<![a-z])rp(?![a-z])|fiction|mythomax|euryale")

BANDS = {
    "cheap": (Category.FAST_CHEAP, PowerLevel.ECO, PlanTier.STARTER),
    "mid": (Category.BALANCED, PowerLevel.BALANCED, PlanTier.PRO),
    "high": (Category.PREMIUM, PowerLevel.PRECISION, PlanTier.ENTERPRISE),
}


@dataclass(frozen=True, slots=True)
class Derived:
    category: str
    power_level: str
    plan_tier: str
    quality_score: Decimal


def blended_price_per_million(input_price: Decimal | None, output_price: Decimal | None) -> Decimal | None:
    if input_price is None or output_price is None:
        return None
    return (input_price + 3 * output_price) / 4 * PER_MILLION


def derive(
    *,
    upstream_name: str,
    input_price: Decimal | None,
    output_price: Decimal | None,
    price_unknown: bool,
    supports_tools: bool,
    supports_vision: bool,
    supports_json: bool,
    supports_reasoning: bool,
) -> Derived:
    blended = None if price_unknown else blended_price_per_million(input_price, output_price)
    if blended is None:
        band = "mid"
    elif blended <= CHEAP_MAX:
        band = "cheap"
    elif blended <= MID_MAX:
        band = "mid"
    else:
        band = "high"
    band_category, power_level, plan_tier = BANDS[band]

    name = upstream_name.lower()
    if CODING_RE.search(name):
        category = Category.CODING
    elif CREATIVE_RE.search(name):
        category = Category.CREATIVE
    else:
        category = band_category

    if blended is None:
        quality = QUALITY_UNKNOWN
    else:
        quality = Decimal("0.45") + Decimal("0.1") * (1 + blended).log10()
        quality += Decimal("0.05") * supports_reasoning + Decimal("0.02") * supports_tools
        quality += Decimal("0.02") * supports_vision + Decimal("0.01") * supports_json
        quality = min(quality, QUALITY_CAP).quantize(QUALITY_PLACES)
    return Derived(
        category=str(category), power_level=str(power_level), plan_tier=str(plan_tier), quality_score=quality
    )
