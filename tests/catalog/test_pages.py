"""The catalog pages through Django's test client: browse (filters, search, sorts, sections, pages), a model's page
(bars, calculator, usage, health, install and uninstall) and the comparison, always in the member's own workspace."""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.analytics.models import AuditEvent
from apps.analytics.tasks import usage_rollup_task
from apps.catalog.insights import SAMPLE_WORKLOADS, Volume, model_compare, volume_cost
from apps.catalog.models import Model
from apps.catalog.page_figures import speed_score, usd_text
from apps.catalog.services import catalog_popularity_refresh
from apps.workspaces.models import InstalledModel, Plan
from tests.analytics.factories import ModelHealthFactory, UsageRecordFactory, UsageRollupFactory
from tests.catalog.factories import ModelAliasFactory, ModelFactory, ProviderFactory, TaskScoreFactory
from tests.core.factories import UserFactory
from tests.workspaces.factories import AgentFactory, InstalledModelFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db
BROWSE = "/models/"


def detail_url(model_id: str) -> str:
    return reverse("catalog_pages:detail", args=[model_id])


@pytest.fixture
def catalog():
    openai = ProviderFactory(slug="openai", name="OpenAI")
    anthropic = ProviderFactory(slug="anthropic", name="Anthropic")
    return {
        "mini": ModelFactory(
            provider=openai,
            upstream_name="gpt-4o-mini",
            display_name="GPT-4o mini",
            category="fast-cheap",
            plan_tier="starter",
            input_price=Decimal("0.00000015"),
            output_price=Decimal("0.0000006"),
            context_window=128_000,
            supports_vision=True,
            popularity=5,
            default_installed=True,
        ),
        "coder": ModelFactory(
            provider=openai,
            upstream_name="codex-pro",
            display_name="Codex Pro",
            category="coding",
            plan_tier="starter",
            input_price=Decimal("0.0000015"),
            output_price=Decimal("0.000006"),
            context_window=200_000,
            popularity=1,
            default_installed=True,
        ),
        "sonnet": ModelFactory(
            provider=anthropic,
            upstream_name="claude-sonnet",
            display_name="Claude Sonnet",
            category="premium",
            plan_tier="pro",
            input_price=Decimal("0.000003"),
            output_price=Decimal("0.000015"),
            context_window=1_000_000,
            supports_reasoning=True,
            popularity=9,
        ),
        "haiku": ModelFactory(
            provider=anthropic,
            upstream_name="claude-haiku",
            display_name="Claude Haiku",
            category="balanced",
            plan_tier="starter",
            input_price=Decimal("0.0000008"),
            output_price=Decimal("0.000004"),
            context_window=200_000,
            supports_tools=False,
            supports_json=False,
            popularity=0,
            default_installed=True,
        ),
    }


@pytest.fixture
def pro_plan():
    return Plan.objects.get(slug="pro")  # seeded: every model


@pytest.fixture
def workspace():
    # The seeded Starter plan allows the models installed by default; Pro, the next plan, every model.
    return WorkspaceFactory(name="Acme", slug="acme", plan=Plan.objects.get(slug="starter"))


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user


@pytest.fixture
def stranger_workspace(pro_plan):
    other = WorkspaceFactory(name="Globex", slug="globex", plan=pro_plan)
    MembershipFactory(workspace=other, user=UserFactory(username="eve"))
    return other


@pytest.fixture
def client(client, member):
    client.force_login(member)
    return client


def card_ids(response) -> list[str]:
    return re.findall(r'<article class="model-card"[^>]*data-model="([^"]+)"', response.content.decode())


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


# --- browse -------------------------------------------------------------------------------------------------------


