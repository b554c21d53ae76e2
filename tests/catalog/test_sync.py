from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import Model, ModelAlias, PriceChange, Provider
from apps.catalog.services import CatalogSyncError, catalog_sync

from .conftest import OPENROUTER_SMALL, litellm_feed
from .factories import ProviderFactory, SyncedModelFactory

pytestmark = pytest.mark.django_db


def _sync(litellm=None, openrouter=None):
    return catalog_sync(litellm_source=litellm, openrouter_source=openrouter)


def _snapshot():
    """Every Model row as comparable values (updated_at included: a no-op sync must not touch rows)."""
    return {row["model_id"]: row for row in Model.objects.values()}


def test_first_sync_creates_models_and_providers(write_json):
    summary = _sync(litellm=write_json(litellm_feed()))
    assert (summary.added, summary.updated, summary.unchanged, summary.skipped) == (8, 0, 0, 0)
    assert summary.price_unknown == 1
    assert summary.deprecated == 1  # gpt-3.5-turbo-0301 has a deprecation date in the past
    assert summary.errors == []
    assert summary.line() == ("added 8, updated 0, unchanged 0, deprecated 1, price unknown 1, skipped 0, errors 0")
    mini = Model.objects.select_related("provider").get(model_id="openai/gpt-4o-mini")
    assert mini.provider.slug == "openai"
    assert mini.source == "litellm"
    assert mini.mode == "chat"
    assert mini.input_price == Decimal("0.00000015")
    assert mini.output_price == Decimal("0.0000006")
    assert (mini.category, mini.power_level, mini.plan_tier) == ("fast-cheap", "ECO", "starter")
    assert mini.quality_score == Decimal("0.5172")
    assert mini.default_installed is True
    assert mini.deprecated_at is None
    assert mini.pricing_extra == {"input_cost_per_token_batches": "0.000000075"}
    assert Model.objects.get(model_id="anthropic/claude-sonnet-4-5").default_installed is False
    old = Model.objects.get(model_id="openai/gpt-3.5-turbo-0301")
    assert old.deprecated_at == datetime(2024, 6, 13, tzinfo=UTC)
    coder = Model.objects.get(model_id="fireworks_ai/accounts/fireworks/models/qwen3-coder-480b")
    assert coder.category == "coding"


def test_providers_from_registry_and_unknown_ones_disabled(write_json):
    _sync(litellm=write_json(litellm_feed()))
    openai = Provider.objects.get(slug="openai")
    assert (openai.enabled, openai.adapter_kind, openai.base_url, openai.env_key_name) == (
        True,
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
    )
    anthropic = Provider.objects.get(slug="anthropic")
    assert (anthropic.adapter_kind, anthropic.env_key_name) == ("anthropic", "ANTHROPIC_API_KEY")
    assert Provider.objects.get(slug="gemini").adapter_kind == "gemini"
    together = Provider.objects.get(slug="together_ai")
    assert (together.enabled, together.env_key_name) == (True, "TOGETHER_API_KEY")
    ollama = Provider.objects.get(slug="ollama")
    assert (ollama.privacy_class, ollama.base_url) == ("local", "http://127.0.0.1:11434/v1")
    fireworks = Provider.objects.get(slug="fireworks_ai")
    assert (fireworks.enabled, fireworks.adapter_kind, fireworks.base_url, fireworks.name) == (
        False,
        "openai",
        "",
        "Fireworks Ai",
    )


def test_existing_provider_settings_are_never_changed(write_json):
    ProviderFactory(slug="openai", name="Our OpenAI", enabled=False, base_url="http://127.0.0.1:9100/v1", priority=5)
    _sync(litellm=write_json(litellm_feed()))
    openai = Provider.objects.get(slug="openai")
    assert (openai.name, openai.enabled, openai.base_url, openai.priority) == (
        "Our OpenAI",
        False,
        "http://127.0.0.1:9100/v1",
        5,
    )


def test_second_identical_sync_changes_nothing(write_json):
    feed = write_json(litellm_feed())
    _sync(litellm=feed, openrouter=OPENROUTER_SMALL)
    before = _snapshot()
    summary = _sync(litellm=feed, openrouter=OPENROUTER_SMALL)
    assert (summary.added, summary.updated, summary.deprecated, summary.price_changes) == (0, 0, 0, 0)
    assert summary.unchanged == len(before) == 27
    assert PriceChange.objects.count() == 0
    assert _snapshot() == before


