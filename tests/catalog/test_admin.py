import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import Model, PriceChange, Provider
from apps.catalog.services import catalog_sync
from apps.workspaces.models import Plan

from .conftest import litellm_feed
from .factories import ModelFactory, PriceChangeFactory, ProviderFactory, TaskScoreFactory

pytestmark = pytest.mark.django_db

SECRET = "sk-live-0123456789abcdefSECRETtail"


@pytest.fixture
def catalog():
    """Two providers and models that differ in every filtered field."""
    acme = ProviderFactory(slug="acme", name="Acme AI")
    zeta = ProviderFactory(slug="zeta", name="Zeta Labs", enabled=False)
    models = {
        "cheap": ModelFactory(
            provider=acme,
            upstream_name="alpha-mini",
            display_name="Alpha Mini",
            category="fast-cheap",
            plan_tier="starter",
            power_level="ECO",
            source="litellm",
        ),
        "coder": ModelFactory(
            provider=acme,
            upstream_name="bravo-coder",
            display_name="Bravo Coder",
            category="coding",
            plan_tier="pro",
            power_level="BALANCED",
            source="openrouter",
            pricing_extra={"overrides": [{"min_prompt_tokens": 200000, "prompt": "0.000006"}]},
        ),
        "premium": ModelFactory(
            provider=zeta,
            upstream_name="charlie-max",
            display_name="Charlie Max",
            category="premium",
            plan_tier="enterprise",
            power_level="PRECISION",
            source="manual",
            enabled=False,
            input_price=Decimal("0.000015"),
            output_price=Decimal("0.000075"),
        ),
        "unknown": ModelFactory(
            provider=zeta,
            upstream_name="delta-router",
            display_name="Delta Router",
            price_unknown=True,
            input_price=None,
            output_price=None,
            mode="completion",
            deprecated_at=timezone.now(),
        ),
    }
    return models


def _changelist(client, url_name, **params):
    response = client.get(reverse(url_name), params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def _ids_shown(html: str, models: dict) -> set[str]:
    return {key for key, model in models.items() if model.model_id in html}


# Model changelist --------------------------------------------------------------------------------------------


def test_model_changelist_shows_prices_per_million(admin_client, catalog):
    html = _changelist(admin_client, "admin:catalog_model_changelist")
    assert _ids_shown(html, catalog) == {"cheap", "coder", "premium", "unknown"}
    assert "$0.15" in html and "$0.60" in html  # factory prices per 1M
    assert "$15.00" in html and "$75.00" in html
    assert "Sync now" in html
    assert reverse("admin:catalog_model_sync") in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category__exact": "coding"}, {"coder"}),
        ({"plan_tier__exact": "enterprise"}, {"premium"}),
        ({"power_level__exact": "ECO"}, {"cheap"}),
        ({"deprecated": "yes"}, {"unknown"}),
        ({"deprecated": "no"}, {"cheap", "coder", "premium"}),
        ({"price_unknown__exact": "1"}, {"unknown"}),
        ({"enabled__exact": "0"}, {"premium"}),
        ({"source__exact": "openrouter"}, {"coder"}),
        ({"mode__exact": "completion"}, {"unknown"}),
        ({"q": "Bravo"}, {"coder"}),
        ({"q": "charlie-max"}, {"premium"}),
        ({"q": "zeta/delta"}, {"unknown"}),
    ],
)
def test_model_changelist_filters_and_search(admin_client, catalog, params, expected):
    html = _changelist(admin_client, "admin:catalog_model_changelist", **params)
    assert _ids_shown(html, catalog) == expected


def test_model_changelist_provider_filter(admin_client, catalog):
    zeta = Provider.objects.get(slug="zeta")
    html = _changelist(admin_client, "admin:catalog_model_changelist", provider__id__exact=zeta.pk)
    assert _ids_shown(html, catalog) == {"premium", "unknown"}


