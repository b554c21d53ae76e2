"""The catalog pages in real headless Chromium (Debian's, through Playwright) against the live test server: browse,
filter, search and page by keyboard; a model's cost calculator updating as you type; three models compared with
their chart; install and uninstall. Each page passes the accessibility checks, fits 375 px and logs no console error.
Screenshots go to test-artifacts/screenshots/."""

import re
from decimal import Decimal

import pytest

from apps.catalog.insights import Volume, volume_cost
from apps.catalog.page_figures import usd_text
from apps.workspaces.models import InstalledModel, ModelAccess, Plan
from tests.browser import assert_accessible, assert_fits, screenshot, sign_in, tab_to
from tests.catalog.factories import ModelFactory, ProviderFactory, TaskScoreFactory
from tests.core.factories import UserFactory
from tests.workspaces.factories import MembershipFactory, WorkspaceFactory


@pytest.fixture
def catalog(transactional_db):
    openai = ProviderFactory(slug="openai", name="OpenAI")
    anthropic = ProviderFactory(slug="anthropic", name="Anthropic")
    models = {
        "mini": ModelFactory(
            provider=openai,
            upstream_name="gpt-4o-mini",
            display_name="GPT-4o mini",
            category="fast-cheap",
            input_price=Decimal("0.00000015"),
            output_price=Decimal("0.0000006"),
            popularity=50,
            default_installed=True,
            supports_vision=True,
        ),
        "coder": ModelFactory(
            provider=openai,
            upstream_name="codex-pro",
            display_name="Codex Pro",
            category="coding",
            input_price=Decimal("0.0000015"),
            output_price=Decimal("0.000006"),
            context_window=200_000,
            popularity=40,
            default_installed=True,
        ),
        "sonnet": ModelFactory(
            provider=anthropic,
            upstream_name="claude-sonnet",
            display_name="Claude Sonnet",
            category="premium",
            input_price=Decimal("0.000003"),
            output_price=Decimal("0.000015"),
            context_window=1_000_000,
            popularity=30,
            supports_reasoning=True,
        ),
    }
    for task, score in (("code", "0.92"), ("reasoning", "0.7"), ("creative", "0.45")):
        TaskScoreFactory(model=models["coder"], task=task, score=Decimal(score))
    bulk = ProviderFactory(slug="bulk", name="Bulk Models")
    for n in range(12):  # enough for a second page of coding models
        ModelFactory(provider=bulk, upstream_name=f"bulk-coder-{n:02d}", category="coding", popularity=1)
    return models


@pytest.fixture
def member(catalog):
    # The seeded plans (a transactional test's flush removes them): Starter allows the models installed by default,
    # Pro every model.
    starter, _ = Plan.objects.get_or_create(
        slug="starter", defaults={"name": "Starter", "sort_order": 10, "model_access": ModelAccess.DEFAULT}
    )
    Plan.objects.get_or_create(slug="pro", defaults={"name": "Pro", "sort_order": 20, "model_access": ModelAccess.ALL})
    workspace = WorkspaceFactory(name="Acme", slug="acme", plan=starter)
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user


def _figure(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"]').first.inner_text().strip()


def test_browse_filter_search_and_page_by_keyboard(live_server, page, member):
    sign_in(page, live_server, member)
    page.goto(f"{live_server.url}/models/")
    assert page.get_by_role("heading", level=1).inner_text() == "Models"
    assert page.get_by_role("heading", name="Coding", exact=True).is_visible()
    screenshot(page, "catalog-browse")
    assert_accessible(page)

    # Filter "coding" with the keyboard: tick the Coding box, then Apply filters.
    page.locator("#filter-search").focus()
    tab_to(page, "coding")  # the Coding checkbox (its value; its label is "Coding")
    page.keyboard.press("Space")
    assert page.get_by_role("checkbox", name="Coding", exact=True).is_checked()
    tab_to(page, "Apply filters")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/models/\?.*category=coding.*"))
    assert "input_price_min" not in page.url  # empty fields stay out of the shared link
    assert _figure(page, "result-count") == "(13)"
    assert page.locator("article.model-card").count() == 12
    assert page.locator("article.model-card").first.get_attribute("data-model") == "openai/codex-pro"

    tab_to(page, "Next page →")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*page=2.*"))
    assert "category=coding" in page.url
    assert _figure(page, "page-number") == "Page 2 of 2"
    assert page.locator("article.model-card").count() == 1

    # Search, submitted with Enter from the search field.
    page.get_by_label("Search models").fill("claude")
    page.get_by_label("Search models").press("Enter")
    page.wait_for_url(re.compile(r".*search=claude.*"))
    # Still filtered to coding, so nothing matches; clearing the category shows Claude.
    assert page.locator('[data-figure="no-results"]').is_visible()
    page.get_by_role("checkbox", name="Coding", exact=True).uncheck()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"^(?!.*category).*search=claude.*"))
    assert [c.get_attribute("data-model") for c in page.locator("article.model-card").all()] == [
        "anthropic/claude-sonnet"
    ]
    assert "Not on your plan" in page.locator("article.model-card").inner_text()
    screenshot(page, "catalog-browse-filtered")

    assert_fits(page)
    screenshot(page, "catalog-browse-narrow")
    assert page.problems == []