def test_browse_needs_a_signed_in_member(catalog):
    from django.test import Client

    response = Client().get(BROWSE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_browse_shows_cards_with_prices_context_badges_and_installed_state(client, workspace, catalog):
    InstalledModelFactory(workspace=workspace, model=catalog["coder"])
    response = client.get(BROWSE)
    assert response.status_code == 200
    # Most used first; a model not on the Starter plan is flagged, not hidden.
    assert card_ids(response) == [
        m.model_id for m in (catalog["sonnet"], catalog["mini"], catalog["coder"], catalog["haiku"])
    ]
    html = response.content.decode()
    card = html[html.index('data-model="openai/gpt-4o-mini"') :]
    card = card[: card.index("</article>")]
    assert "GPT-4o mini" in card and "OpenAI" in card
    assert '<dd data-figure="input-price">$0.15 <span class="muted">/ 1M</span></dd>' in card
    assert '<dd data-figure="output-price">$0.60 <span class="muted">/ 1M</span></dd>' in card
    assert '<dd data-figure="context">128K</dd>' in card
    for badge in ("Fast &amp; Cheap", "Starter tier", "Tools", "Vision", "JSON", "Streaming"):
        assert f">{badge}</li>" in card
    assert ">Not installed</span>" in card
    coder = html[html.index('data-model="openai/codex-pro"') :]
    assert '<strong class="state state-installed" data-figure="installed">Installed</strong>' in coder[:2000]
    sonnet = html[html.index('data-model="anthropic/claude-sonnet"') :]
    assert "Not on your plan" in sonnet[:2500]


def test_the_unfiltered_first_page_has_a_section_per_category_linking_to_its_list(client, catalog):
    html = client.get(BROWSE).content.decode()
    for label in ("Fast &amp; Cheap", "Balanced", "Premium", "Coding"):
        assert f">{label}</h3>" in html
    assert 'href="/models/?category=coding">All Coding models</a>' in html
    # Creative has no model, so no empty shelf.
    assert ">Creative</h3>" not in html
    # Filtered, the shelves make way for the results.
    assert ">Coding</h3>" not in client.get(BROWSE, {"category": "coding"}).content.decode()


def test_filter_coding_by_its_checkbox_or_the_shared_link(client, catalog):
    response = client.get(BROWSE, {"category": "coding"})
    assert card_ids(response) == ["openai/codex-pro"]
    assert 'name="category" value="coding" checked' in response.content.decode()
    # Several boxes send the parameter once each; the API's comma-separated spelling means the same.
    both = card_ids(client.get(BROWSE, {"category": ["coding", "premium"]}))
    assert both == card_ids(client.get(BROWSE, {"category": "coding,premium"}))
    assert both == ["anthropic/claude-sonnet", "openai/codex-pro"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"provider": "anthropic"}, ["anthropic/claude-sonnet", "anthropic/claude-haiku"]),
        ({"capabilities": ["tools", "vision"]}, ["openai/gpt-4o-mini"]),
        ({"capabilities": "reasoning"}, ["anthropic/claude-sonnet"]),
        ({"input_price_min": "0.5", "input_price_max": "2"}, ["openai/codex-pro", "anthropic/claude-haiku"]),
        ({"output_price_max": "1"}, ["openai/gpt-4o-mini"]),
        ({"context_min": "200000"}, ["anthropic/claude-sonnet", "openai/codex-pro", "anthropic/claude-haiku"]),
        ({"available": "true"}, ["openai/gpt-4o-mini", "openai/codex-pro", "anthropic/claude-haiku"]),
        ({"search": "CLAUDE"}, ["anthropic/claude-sonnet", "anthropic/claude-haiku"]),
        ({"search": "gpt-mini-alias"}, ["openai/gpt-4o-mini"]),
        (
            {"sort": "price"},
            ["openai/gpt-4o-mini", "anthropic/claude-haiku", "openai/codex-pro", "anthropic/claude-sonnet"],
        ),
        (
            {"sort": "-context"},
            ["anthropic/claude-sonnet", "anthropic/claude-haiku", "openai/codex-pro", "openai/gpt-4o-mini"],
        ),
        (
            {"sort": "-popularity"},
            ["anthropic/claude-sonnet", "openai/gpt-4o-mini", "openai/codex-pro", "anthropic/claude-haiku"],
        ),
    ],
)
def test_filters_search_and_sorts(client, catalog, query, expected):
    ModelAliasFactory(alias="gpt-mini-alias", model=catalog["mini"])
    response = client.get(BROWSE, query)
    assert response.status_code == 200
    assert card_ids(response) == expected