def test_model_changelist_query_count_does_not_grow_with_rows(admin_client, catalog, django_assert_max_num_queries):
    for index in range(40):
        ModelFactory(provider=Provider.objects.get(slug="acme" if index % 2 else "zeta"))
    with django_assert_max_num_queries(12):
        admin_client.get(reverse("admin:catalog_model_changelist"))


def test_model_changelist_defers_heavy_columns(admin_client, catalog):
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(reverse("admin:catalog_model_changelist"))
    listing = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "catalog_model"."id"')]
    assert len(listing) == 1
    assert '"catalog_provider"."name"' in listing[0]  # list_select_related
    assert all('"pricing_extra"' not in sql and '"description"' not in sql for sql in listing)


def test_model_change_page(admin_client, catalog):
    response = admin_client.get(reverse("admin:catalog_model_change", args=[catalog["coder"].pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "bravo-coder" in html
    assert "min_prompt_tokens" in html
    assert "hand_edited_fields" in html


def _model_form_data(model: Model, **changes) -> dict:
    data = {
        "model_id": model.model_id,
        "provider": model.provider_id,
        "upstream_name": model.upstream_name,
        "display_name": model.display_name,
        "description": model.description,
        "mode": model.mode,
        "input_price": model.input_price,
        "output_price": model.output_price,
        "cache_read_price": model.cache_read_price,
        "cache_write_price": model.cache_write_price,
        "pricing_extra": json.dumps(model.pricing_extra),
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "category": model.category,
        "power_level": model.power_level,
        "quality_score": model.quality_score,
        "plan_tier": model.plan_tier,
        "popularity": model.popularity,
        "deprecated_at_0": "",
        "deprecated_at_1": "",
        "hand_edited_fields": json.dumps(model.hand_edited_fields),
        # Fields with a callable default carry their initial value in a hidden input, as the browser sends it.
        "initial-pricing_extra": json.dumps(model.pricing_extra),
        "initial-hand_edited_fields": json.dumps(model.hand_edited_fields),
        "_save": "Save",
    }
    flags = ["enabled", "price_unknown", "supports_tools", "supports_vision", "supports_json", "supports_streaming"]
    flags += ["supports_reasoning", "default_installed"]
    for flag in flags:
        if getattr(model, flag):
            data[flag] = "on"
    data.update(changes)
    return {key: "" if value is None else value for key, value in data.items()}


def test_admin_edit_is_kept_by_the_next_sync(admin_client, write_json):
    data = litellm_feed()
    catalog_sync(litellm_source=write_json(data), openrouter_source=None)
    sonnet = Model.objects.get(model_id="anthropic/claude-sonnet-4-5")
    response = admin_client.post(
        reverse("admin:catalog_model_change", args=[sonnet.pk]),
        _model_form_data(sonnet, display_name="Sonnet for support", plan_tier="pro", input_price="0.000002"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    sonnet.refresh_from_db()
    assert sonnet.hand_edited_fields == ["display_name", "input_price", "plan_tier"]

    data["claude-sonnet-4-5"]["input_cost_per_token"] = 5e-06
    data["claude-sonnet-4-5"]["max_input_tokens"] = 1000000
    catalog_sync(litellm_source=write_json(data), openrouter_source=None)
    sonnet.refresh_from_db()
    assert (sonnet.display_name, sonnet.plan_tier, sonnet.input_price) == ("Sonnet for support", "pro", Decimal("2E-6"))
    assert sonnet.context_window == 1000000  # not edited: the sync still manages it


def _action(client, action: str, models, **extra):
    data = {"action": action, "_selected_action": [model.pk for model in models], **extra}
    return client.post(reverse("admin:catalog_model_changelist"), data)


@pytest.mark.parametrize(
    ("action", "field", "value"),
    [
        ("set_plan_tier_starter", "plan_tier", "starter"),
        ("set_plan_tier_pro", "plan_tier", "pro"),
        ("set_plan_tier_enterprise", "plan_tier", "enterprise"),
        ("set_category_fast_cheap", "category", "fast-cheap"),
        ("set_category_balanced", "category", "balanced"),
        ("set_category_premium", "category", "premium"),
        ("set_category_coding", "category", "coding"),
        ("set_category_creative", "category", "creative"),
        ("set_power_level_eco", "power_level", "ECO"),
        ("set_power_level_balanced", "power_level", "BALANCED"),
        ("set_power_level_precision", "power_level", "PRECISION"),
    ],
)
def test_bulk_set_actions_record_hand_edits(admin_client, catalog, action, field, value):
    chosen = [catalog["cheap"], catalog["premium"]]
    response = _action(admin_client, action, chosen)
    assert response.status_code == 302
    for model in chosen:
        model.refresh_from_db()
        assert getattr(model, field) == value
        assert field in model.hand_edited_fields
    untouched = Model.objects.get(pk=catalog["coder"].pk)
    assert untouched.hand_edited_fields == []
    assert [m.message for m in get_messages(response.wsgi_request)][-1].endswith("on 2 models.")


def test_enable_and_disable_actions(admin_client, catalog):
    _action(admin_client, "disable_models", [catalog["cheap"], catalog["coder"]])
    assert not Model.objects.filter(pk__in=[catalog["cheap"].pk, catalog["coder"].pk], enabled=True).exists()
    _action(admin_client, "enable_models", [catalog["premium"]])
    assert Model.objects.get(pk=catalog["premium"].pk).enabled is True
    assert Model.objects.get(pk=catalog["unknown"].pk).enabled is True  # not selected, unchanged


def test_install_for_plan_asks_for_the_plan_then_adds_models(admin_client, catalog):
    plan = Plan.objects.create(slug="catalog-test", name="Catalog Test Plan")
    chosen = [catalog["cheap"], catalog["coder"]]
    form_page = _action(admin_client, "install_for_plan", chosen)
    assert form_page.status_code == 200
    html = form_page.content.decode()
    assert "Catalog Test Plan" in html
    assert catalog["cheap"].model_id in html and catalog["coder"].model_id in html
    assert plan.allowed_models.count() == 0

    done = _action(admin_client, "install_for_plan", chosen, plan=plan.pk, apply="Add to plan")
    assert done.status_code == 302
    assert set(plan.allowed_models.values_list("pk", flat=True)) == {catalog["cheap"].pk, catalog["coder"].pk}
    assert "Added 2 models to plan Catalog Test Plan." in [m.message for m in get_messages(done.wsgi_request)]


def test_install_for_plan_rejects_an_unknown_plan(admin_client, catalog):
    response = _action(admin_client, "install_for_plan", [catalog["cheap"]], plan=999999, apply="Add to plan")
    assert response.status_code == 200  # the form again, with an error
    assert "Select a valid choice" in response.content.decode()


def test_sync_now_runs_the_sync_and_reports(admin_client, settings, write_json):
    settings.CATALOG_SYNC_SOURCE = "snapshot"
    settings.CATALOG_LITELLM_SNAPSHOT = write_json(litellm_feed())
    settings.CATALOG_OPENROUTER_SNAPSHOT = None
    response = admin_client.post(reverse("admin:catalog_model_sync"), follow=True)
    assert response.redirect_chain == [(reverse("admin:catalog_model_changelist"), 302)]
    messages = [m.message for m in response.context["messages"]]
    assert (
        "Catalog sync done: added 8, updated 0, unchanged 0, deprecated 1, price unknown 1, skipped 0, errors 0."
        in messages
    )
    assert Model.objects.count() == 8


def test_sync_now_reports_an_aborted_sync(admin_client, settings, write_json):
    settings.CATALOG_SYNC_SOURCE = "snapshot"
    settings.CATALOG_LITELLM_SNAPSHOT = write_json("not json")
    response = admin_client.post(reverse("admin:catalog_model_sync"), follow=True)
    messages = [m.message for m in response.context["messages"]]
    assert any(message.startswith("Catalog sync aborted, nothing changed:") for message in messages)
    assert Model.objects.count() == 0


def test_sync_now_needs_post(admin_client):
    assert admin_client.get(reverse("admin:catalog_model_sync")).status_code == 405


# Providers ---------------------------------------------------------------------------------------------------


def test_provider_changelist_counts_models_without_n_plus_one(admin_client, catalog, django_assert_max_num_queries):
    for _ in range(3):
        ModelFactory(provider=ProviderFactory())
    with django_assert_max_num_queries(10):
        response = admin_client.get(reverse("admin:catalog_provider_changelist"))
    html = response.content.decode()
    assert "Acme AI" in html and "Zeta Labs" in html
    acme = response.context["cl"].result_list.get(slug="acme")
    assert acme.model_count == 2


def test_provider_filters_and_search(admin_client, catalog):
    html = _changelist(admin_client, "admin:catalog_provider_changelist", enabled__exact="0")
    assert "Zeta Labs" in html and "Acme AI" not in html
    html = _changelist(admin_client, "admin:catalog_provider_changelist", q="acme")
    assert "Acme AI" in html and "Zeta Labs" not in html


def test_provider_enable_disable_actions(admin_client, catalog):
    url = reverse("admin:catalog_provider_changelist")
    acme, zeta = Provider.objects.get(slug="acme"), Provider.objects.get(slug="zeta")
    admin_client.post(url, {"action": "disable_providers", "_selected_action": [acme.pk]})
    admin_client.post(url, {"action": "enable_providers", "_selected_action": [zeta.pk]})
    acme.refresh_from_db()
    zeta.refresh_from_db()
    assert (acme.enabled, zeta.enabled) == (False, True)


def _provider_form_data(provider: Provider, **changes) -> dict:
    data = {
        "slug": provider.slug,
        "name": provider.name,
        "adapter_kind": provider.adapter_kind,
        "base_url": provider.base_url,
        "priority": provider.priority,
        "privacy_class": provider.privacy_class,
        "env_key_name": provider.env_key_name,
        "extra_headers": json.dumps(provider.extra_headers),
        "adapter_options": json.dumps(provider.adapter_options),
        "_save": "Save",
    }
    if provider.enabled:
        data["enabled"] = "on"
    data.update(changes)
    return data


def test_platform_key_is_write_only(admin_client, catalog):
    provider = Provider.objects.get(slug="acme")
    change_url = reverse("admin:catalog_provider_change", args=[provider.pk])
    response = admin_client.post(change_url, _provider_form_data(provider, new_platform_key=SECRET))
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider.refresh_from_db()
    assert provider.platform_key == SECRET
    assert provider.platform_key_mask == "sk-…tail"

    pages = [
        change_url,
        reverse("admin:catalog_provider_changelist"),
        reverse("admin:catalog_provider_history", args=[provider.pk]),
        reverse("admin:catalog_provider_add"),
        reverse("admin:index"),
    ]
    for page in pages:
        html = admin_client.get(page).content.decode()
        assert SECRET not in html, page
        assert SECRET[-12:] not in html, page
    assert "sk-…tail" in admin_client.get(change_url).content.decode()
    assert "sk-…tail" in admin_client.get(reverse("admin:catalog_provider_changelist")).content.decode()

    # Saving again without a new key keeps it; the clear box removes it.
    admin_client.post(change_url, _provider_form_data(provider, name="Acme Renamed"))
    provider.refresh_from_db()
    assert (provider.name, provider.platform_key) == ("Acme Renamed", SECRET)
    admin_client.post(change_url, _provider_form_data(provider, clear_platform_key="on"))
    provider.refresh_from_db()
    assert (provider.platform_key, provider.platform_key_mask) == ("", "")


def test_provider_add_with_platform_key(admin_client):
    data = _provider_form_data(
        Provider(slug="local-mock", name="Local mock", adapter_kind="openai", base_url="http://127.0.0.1:9100/v1"),
        new_platform_key=SECRET,
    )
    response = admin_client.post(reverse("admin:catalog_provider_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider = Provider.objects.get(slug="local-mock")
    assert (provider.platform_key, provider.platform_key_mask) == (SECRET, "sk-…tail")


# Price changes, task scores, aliases -------------------------------------------------------------------------


def test_price_change_admin_is_read_only(admin_client, catalog):
    change = PriceChangeFactory(model=catalog["premium"], new_output_price=Decimal("0.00008"))
    html = _changelist(admin_client, "admin:catalog_pricechange_changelist")
    assert catalog["premium"].model_id in html
    assert "$1.00" in html and "$2.00" in html  # old/new input per 1M
    assert "$80.00" in html
    html = _changelist(admin_client, "admin:catalog_pricechange_changelist", q="charlie")
    assert catalog["premium"].model_id in html
    html = _changelist(admin_client, "admin:catalog_pricechange_changelist", source__exact="openrouter")
    assert catalog["premium"].model_id not in html

    detail = admin_client.get(reverse("admin:catalog_pricechange_change", args=[change.pk]))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert admin_client.get(reverse("admin:catalog_pricechange_add")).status_code == 403
    assert admin_client.post(reverse("admin:catalog_pricechange_delete", args=[change.pk])).status_code == 403
    assert PriceChange.objects.filter(pk=change.pk).exists()


def test_task_score_admin(admin_client, catalog):
    score = TaskScoreFactory(model=catalog["coder"], task="code", score=Decimal("0.9"))
    html = _changelist(admin_client, "admin:catalog_taskscore_changelist")
    assert catalog["coder"].model_id in html and "0.9" in html
    html = _changelist(admin_client, "admin:catalog_taskscore_changelist", task__exact="math")
    assert catalog["coder"].model_id not in html
    html = _changelist(admin_client, "admin:catalog_taskscore_changelist", source__exact="manual", q="bravo")
    assert catalog["coder"].model_id in html
    response = admin_client.post(
        reverse("admin:catalog_taskscore_change", args=[score.pk]),
        {"model": catalog["coder"].pk, "task": "code", "score": "0.75", "source": "manual", "sample_size": 20},
    )
    assert response.status_code == 302
    score.refresh_from_db()
    assert score.score == Decimal("0.75")
    page = admin_client.get(reverse("admin:catalog_taskscore_change", args=[score.pk])).content.decode()
    assert "admin-autocomplete" in page


def test_model_autocomplete_for_scores_and_aliases(admin_client, catalog):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "catalog", "model_name": "taskscore", "field_name": "model", "term": "bravo"},
    )
    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == [catalog["coder"].model_id]


def test_model_alias_admin(admin_client, catalog):
    response = admin_client.post(
        reverse("admin:catalog_modelalias_add"), {"alias": "bravo", "model": catalog["coder"].pk}
    )
    assert response.status_code == 302
    html = _changelist(admin_client, "admin:catalog_modelalias_changelist", q="bravo")
    assert catalog["coder"].model_id in html


# Access ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url_name",
    ["admin:catalog_model_changelist", "admin:catalog_provider_changelist", "admin:catalog_pricechange_changelist"],
)
def test_anonymous_and_non_staff_are_sent_to_login(client, django_user_model, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    member = django_user_model.objects.create_user(username="member", password="pw-member-123")
    client.force_login(member)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_sync_now_is_for_staff_who_may_change_models(client, django_user_model, catalog):
    staff = django_user_model.objects.create_user(username="viewer", password="pw-viewer-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_model", content_type__app_label="catalog"))
    client.force_login(staff)
    assert client.get(reverse("admin:catalog_model_changelist")).status_code == 200
    assert client.post(reverse("admin:catalog_model_sync")).status_code == 403
    assert client.get(reverse("admin:catalog_provider_changelist")).status_code == 403
    assert Model.objects.count() == 4
    client.logout()
    response = client.post(reverse("admin:catalog_model_sync"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_sync_now_while_another_sync_runs(admin_client):
    from django.core.cache import cache

    from apps.catalog.tasks import SYNC_LOCK_KEY

    cache.add(SYNC_LOCK_KEY, "worker")
    response = admin_client.post(reverse("admin:catalog_model_sync"), follow=True)
    messages = [m.message for m in response.context["messages"]]
    assert messages == ["Catalog sync not run: another catalog sync is running."]