def test_changed_price_writes_one_price_change_with_all_four_prices(write_json):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    data["claude-sonnet-4-5"]["input_cost_per_token"] = 3.3e-06
    data["claude-sonnet-4-5"]["cache_read_input_token_cost"] = 3.3e-07
    data["claude-sonnet-4-5"]["max_output_tokens"] = 128000
    summary = _sync(litellm=write_json(data))
    assert (summary.updated, summary.unchanged, summary.price_changes) == (1, 7, 1)
    change = PriceChange.objects.get()
    assert change.model.model_id == "anthropic/claude-sonnet-4-5"
    assert change.source == "litellm"
    assert (change.old_input_price, change.new_input_price) == (Decimal("0.000003"), Decimal("0.0000033"))
    assert (change.old_output_price, change.new_output_price) == (Decimal("0.000015"), Decimal("0.000015"))
    assert (change.old_cache_read_price, change.new_cache_read_price) == (Decimal("0.0000003"), Decimal("0.00000033"))
    assert (change.old_cache_write_price, change.new_cache_write_price) == (
        Decimal("0.00000375"),
        Decimal("0.00000375"),
    )
    sonnet = Model.objects.get(model_id="anthropic/claude-sonnet-4-5")
    assert sonnet.input_price == Decimal("0.0000033")
    assert sonnet.max_output_tokens == 128000
    # And the next identical run adds no second row.
    _sync(litellm=write_json(data))
    assert PriceChange.objects.count() == 1


def test_non_price_change_writes_no_price_change(write_json):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    data["gpt-4o-mini"]["max_input_tokens"] = 200000
    summary = _sync(litellm=write_json(data))
    assert (summary.updated, summary.price_changes) == (1, 0)
    assert PriceChange.objects.count() == 0
    assert Model.objects.get(model_id="openai/gpt-4o-mini").context_window == 200000


def test_vanished_model_is_deprecated_not_deleted_and_comes_back(write_json):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    entry = data.pop("claude-sonnet-4-5")
    before = timezone.now()
    summary = _sync(litellm=write_json(data))
    assert summary.deprecated == 1
    sonnet = Model.objects.get(model_id="anthropic/claude-sonnet-4-5")
    assert sonnet.deprecated_at is not None and sonnet.deprecated_at >= before
    first_deprecation = sonnet.deprecated_at

    again = _sync(litellm=write_json(data))  # still gone: the date is kept, nothing to update
    assert (again.deprecated, again.updated) == (0, 0)
    assert Model.objects.get(model_id="anthropic/claude-sonnet-4-5").deprecated_at == first_deprecation

    data["claude-sonnet-4-5"] = entry
    back = _sync(litellm=write_json(data))
    assert back.updated == 1
    assert Model.objects.get(model_id="anthropic/claude-sonnet-4-5").deprecated_at is None
    assert Model.objects.count() == 8


def test_only_models_of_a_synced_source_are_deprecated(write_json):
    manual = SyncedModelFactory(source="manual")
    openrouter_model = SyncedModelFactory(source="openrouter")
    gone = SyncedModelFactory(source="litellm")
    _sync(litellm=write_json(litellm_feed()))
    manual.refresh_from_db()
    openrouter_model.refresh_from_db()
    gone.refresh_from_db()
    assert manual.deprecated_at is None
    assert openrouter_model.deprecated_at is None  # the OpenRouter feed was not part of this sync
    assert gone.deprecated_at is not None


def test_expiration_date_in_the_past_deprecates(write_json):
    data = {"data": [{"id": "acme/old", "pricing": {"prompt": "0.000001"}, "expiration_date": "2001-01-01"}]}
    data["data"].append({"id": "acme/later", "pricing": {"prompt": "0.000001"}, "expiration_date": "2999-01-01"})
    _sync(openrouter=write_json(data))
    assert Model.objects.get(model_id="openrouter/acme/old").deprecated_at == datetime(2001, 1, 1, tzinfo=UTC)
    assert Model.objects.get(model_id="openrouter/acme/later").deprecated_at is None