def test_providers_switchyard_cannot_call_fold_away_until_one_is_chosen(client, catalog):
    dormant = ProviderFactory(slug="dormant", name="Dormant Cloud", enabled=False)
    ModelFactory(provider=dormant, upstream_name="sleeper")
    ProviderFactory(slug="empty", name="Empty Cloud", enabled=False)  # no models: not offered at all
    html = client.get(BROWSE).content.decode()
    folded = html[html.index("<summary>More providers (1)</summary>") :]
    assert 'id="filter-provider-openai"' in html[: html.index("<details")]
    assert 'id="filter-provider-dormant"' in folded and "<details>" in html
    assert "Empty Cloud" not in html

    chosen = client.get(BROWSE, {"provider": "dormant"})
    assert card_ids(chosen) == ["dormant/sleeper"]
    assert "<details open>" in chosen.content.decode()


def test_newest_sorts_by_release_date(client, catalog):
    for days, model in enumerate((catalog["haiku"], catalog["mini"], catalog["sonnet"], catalog["coder"])):
        Model.objects.filter(pk=model.pk).update(source_created_at=timezone.now() - datetime.timedelta(days=days))
    assert card_ids(client.get(BROWSE, {"sort": "newest"})) == [
        "anthropic/claude-haiku",
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet",
        "openai/codex-pro",
    ]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"category": "cheapest"}, 400, "Category: Select a valid choice."),
        ({"provider": "nope"}, 400, "Provider: No provider &#x27;nope&#x27;."),
        ({"input_price_max": "lots"}, 400, "Input price up to: Enter a number."),
        ({"context_min": "-5"}, 400, "Context window: Ensure this value is greater than or equal to 0."),
        ({"available": "maybe"}, 400, "Available on my plan: Use true or false."),
        ({"sort": "best"}, 400, "Sort: Select a valid choice."),
        ({"colour": "red"}, 400, "“colour” is not a filter of this page."),
        ({"page": "two"}, 400, "Page: “two” is not a page number."),
        ({"page": "9"}, 404, "There is no page 9: the last page is 1."),
    ],
)
def test_a_bad_filter_is_a_clear_message_not_a_crash(client, catalog, query, status, message):
    response = client.get(BROWSE, query)
    assert response.status_code == status
    assert message in response.content.decode()
    assert card_ids(response) == []


def test_pages_of_twelve_keep_the_filters(client, catalog):
    provider = ProviderFactory(slug="bulk", name="Bulk")
    for n in range(14):
        ModelFactory(provider=provider, upstream_name=f"m-{n:02d}", category="coding")
    first = client.get(BROWSE, {"category": "coding", "sort": "price"})
    assert len(card_ids(first)) == 12
    assert "Page 1 of 2" in text(first)
    next_link = re.search(r'href="(\?[^"]+)" rel="next"', first.content.decode()).group(1).replace("&amp;", "&")
    assert "category=coding" in next_link and "sort=price" in next_link and "page=2" in next_link
    second = client.get(BROWSE + next_link)
    assert len(card_ids(second)) == 3
    assert not set(card_ids(first)) & set(card_ids(second))
    assert 'rel="prev"' in second.content.decode()


def test_installed_state_is_the_current_workspaces_and_another_is_a_404(client, catalog, stranger_workspace):
    InstalledModelFactory(workspace=stranger_workspace, model=catalog["mini"])
    html = client.get(BROWSE).content.decode()
    assert "state-installed" not in html
    assert client.get(BROWSE, {"workspace": "globex"}).status_code == 404
    assert client.get(detail_url("openai/gpt-4o-mini"), {"workspace": "globex"}).status_code == 404
    assert (
        client.get(
            "/compare/", {"workspace": "globex", "models": ["openai/gpt-4o-mini", "openai/codex-pro"]}
        ).status_code
        == 404
    )


