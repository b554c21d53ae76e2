import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.catalog.feeds import FeedError, feed_load, parse_litellm, parse_openrouter, readable_name

from .conftest import OPENROUTER_SMALL, litellm_feed


def _litellm(data) -> dict:
    """Parse as the sync does: through JSON text, so floats arrive as Decimals."""
    feed = parse_litellm(json.loads(json.dumps(data), parse_float=Decimal), label="test")
    return {record.model_id: record for record in feed.records}, feed


def _openrouter_fixture():
    return parse_openrouter(feed_load(OPENROUTER_SMALL, timeout=5), label="fixture")


def test_litellm_canonical_ids_and_upstream_names():
    records, feed = _litellm(litellm_feed())
    assert sorted(records) == [
        "anthropic/claude-sonnet-4-5",
        "bedrock/cohere.command-text-v14",
        "fireworks_ai/accounts/fireworks/models/qwen3-coder-480b",
        "gemini/gemini-2.5-flash",
        "meta-llama/Llama-3-70b-chat-hf",
        "ollama/llama3",
        "openai/gpt-3.5-turbo-0301",
        "openai/gpt-4o-mini",
    ]
    assert records["openai/gpt-4o-mini"].upstream_name == "gpt-4o-mini"
    assert records["gemini/gemini-2.5-flash"].upstream_name == "gemini-2.5-flash"
    assert records["fireworks_ai/accounts/fireworks/models/qwen3-coder-480b"].upstream_name == (
        "accounts/fireworks/models/qwen3-coder-480b"
    )
    # A slash that is not the provider prefix: the key is both the id and the upstream name.
    assert records["meta-llama/Llama-3-70b-chat-hf"].upstream_name == "meta-llama/Llama-3-70b-chat-hf"
    assert records["meta-llama/Llama-3-70b-chat-hf"].provider_slug == "together_ai"
    assert feed.errors == []


def test_litellm_prices_are_exact_decimals_and_extras_kept():
    records, _ = _litellm(litellm_feed())
    mini = records["openai/gpt-4o-mini"]
    assert mini.input_price == Decimal("0.00000015")
    assert mini.output_price == Decimal("0.0000006")
    assert mini.cache_read_price == Decimal("0.000000075")
    assert mini.cache_write_price is None
    assert mini.price_unknown is False
    assert (mini.supports_tools, mini.supports_vision, mini.supports_json, mini.supports_reasoning) == (
        True,
        True,
        True,
        False,
    )
    assert (mini.context_window, mini.max_output_tokens) == (128000, 16384)
    assert mini.display_name == "GPT 4o Mini"
    sonnet = records["anthropic/claude-sonnet-4-5"]
    assert sonnet.cache_write_price == Decimal("0.00000375")
    assert sonnet.pricing_extra == {
        "input_cost_per_token_above_200k_tokens": "0.000006",
        "output_cost_per_token_above_200k_tokens": "0.0000225",
        "search_context_cost_per_query": {"search_context_size_low": "0.01"},
    }


def test_litellm_no_price_is_unknown_and_zero_price_is_free():
    records, _ = _litellm(litellm_feed())
    unknown = records["bedrock/cohere.command-text-v14"]
    assert unknown.price_unknown is True
    assert (unknown.input_price, unknown.output_price) == (None, None)
    free = records["ollama/llama3"]
    assert free.price_unknown is False
    assert (free.input_price, free.output_price) == (Decimal(0), Decimal(0))


def test_litellm_one_sided_price_makes_the_other_side_zero():
    records, _ = _litellm(
        {"pegasus": {"litellm_provider": "bedrock", "mode": "chat", "output_cost_per_token": 7.5e-06}}
    )
    record = records["bedrock/pegasus"]
    assert (record.input_price, record.output_price, record.price_unknown) == (Decimal(0), Decimal("0.0000075"), False)