def test_staff_edits_survive_the_sync(write_json):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    sonnet = Model.objects.get(model_id="anthropic/claude-sonnet-4-5")
    sonnet.display_name = "Sonnet (house)"
    sonnet.input_price = Decimal("0.000002")
    sonnet.category = "coding"
    sonnet.plan_tier = "starter"
    services.model_staff_save(model=sonnet, changed_fields=["display_name", "input_price", "category", "plan_tier"])
    assert sonnet.hand_edited_fields == ["category", "display_name", "input_price", "plan_tier"]

    data["claude-sonnet-4-5"]["input_cost_per_token"] = 4e-06
    data["claude-sonnet-4-5"]["output_cost_per_token"] = 2e-05
    summary = _sync(litellm=write_json(data))
    sonnet.refresh_from_db()
    assert sonnet.display_name == "Sonnet (house)"
    assert sonnet.input_price == Decimal("0.000002")
    assert (sonnet.category, sonnet.plan_tier) == ("coding", "starter")
    assert sonnet.output_price == Decimal("0.00002")  # not hand-edited: follows the feed
    change = PriceChange.objects.get()
    assert (change.old_input_price, change.new_input_price) == (Decimal("0.000002"), Decimal("0.000002"))
    assert (change.old_output_price, change.new_output_price) == (Decimal("0.000015"), Decimal("0.00002"))
    assert summary.updated == 1


def test_hand_edited_deprecation_is_kept(write_json):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    mini = Model.objects.get(model_id="openai/gpt-4o-mini")
    mini.deprecated_at = timezone.now() - timedelta(days=1)
    services.model_staff_save(model=mini, changed_fields=["deprecated_at"])
    summary = _sync(litellm=write_json(data))
    assert summary.updated == 0
    assert Model.objects.get(pk=mini.pk).deprecated_at == mini.deprecated_at


def test_default_installed_only_on_creation(write_json):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    Model.objects.filter(model_id="openai/gpt-4o-mini").update(default_installed=False)
    Model.objects.filter(model_id="anthropic/claude-sonnet-4-5").update(default_installed=True)
    _sync(litellm=write_json(data))
    assert Model.objects.get(model_id="openai/gpt-4o-mini").default_installed is False
    assert Model.objects.get(model_id="anthropic/claude-sonnet-4-5").default_installed is True


def test_price_unknown_models_have_null_prices(write_json):
    _sync(litellm=write_json(litellm_feed()), openrouter=OPENROUTER_SMALL)
    unknown = Model.objects.filter(price_unknown=True)
    assert set(unknown.values_list("model_id", flat=True)) == {
        "bedrock/cohere.command-text-v14",
        "openrouter/openrouter/auto",
        "openrouter/openrouter/fusion",
    }
    for model in unknown:
        assert (model.input_price, model.output_price, model.cache_read_price, model.cache_write_price) == (
            None,
            None,
            None,
            None,
        )
        assert (model.category, model.plan_tier, model.power_level) == ("balanced", "pro", "BALANCED")
    assert not Model.objects.filter(input_price__lt=0).exists()


def test_free_models_cost_zero_and_are_not_unknown(write_json):
    _sync(litellm=write_json(litellm_feed()), openrouter=OPENROUTER_SMALL)
    for model_id in ("openrouter/openai/gpt-oss-20b:free", "openrouter/openrouter/free", "ollama/llama3"):
        model = Model.objects.get(model_id=model_id)
        assert (model.input_price, model.output_price, model.price_unknown) == (Decimal(0), Decimal(0), False)
        assert model.plan_tier == "starter"


def test_a_price_becoming_unknown_is_recorded(write_json):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    del data["gpt-4o-mini"]["input_cost_per_token"]
    del data["gpt-4o-mini"]["output_cost_per_token"]
    del data["gpt-4o-mini"]["cache_read_input_token_cost"]
    _sync(litellm=write_json(data))
    mini = Model.objects.get(model_id="openai/gpt-4o-mini")
    assert (mini.price_unknown, mini.input_price, mini.plan_tier) == (True, None, "pro")
    change = PriceChange.objects.get()
    assert (change.old_input_price, change.new_input_price) == (Decimal("0.00000015"), None)