def test_the_cost_calculator_updates_as_you_type(live_server, page, member, catalog):
    sign_in(page, live_server, member)
    page.goto(f"{live_server.url}/models/openai/codex-pro/")
    assert page.get_by_role("heading", level=1).inner_text() == "Codex Pro"
    assert _figure(page, "bar-coding") == "92%"
    assert _figure(page, "monthly-cost") == "$27.00"  # 10M in at $1.50, 2M out at $6.00 per 1M
    assert_accessible(page)

    url = page.url
    tokens_in = page.get_by_label("Input tokens per month")
    tokens_in.fill("")
    tokens_in.press_sequentially("1234567")
    page.get_by_label("Output tokens per month").fill("89")
    expected = volume_cost(model=catalog["coder"], volume=Volume(1_234_567, 89)).per_request_usd
    page.wait_for_function(
        "text => document.querySelector('[data-figure=\"monthly-cost\"]').textContent === text", arg=usd_text(expected)
    )
    assert page.url == url  # no round trip
    screenshot(page, "catalog-detail-calculator")

    # Submitted (as without JavaScript), the server says the same.
    tab_to(page, "Calculate")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*input_tokens=1234567.*"))
    assert _figure(page, "monthly-cost") == usd_text(expected)

    assert_fits(page)
    screenshot(page, "catalog-detail-narrow")
    assert page.problems == []


def test_compare_three_models_from_the_browse_page(live_server, page, member):
    sign_in(page, live_server, member)
    page.goto(f"{live_server.url}/models/?provider=openai,anthropic")
    for name in ("GPT-4o mini", "Codex Pro", "Claude Sonnet"):
        page.get_by_role("checkbox", name=f"Compare {name}", exact=True).check()
    page.get_by_label("Search models").focus()
    tab_to(page, "Compare selected")
    page.keyboard.press("Enter")
    page.wait_for_url("**/compare/**")
    assert page.url.count("models=") == 3
    assert page.get_by_role("heading", level=1).inner_text() == "Compare models"
    chart = page.get_by_role("img", name=re.compile(r"^Capability scores\."))
    assert chart.is_visible()
    assert "Codex Pro 92%" in chart.get_attribute("aria-label")
    assert page.locator("svg rect").count() == 15
    assert page.get_by_role("table", name=re.compile("Capability scores")).is_visible()
    assert page.locator('tr[data-row="workload"]').count() == 4
    screenshot(page, "catalog-compare")
    assert_accessible(page)
    assert_fits(page)
    screenshot(page, "catalog-compare-narrow")
    assert page.problems == []


def test_install_and_uninstall_by_keyboard_and_plan_gating(live_server, page, member, catalog):
    sign_in(page, live_server, member)
    page.goto(f"{live_server.url}/models/openai/codex-pro/")
    assert _figure(page, "install-state") == "Not installed"
    tab_to(page, "Install")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Installed Codex Pro in Acme.")
    assert _figure(page, "install-state") == "Installed"
    assert InstalledModel.objects.filter(model=catalog["coder"]).count() == 1
    screenshot(page, "catalog-detail-installed")
    assert_accessible(page)

    page.get_by_role("button", name="Uninstall").click()
    page.wait_for_selector("text=Uninstalled Codex Pro from Acme.")
    assert not InstalledModel.objects.exists()

    # Not on the Starter plan: no button, the plan that unlocks it instead.
    page.goto(f"{live_server.url}/models/anthropic/claude-sonnet/")
    assert page.get_by_role("button", name="Install").count() == 0
    assert _figure(page, "unlocked-by") == "The Pro plan unlocks it."
    assert_fits(page)
    screenshot(page, "catalog-detail-locked")
    assert page.problems == []