def test_litellm_deprecation_date_is_parsed():
    records, _ = _litellm(litellm_feed())
    assert records["openai/gpt-3.5-turbo-0301"].expires_at == datetime(2024, 6, 13, tzinfo=UTC)
    assert records["openai/gpt-4o-mini"].expires_at is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "abc"}, "input_cost_per_token"),
        ({"litellm_provider": "openai", "mode": "chat", "output_cost_per_token": -1e-06}, "negative"),
        ({"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": True}, "not a number"),
        ({"litellm_provider": "openai", "mode": "chat", "max_input_tokens": "lots"}, "max_input_tokens"),
        ({"litellm_provider": "openai", "mode": "chat", "supports_vision": "yes"}, "supports_vision"),
        ({"litellm_provider": "openai", "mode": "chat", "deprecation_date": "soon"}, "deprecation_date"),
        ({"litellm_provider": "bad provider!", "mode": "chat"}, "litellm_provider"),
        ("not a dict", "not an object"),
    ],
)
def test_litellm_bad_entry_is_reported_and_skipped(entry, message):
    records, feed = _litellm({"broken": entry, "gpt-4o-mini": litellm_feed()["gpt-4o-mini"]})
    assert list(records) == ["openai/gpt-4o-mini"]
    assert len(feed.errors) == 1
    assert feed.errors[0].startswith("litellm broken: ")
    assert message in feed.errors[0]


@pytest.mark.parametrize("data", [[], "text", 3, None])
def test_litellm_wrong_top_level_shape_raises(data):
    with pytest.raises(FeedError, match="expected a JSON object"):
        parse_litellm(data, label="x")


@pytest.mark.parametrize("data", [[], {"models": []}, {"data": {}}, "x"])
def test_openrouter_wrong_top_level_shape_raises(data):
    with pytest.raises(FeedError, match='"data" list'):
        parse_openrouter(data, label="x")


def test_feed_load_rejects_non_json_and_missing_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("<html>not json</html>")
    with pytest.raises(FeedError, match="not valid JSON"):
        feed_load(bad, timeout=1)
    with pytest.raises(FeedError, match="could not read"):
        feed_load(tmp_path / "missing.json", timeout=1)


def test_openrouter_fixture_text_models_only_with_alias():
    feed = _openrouter_fixture()
    ids = {record.model_id for record in feed.records}
    assert len(ids) == 19  # 22 entries: 2 non-text outputs skipped, 1 `~...-latest` kept as an alias
    assert "openrouter/bytedance-seed/seedream-5-0-lite" not in ids  # image output only
    assert "openrouter/nvidia/nemotron-3.5-asr-streaming-multilingual-0.6b" not in ids  # transcription
    assert "openrouter/google/gemini-2.5-flash-image" in ids  # text + image output is still a chat model
    assert feed.aliases == {"openrouter/~anthropic/claude-haiku-latest": "openrouter/anthropic/claude-haiku-4.5"}
    assert feed.errors == []


def test_openrouter_fixture_prices_overrides_and_free():
    records = {record.model_id: record for record in _openrouter_fixture().records}
    sonnet = records["openrouter/anthropic/claude-sonnet-4.5"]
    assert sonnet.upstream_name == "anthropic/claude-sonnet-4.5"
    assert sonnet.display_name == "Anthropic: Claude Sonnet 4.5"
    assert sonnet.provider_slug == "openrouter"
    assert (sonnet.input_price, sonnet.output_price) == (Decimal("0.000003"), Decimal("0.000015"))
    assert (sonnet.cache_read_price, sonnet.cache_write_price) == (Decimal("0.0000003"), Decimal("0.00000375"))
    assert sonnet.pricing_extra["overrides"] == [
        {
            "min_prompt_tokens": 200000,
            "prompt": "0.000006",
            "completion": "0.0000225",
            "input_cache_read": "0.0000006",
            "input_cache_write": "0.0000075",
            "input_cache_write_1h": "0.000012",
        }
    ]
    assert sonnet.pricing_extra["web_search"] == "0.01"
    assert (sonnet.context_window, sonnet.max_output_tokens) == (1000000, 64000)
    assert sonnet.supports_tools and sonnet.supports_vision and sonnet.supports_json and sonnet.supports_reasoning
    assert sonnet.source_created_at == datetime.fromtimestamp(1759161676, tz=UTC)

    free = records["openrouter/openai/gpt-oss-20b:free"]
    assert (free.input_price, free.output_price, free.price_unknown) == (Decimal(0), Decimal(0), False)
    assert free.supports_vision is False

    for router in ("openrouter/openrouter/auto", "openrouter/openrouter/fusion"):
        assert records[router].price_unknown is True
        assert records[router].input_price is None and records[router].output_price is None

    # No max_completion_tokens upstream (null): unknown, not 0.
    assert records["openrouter/mistralai/codestral-2508"].max_output_tokens is None
    # Time-of-day overrides are kept as they come.
    assert len(records["openrouter/deepseek/deepseek-v4-pro"].pricing_extra["overrides"]) == 4
    assert records["openrouter/nvidia/nemotron-nano-12b-v2-vl:free"].expires_at == datetime(2026, 8, 24, tzinfo=UTC)