def test_openrouter_sync_with_alias_and_overrides():
    summary = _sync(openrouter=OPENROUTER_SMALL)
    assert summary.added == 19
    assert summary.aliases == 1
    alias = ModelAlias.objects.select_related("model").get()
    assert alias.alias == "openrouter/~anthropic/claude-haiku-latest"
    assert alias.model.model_id == "openrouter/anthropic/claude-haiku-4.5"
    assert not Model.objects.filter(model_id__contains="~").exists()
    sonnet = Model.objects.get(model_id="openrouter/anthropic/claude-sonnet-4.5")
    assert sonnet.pricing_extra["overrides"][0]["min_prompt_tokens"] == 200000
    assert sonnet.source_created_at == datetime.fromtimestamp(1759161676, tz=UTC)
    assert sonnet.display_name == "Anthropic: Claude Sonnet 4.5"
    assert Provider.objects.get(slug="openrouter").priority == 200
    expired = Model.objects.get(model_id="openrouter/nvidia/nemotron-nano-12b-v2-vl:free")
    assert expired.deprecated_at == datetime(2026, 8, 24, tzinfo=UTC)
    assert Model.objects.get(model_id="openrouter/mistralai/codestral-2508").category == "coding"
    assert Model.objects.get(model_id="openrouter/gryphe/mythomax-l2-13b").category == "creative"


def test_alias_follows_its_target(write_json):
    data = {
        "data": [
            {"id": "acme/one", "pricing": {"prompt": "0.000001"}},
            {"id": "acme/two", "pricing": {"prompt": "0.000002"}},
            {"id": "~acme/latest", "pricing": {"prompt": "0.000001"}, "alias_target": {"slug": "acme/one"}},
        ]
    }
    _sync(openrouter=write_json(data))
    assert ModelAlias.objects.get(alias="openrouter/~acme/latest").model.model_id == "openrouter/acme/one"
    data["data"][2]["alias_target"]["slug"] = "acme/two"
    _sync(openrouter=write_json(data))
    assert ModelAlias.objects.get(alias="openrouter/~acme/latest").model.model_id == "openrouter/acme/two"


def test_collisions_first_wins_and_are_counted(write_json):
    data = litellm_feed()
    # "openai/gpt-4o-mini" is also what the key "gpt-4o-mini" (provider openai) maps to.
    data["openai/gpt-4o-mini"] = {**data["gpt-4o-mini"], "input_cost_per_token": 9e-06}
    summary = _sync(litellm=write_json(data))
    assert summary.skipped == 1
    assert Model.objects.get(model_id="openai/gpt-4o-mini").input_price == Decimal("0.00000015")


def test_bad_entries_are_skipped_and_reported(write_json):
    data = litellm_feed()
    data["broken-price"] = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "abc"}
    data["negative"] = {"litellm_provider": "openai", "mode": "chat", "output_cost_per_token": -0.1}
    data["not-a-dict"] = ["chat"]
    summary = _sync(litellm=write_json(data))
    assert summary.added == 8
    assert len(summary.errors) == 3
    assert summary.line().endswith("errors 3")
    assert any("broken-price" in error and "input_cost_per_token" in error for error in summary.errors)
    assert not Model.objects.filter(model_id__in=["openai/broken-price", "openai/negative"]).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("this is not json", "not valid JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"sample_spec": {}}', "no usable chat models"),
    ],
)
def test_unusable_litellm_feed_aborts_and_writes_nothing(write_json, content, message):
    _sync(litellm=write_json(litellm_feed(), "good.json"))
    before = _snapshot()
    with pytest.raises(CatalogSyncError, match=message):
        _sync(litellm=write_json(content, "bad.json"), openrouter=OPENROUTER_SMALL)
    assert _snapshot() == before
    assert not Provider.objects.filter(slug="openrouter").exists()


def test_wrong_shape_openrouter_feed_aborts_everything(write_json):
    with pytest.raises(CatalogSyncError, match='"data" list'):
        _sync(litellm=write_json(litellm_feed()), openrouter=write_json({"models": []}, "or.json"))
    assert Model.objects.count() == 0
    assert Provider.objects.count() == 0


def test_no_source_is_an_error():
    with pytest.raises(CatalogSyncError, match="no feed"):
        _sync()