# --- most used --------------------------------------------------------------------------------------------------


def test_most_used_is_every_workspaces_requests_over_the_last_30_days(catalog, workspace, stranger_workspace):
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    UsageRollupFactory(workspace=workspace, model_name="anthropic/claude-haiku", requests=30, hour=hour)
    UsageRollupFactory(
        workspace=stranger_workspace,
        model_name="anthropic/claude-haiku",
        requests=12,
        hour=hour - datetime.timedelta(days=3),
    )
    UsageRollupFactory(workspace=workspace, model_name="openai/codex-pro", requests=20, hour=hour)
    # Older than 30 days: no longer counts.
    UsageRollupFactory(
        workspace=workspace, model_name="openai/codex-pro", requests=500, hour=hour - datetime.timedelta(days=31)
    )

    catalog_popularity_refresh(now=now)

    popularity = dict(Model.objects.values_list("model_id", "popularity"))
    assert popularity == {
        "anthropic/claude-haiku": 42,
        "openai/codex-pro": 20,
        "anthropic/claude-sonnet": 0,
        "openai/gpt-4o-mini": 0,
    }
    assert catalog_popularity_refresh(now=now) == 0  # idempotent


def test_the_rollup_task_refreshes_most_used(client, catalog, workspace):
    UsageRecordFactory(workspace=workspace, model=catalog["haiku"], created_at=timezone.now())
    usage_rollup_task()
    assert card_ids(client.get(BROWSE, {"sort": "-popularity"}))[0] == "anthropic/claude-haiku"


# --- detail -------------------------------------------------------------------------------------------------------