def _openrouter_entry(**pricing):
    return {"id": "acme/model", "name": "Acme: Model", "created": 1700000000, "pricing": pricing}


@pytest.mark.parametrize(
    ("pricing", "expected"),
    [
        # Missing keys in a priced model are 0; cache prices stay empty.
        ({"prompt": "0.000001"}, (Decimal("0.000001"), Decimal(0), None, False)),
        ({"completion": "0.000002", "input_cache_read": "0.0000001"}, (Decimal(0), Decimal("0.000002"), None, False)),
        ({}, (None, None, None, True)),
        ({"prompt": "-1", "completion": "-1"}, (None, None, None, True)),
        ({"prompt": "0.000001", "completion": "-1"}, (None, None, None, True)),
        ({"web_search": "0.01"}, (None, None, None, True)),
    ],
)
def test_openrouter_pricing_rules(pricing, expected):
    feed = parse_openrouter({"data": [_openrouter_entry(**pricing)]}, label="x")
    record = feed.records[0]
    assert (record.input_price, record.output_price, record.cache_write_price, record.price_unknown) == expected


def test_openrouter_entry_without_pricing_is_unknown():
    entry = {"id": "acme/model", "name": "Acme"}
    record = parse_openrouter({"data": [entry]}, label="x").records[0]
    assert record.price_unknown is True
    assert record.source_created_at is None


@pytest.mark.parametrize(
    "entry",
    [
        _openrouter_entry(prompt="abc", completion="0.1"),
        _openrouter_entry(prompt="-0.5", completion="0.1"),
        _openrouter_entry(prompt="NaN", completion="0.1"),
        {"id": "acme/model", "pricing": "free"},
        {"id": "acme/model", "created": "yesterday"},
        {"id": "acme/model", "context_length": -5},
    ],
)
def test_openrouter_bad_entry_is_reported_and_skipped(entry):
    good = {"id": "acme/good", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
    feed = parse_openrouter({"data": [entry, good, 42]}, label="x")
    assert [record.model_id for record in feed.records] == ["openrouter/acme/good"]
    assert len(feed.errors) == 2
    assert feed.errors[0].startswith("openrouter acme/model: ")
    assert feed.errors[1] == "openrouter entry 2: entry is not an object"
    assert "openrouter/acme/model" in feed.present_ids  # a bad entry today does not deprecate the model


def test_alias_without_its_target_is_kept_as_a_model():
    entry = {
        "id": "~acme/model-latest",
        "name": "Acme Latest",
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
        "alias_target": {"name": "Acme 2", "slug": "acme/model-2"},
    }
    feed = parse_openrouter({"data": [entry]}, label="x")
    assert [record.model_id for record in feed.records] == ["openrouter/~acme/model-latest"]
    assert feed.aliases == {}


@pytest.mark.parametrize(
    ("upstream", "readable"),
    [
        ("claude-3-5-sonnet-20241022", "Claude 3.5 Sonnet 20241022"),
        ("gpt-4o-mini", "GPT 4o Mini"),
        ("gemini-2.5-flash", "Gemini 2.5 Flash"),
        ("accounts/fireworks/models/llama-v3p1-8b-instruct", "Llama V3p1 8b Instruct"),
        ("gpt-4o-2024-08-06", "GPT 4o 2024 08 06"),
    ],
)
def test_readable_name(upstream, readable):
    assert readable_name(upstream) == readable