def test_failure_mid_sync_rolls_back_everything(write_json, monkeypatch):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    before = _snapshot()
    providers_before = Provider.objects.count()
    data["claude-sonnet-4-5"]["input_cost_per_token"] = 9e-06
    data.pop("gpt-4o-mini")

    def explode(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_aliases_sync", explode)  # runs after every model write
    with pytest.raises(RuntimeError, match="disk full"):
        _sync(litellm=write_json(data), openrouter=OPENROUTER_SMALL)
    assert _snapshot() == before
    assert Provider.objects.count() == providers_before
    assert PriceChange.objects.count() == 0


def test_url_sources_from_a_local_http_server(http_server, write_json):
    base_url, root = http_server
    (root / "litellm.json").write_text(write_json(litellm_feed()).read_text())
    (root / "openrouter.json").write_text(OPENROUTER_SMALL.read_text())
    summary = _sync(litellm=f"{base_url}/litellm.json", openrouter=f"{base_url}/openrouter.json")
    assert summary.added == 27
    assert Model.objects.filter(source="openrouter").count() == 19


def test_url_errors_abort(http_server):
    base_url, root = http_server
    (root / "page.html").write_text("<html></html>")
    with pytest.raises(CatalogSyncError, match="404"):
        _sync(litellm=f"{base_url}/missing.json")
    with pytest.raises(CatalogSyncError, match="not valid JSON"):
        _sync(litellm=f"{base_url}/page.html")
    assert Model.objects.count() == 0


def test_unreachable_url_is_a_fetch_error():
    with pytest.raises(CatalogSyncError, match="could not fetch") as excinfo:
        _sync(litellm="http://127.0.0.1:9/prices.json")
    assert type(excinfo.value.__cause__).__name__ == "FeedFetchError"


@pytest.mark.slow
def test_full_shipped_snapshot_syncs_and_is_idempotent(settings):
    summary = catalog_sync(litellm_source=settings.CATALOG_LITELLM_SNAPSHOT, openrouter_source=None)
    assert summary.added > 3000
    assert Model.objects.filter(mode="chat", source="litellm").count() == summary.added
    assert summary.errors == []
    assert set(Model.objects.filter(default_installed=True).values_list("model_id", flat=True)) == set(
        settings.CATALOG_DEFAULT_INSTALLED
    )
    again = catalog_sync(litellm_source=settings.CATALOG_LITELLM_SNAPSHOT, openrouter_source=None)
    assert (again.added, again.updated, again.deprecated, again.unchanged) == (0, 0, 0, summary.added)
    assert PriceChange.objects.count() == 0


def test_every_synced_field_type_round_trips_through_the_update(write_json):
    data = litellm_feed()
    _sync(litellm=write_json(data))
    llama = data["meta-llama/Llama-3-70b-chat-hf"]
    llama.update(
        litellm_provider="fireworks_ai",
        input_cost_per_token=2e-06,
        output_cost_per_token=None,
        cache_creation_input_token_cost=1e-06,
        output_cost_per_token_batches=4e-07,
        max_input_tokens=131072,
        max_output_tokens=8192,
        supports_function_calling=True,
        supports_vision=True,
        supports_reasoning=True,
        deprecation_date="2020-02-29",
    )
    del llama["output_cost_per_token"]
    summary = _sync(litellm=write_json(data))
    assert (summary.updated, summary.deprecated, summary.price_changes) == (1, 1, 1)
    model = Model.objects.select_related("provider").get(model_id="meta-llama/Llama-3-70b-chat-hf")
    assert model.provider.slug == "fireworks_ai"
    assert (model.input_price, model.output_price, model.cache_read_price, model.cache_write_price) == (
        Decimal("0.000002"),
        Decimal(0),
        None,
        Decimal("0.000001"),
    )
    assert model.pricing_extra == {"output_cost_per_token_batches": "0.0000004"}
    assert (model.context_window, model.max_output_tokens) == (131072, 8192)
    assert (model.supports_tools, model.supports_vision, model.supports_json, model.supports_reasoning) == (
        True,
        True,
        False,
        True,
    )
    assert model.deprecated_at == datetime(2020, 2, 29, tzinfo=UTC)
    assert (model.category, model.power_level, model.plan_tier) == ("fast-cheap", "ECO", "starter")
    assert model.quality_score == Decimal("0.5576")  # 0.45 + 0.1*log10(1.5) + 0.05 + 0.02 + 0.02
    assert model.updated_at > model.created_at
    assert _sync(litellm=write_json(data)).updated == 0
