from decimal import Decimal

import pytest

from apps.catalog.classify import blended_price_per_million, derive


def _derive(name="plain-model", input_per_m=None, output_per_m=None, unknown=False, **caps):
    million = Decimal(1_000_000)
    return derive(
        upstream_name=name,
        input_price=None if input_per_m is None else Decimal(input_per_m) / million,
        output_price=None if output_per_m is None else Decimal(output_per_m) / million,
        price_unknown=unknown,
        supports_tools=caps.get("tools", False),
        supports_vision=caps.get("vision", False),
        supports_json=caps.get("json", False),
        supports_reasoning=caps.get("reasoning", False),
    )


def test_blended_price_weighs_output_three_times():
    assert blended_price_per_million(Decimal("0.000001"), Decimal("0.000005")) == Decimal(4)
    assert blended_price_per_million(None, Decimal("0.000005")) is None


@pytest.mark.parametrize(
    ("input_per_m", "output_per_m", "expected"),
    [
        ("0", "0", ("fast-cheap", "ECO", "starter")),  # free
        ("0.15", "0.6", ("fast-cheap", "ECO", "starter")),  # gpt-4o-mini: blended 0.4875
        ("1", "3", ("fast-cheap", "ECO", "starter")),  # blended 2.50 exactly: still cheap
        ("1", "3.01", ("balanced", "BALANCED", "pro")),  # just above 2.50
        ("2.5", "10", ("balanced", "BALANCED", "pro")),  # gpt-4o: 8.125
        ("10", "10", ("balanced", "BALANCED", "pro")),  # 10 exactly: still mid
        ("3", "15", ("premium", "PRECISION", "enterprise")),  # claude-sonnet: 12
    ],
)
def test_price_bands(input_per_m, output_per_m, expected):
    derived = _derive(input_per_m=input_per_m, output_per_m=output_per_m)
    assert (derived.category, derived.power_level, derived.plan_tier) == expected


def test_unknown_price_is_balanced_pro_with_neutral_quality():
    derived = _derive(unknown=True, reasoning=True)
    assert (derived.category, derived.power_level, derived.plan_tier, derived.quality_score) == (
        "balanced",
        "BALANCED",
        "pro",
        Decimal("0.5000"),
    )


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("qwen3-coder-480b", "coding"),
        ("codestral-2508", "coding"),
        ("devstral-small", "coding"),
        ("gpt-5-codex", "coding"),
        ("seed-2.0-code", "coding"),
        ("mythomax-l2-13b", "creative"),
        ("aion-rp-llama-3.1-8b", "creative"),
        ("creative-writer-v1", "creative"),
        ("unicode-encoder", "premium"),  # "code" inside a word is not a coding marker
        ("sharp-model", "premium"),  # "rp" inside a word is not a roleplay marker
    ],
)
def test_name_markers_decide_category_but_not_tier(name, category):
    derived = _derive(name=name, input_per_m="3", output_per_m="15")
    assert derived.category == category
    assert (derived.power_level, derived.plan_tier) == ("PRECISION", "enterprise")


def test_quality_score_grows_with_price_and_capabilities():
    assert _derive(input_per_m="0", output_per_m="0").quality_score == Decimal("0.4500")
    assert _derive(input_per_m="0.15", output_per_m="0.6", tools=True, vision=True, json=True).quality_score == (
        Decimal("0.5172")
    )
    assert _derive(input_per_m="3", output_per_m="15", tools=True, reasoning=True).quality_score == Decimal("0.6314")
    assert _derive(input_per_m="1000", output_per_m="1000", reasoning=True).quality_score == Decimal("0.8000")
    top = _derive(input_per_m="100000", output_per_m="100000", tools=True, vision=True, json=True, reasoning=True)
    assert top.quality_score == Decimal("0.9500")  # capped