def test_detail_shows_overview_specs_features_and_bars_from_the_quality_table(client, catalog):
    coder = catalog["coder"]
    for task, score in (("code", "0.9"), ("reasoning", "0.7"), ("math", "0.5"), ("creative", "0.4")):
        TaskScoreFactory(model=coder, task=task, score=Decimal(score))
    ModelHealthFactory(model=coder, latency_p50_ms=2500, error_rate=Decimal("0.02"))
    Model.objects.filter(pk=coder.pk).update(quality_score=Decimal("0.55"))

    response = client.get(detail_url("openai/codex-pro"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Codex Pro</h1>" in html
    assert '<dd data-figure="input-price">$1.50 per 1M tokens</dd>' in html
    assert '<dd data-figure="context">200,000 tokens</dd>' in html
    bars = dict(re.findall(r'data-figure="bar-(\w+)">(\d+)%', html))
    # coding = code; reasoning = mean(reasoning, math); analysis: no per-task score, so the overall 0.55;
    # creativity = creative; speed from 2,500 ms median latency = 1 / (1 + log10(10)).
    assert bars == {"reasoning": "60", "coding": "90", "analysis": "55", "creativity": "40", "speed": "50"}
    assert "overall quality (no per-task figure yet)" in html and "median latency 2,500 ms" in html
    assert "✓ Tool calling" in html and "✓ Streaming" in html and "✗ No vision" in html and "✓ JSON output" in html
    recommended = re.search(r'data-figure="recommended">(.*?)</ul>', html).group(1)
    assert re.findall(r"<li>(.*?)</li>", recommended) == ["Writing and reviewing code", "Multi-step reasoning"]
    assert "In service" in html and '<dd data-figure="health-error-rate">2%</dd>' in html


def test_the_release_date_is_the_sources_else_when_the_catalog_learnt_of_the_model(client, catalog):
    coder = catalog["coder"]
    learnt = datetime.datetime(2026, 5, 4, tzinfo=datetime.UTC)
    Model.objects.filter(pk=coder.pk).update(source_created_at=None, created_at=learnt)
    assert '<th scope="row">In the catalog since</th><td>2026-05-04</td>' in text_of(client, coder)
    Model.objects.filter(pk=coder.pk).update(source_created_at=datetime.datetime(2025, 1, 2, tzinfo=datetime.UTC))
    html = text_of(client, coder)
    assert '<th scope="row">Released</th><td>2025-01-02</td>' in html and "In the catalog since" not in html


def text_of(client, model) -> str:
    return client.get(detail_url(model.model_id)).content.decode()


def test_speed_is_unmeasured_without_traffic(client, catalog):
    html = client.get(detail_url("openai/codex-pro")).content.decode()
    assert 'data-bar="speed"' in html and "no traffic measured yet" in html
    assert speed_score(None) is None and speed_score(100) == 1.0


def test_detail_by_alias_redirects_to_the_canonical_id_and_unknown_is_404(client, catalog):
    ModelAliasFactory(alias="codex", model=catalog["coder"])
    response = client.get(detail_url("codex"))
    assert response.status_code == 302 and response["Location"] == "/models/openai/codex-pro/"
    assert client.get(detail_url("openai/nothing")).status_code == 404


def test_similar_models_are_of_the_same_category(client, catalog):
    twin = ModelFactory(
        provider=catalog["coder"].provider, upstream_name="codex-lite", display_name="Codex Lite", category="coding"
    )
    html = client.get(detail_url("openai/codex-pro")).content.decode()
    similar = html[html.index("Similar models") :]
    assert f'href="/models/{twin.model_id}/">Codex Lite</a>' in similar
    assert "GPT-4o mini" not in similar


@pytest.mark.parametrize(
    ("tokens_in", "tokens_out"),
    [(10_000_000, 2_000_000), (1, 1), (123_456_789, 0), (0, 0), (3_333, 7_777)],
)
def test_the_calculator_prices_a_month_as_the_estimate_does(client, catalog, tokens_in, tokens_out):
    response = client.get(detail_url("openai/codex-pro"), {"input_tokens": tokens_in, "output_tokens": tokens_out})
    expected = volume_cost(model=catalog["coder"], volume=Volume(tokens_in, tokens_out)).per_request_usd
    assert f'aria-live="polite">{usd_text(expected)}</output>' in response.content.decode()


def test_the_calculator_defaults_and_refuses_bad_numbers(client, catalog):
    default = client.get(detail_url("openai/codex-pro")).content.decode()
    # 10M input at $1.50 and 2M output at $6.00 per 1M.
    assert 'aria-live="polite">$27.00</output>' in default
    response = client.get(detail_url("openai/codex-pro"), {"input_tokens": "-3", "output_tokens": "x"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Ensure this value is greater than or equal to 0." in html and "Enter a whole number." in html


def test_usd_text():
    assert [usd_text(Decimal(v)) for v in ("27", "1234.565", "0.00033", "0.1", "0", "0.0000001")] == [
        "$27.00",
        "$1,234.57",
        "$0.00033",
        "$0.10",
        "$0.00",
        "under $0.000001",
    ]


def test_usage_is_this_workspaces_only(client, catalog, workspace, stranger_workspace):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    UsageRollupFactory(
        workspace=workspace,
        model_name="openai/codex-pro",
        requests=3,
        prompt_tokens=1_000,
        completion_tokens=500,
        cost_usd=Decimal("0.0045"),
        hour=hour,
    )
    UsageRollupFactory(
        workspace=workspace,
        model_name="openai/codex-pro",
        requests=1,
        prompt_tokens=200,
        completion_tokens=100,
        cost_usd=Decimal("0.0009"),
        hour=hour - datetime.timedelta(days=60),
    )
    UsageRollupFactory(
        workspace=stranger_workspace,
        model_name="openai/codex-pro",
        requests=99,
        prompt_tokens=99_999,
        completion_tokens=1,
        cost_usd=Decimal("77"),
        hour=hour,
    )
    html = client.get(detail_url("openai/codex-pro")).content.decode()
    assert '<dd data-figure="usage-requests">4</dd>' in html
    assert '<dd data-figure="usage-tokens">1,800</dd>' in html
    assert '<dd data-figure="usage-cost">$0.0054</dd>' in html


def test_a_call_shows_in_the_models_usage_at_once_and_counts_once(client, catalog, workspace, stranger_workspace):
    def figures() -> tuple[str, str]:
        html = client.get(detail_url("openai/codex-pro")).content.decode()
        requests = re.search(r'data-figure="usage-requests">([^<]*)<', html).group(1)
        return requests, re.search(r'data-figure="usage-cost">([^<]*)<', html).group(1)

    usage_rollup_task()
    for owner in (workspace, stranger_workspace):
        UsageRecordFactory(workspace=owner, model=catalog["coder"], cost_usd=Decimal("0.25"))
    assert figures() == ("1", "$0.25")
    usage_rollup_task()
    assert figures() == ("1", "$0.25")
    UsageRecordFactory(workspace=workspace, model=catalog["coder"], cost_usd=Decimal("0.5"))
    assert figures() == ("2", "$0.75")


# --- install / uninstall --------------------------------------------------------------------------------------------


def test_install_then_uninstall_through_the_page_audits_who_and_from_where(client, member, workspace, catalog):
    url = detail_url("openai/codex-pro")
    assert '<button type="submit">Install</button>' in client.get(url).content.decode()
    response = client.post(url, {"action": "install"}, HTTP_USER_AGENT="pytest-browser")
    assert response.status_code == 302 and response["Location"] == url
    assert InstalledModel.objects.filter(workspace=workspace, model=catalog["coder"]).exists()
    page = client.get(url).content.decode()
    assert "Installed Codex Pro in Acme." in page and ">Uninstall</button>" in page
    event = AuditEvent.objects.get(action="model.installed")
    assert (event.workspace, event.actor, event.ip_address, event.user_agent) == (
        workspace,
        member,
        "127.0.0.1",
        "pytest-browser",
    )

    client.post(url, {"action": "uninstall"})
    assert not InstalledModel.objects.filter(workspace=workspace).exists()
    assert AuditEvent.objects.get(action="model.uninstalled").actor == member


def test_a_model_the_plan_does_not_include_shows_what_unlocks_it_and_a_forced_post_changes_nothing(
    client, workspace, catalog
):
    url = detail_url("anthropic/claude-sonnet")
    html = client.get(url).content.decode()
    assert ">Install</button>" not in html
    assert "The <strong>Pro</strong> plan unlocks it." in html
    response = client.post(url, {"action": "install"})
    assert response.status_code == 403
    assert (
        "The Starter plan does not include anthropic/claude-sonnet; the Pro plan includes it."
        in response.content.decode()
    )
    assert not InstalledModel.objects.exists() and not AuditEvent.objects.exists()


def test_uninstalling_a_model_an_agent_uses_is_refused(client, workspace, catalog):
    InstalledModelFactory(workspace=workspace, model=catalog["coder"])
    AgentFactory(workspace=workspace, slug="helper", primary_model=catalog["coder"])
    response = client.post(detail_url("openai/codex-pro"), {"action": "uninstall"})
    assert response.status_code == 409
    assert "openai/codex-pro is still used by agent &#x27;helper&#x27;" in response.content.decode()
    assert InstalledModel.objects.filter(workspace=workspace).count() == 1


def test_an_unknown_action_is_refused(client, catalog):
    response = client.post(detail_url("openai/codex-pro"), {"action": "delete"})
    assert response.status_code == 400 and "Choose Install or Uninstall." in response.content.decode()
    assert not InstalledModel.objects.exists()


def test_a_stranger_workspace_can_never_be_changed_or_read(client, workspace, stranger_workspace, catalog):
    InstalledModelFactory(workspace=stranger_workspace, model=catalog["coder"])
    url = detail_url("openai/codex-pro")
    assert client.post(f"{url}?workspace=globex", {"action": "uninstall"}).status_code == 404
    assert client.post(f"{url}?workspace=globex", {"action": "install"}).status_code == 404
    # In the member's own workspace, uninstalling touches only its own installations.
    client.post(url, {"action": "uninstall"})
    assert InstalledModel.objects.filter(workspace=stranger_workspace).count() == 1
    assert not AuditEvent.objects.exists()
    html = client.get(url).content.decode()
    assert '<p data-figure="install-state">Not installed</p>' in html


# --- compare ------------------------------------------------------------------------------------------------------


def test_compare_three_models(client, workspace, catalog):
    names = ["openai/gpt-4o-mini", "openai/codex-pro", "anthropic/claude-haiku"]
    TaskScoreFactory(model=catalog["coder"], task="code", score=Decimal("0.9"))
    response = client.get("/compare/", {"models": names})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r'<th scope="col"><a href="/models/([^"]+)/">', html) == names
    chart = re.search(r'<svg role="img" aria-label="([^"]+)"', html).group(1)
    assert chart.startswith("Capability scores. Reasoning: GPT-4o mini 50%, Codex Pro 50%, Claude Haiku 50%;")
    assert "Coding: GPT-4o mini 50%, Codex Pro 90%, Claude Haiku 50%" in chart
    assert html.count("<rect ") == 15  # five capabilities x three models
    comparison = model_compare(workspace=workspace, names=names)
    for row in comparison.workloads:
        cells = re.search(rf'data-workload="{row.workload.key}">(.*?)</tr>', html, re.S).group(1)
        for cost in row.costs:
            assert usd_text(cost.cost.total_usd) in cells
        assert "(cheapest)" in cells
    assert len(comparison.workloads) == len(SAMPLE_WORKLOADS)


@pytest.mark.parametrize(
    ("models", "status", "message"),
    [
        ([], 400, "Compare 2 to 4 models; 0 given."),
        (["openai/gpt-4o-mini"], 400, "Compare 2 to 4 models; 1 given."),
        (["a/1", "a/2", "a/3", "a/4", "a/5"], 400, "Compare 2 to 4 models; 5 given."),
        (["openai/gpt-4o-mini", "openai/nothing"], 404, "Unknown model: openai/nothing."),
        (["openai/gpt-4o-mini", "openai/gpt-4o-mini"], 400, "which is already listed"),
    ],
)
def test_compare_refuses_the_wrong_number_or_unknown_models(client, catalog, models, status, message):
    response = client.get("/compare/", {"models": models})
    assert response.status_code == status
    assert message in response.content.decode()
    assert "<svg" not in response.content.decode()


def test_no_match_says_so(client, catalog):
    response = client.get(BROWSE, {"search": "claude", "category": "coding"})
    assert response.status_code == 200
    assert "No model matches these filters." in response.content.decode()
    assert "(0)" in text(response)


def test_a_model_of_unknown_price_is_never_costed(client, catalog):
    ModelFactory(
        provider=catalog["coder"].provider,
        upstream_name="mystery",
        display_name="Mystery",
        price_unknown=True,
        input_price=None,
        output_price=None,
    )
    html = client.get(detail_url("openai/mystery")).content.decode()
    assert 'aria-live="polite">unknown (no price)</output>' in html
    assert 'data-price-known="false"' in html
    assert '<dd data-figure="input-price">unknown</dd>' in html


# Measured: the session, user and workspace, then the page's own reads; a query per card would break these.
# The model page: one more for the hours of its usage not rolled up yet.
QUERY_BUDGET = {BROWSE: 12, "/models/?category=coding": 7, "/models/openai/codex-pro/": 14}


@pytest.mark.parametrize("path", [BROWSE, "/models/?category=coding", "/models/openai/codex-pro/"])
def test_the_number_of_queries_does_not_grow_with_the_catalog(client, catalog, path, django_assert_max_num_queries):
    client.get(path)  # the session and the workspace, as on every page
    with django_assert_max_num_queries(QUERY_BUDGET[path]):
        client.get(path)
    provider = ProviderFactory(slug="more")
    for n in range(30):
        model = ModelFactory(provider=provider, upstream_name=f"more-{n}", category="coding")
        TaskScoreFactory(model=model, task="code")
    with django_assert_max_num_queries(QUERY_BUDGET[path]):
        client.get(path)
