"""The Agents pages in a real browser (Debian's Chromium through Playwright, against the live test server).

A member creates an agent with a primary model, a fallback, the explicit policy and a monthly budget; edits it to the
automatic policy with a power level, saving with the keyboard; and applies a recommendation to the picker in place
(agents.js); a refused form lists its problems. Each page passes the accessibility checks, fits a 375 px screen and
logs no console error (but the 400 of a refused form, which Chromium logs itself). Screenshots go
to test-artifacts/screenshots/agents-*.png.
"""

from decimal import Decimal

import pytest

from apps.billing.models import Budget
from apps.workspaces.models import Agent, ModelAccess, Plan
from tests.browser import assert_accessible, assert_fits, screenshot, sign_in, tab_to
from tests.catalog.factories import ModelFactory, ProviderFactory, TaskScoreFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ProviderKeyFactory
from tests.workspaces.factories import InstalledModelFactory, MembershipFactory, PlanFactory, WorkspaceFactory


@pytest.fixture
def member(transactional_db):
    Plan.objects.all().delete()
    pro = PlanFactory(slug="pro", name="Pro", model_access=ModelAccess.TIERS, allowed_tiers=["starter", "pro"])
    workspace = WorkspaceFactory(slug="acme", name="Acme", plan=pro)
    openai = ProviderFactory(slug="openai", name="OpenAI")
    openrouter = ProviderFactory(slug="openrouter", name="OpenRouter")
    anthropic = ProviderFactory(slug="anthropic", name="Anthropic")
    coder = ModelFactory(
        provider=openrouter, upstream_name="qwen/qwen-coder", display_name="Qwen Coder", plan_tier="pro"
    )
    installed = [
        ModelFactory(
            provider=openai,
            upstream_name="gpt-4o",
            display_name="GPT-4o",
            plan_tier="pro",
            input_price=Decimal("0.0000025"),
            output_price=Decimal("0.00001"),
        ),
        ModelFactory(provider=openai, upstream_name="gpt-4o-mini", display_name="GPT-4o mini", plan_tier="starter"),
        ModelFactory(provider=anthropic, upstream_name="claude-sonnet", display_name="Claude Sonnet", plan_tier="pro"),
        coder,
    ]
    for model in installed:
        InstalledModelFactory(workspace=workspace, model=model)
    ProviderKeyFactory(workspace=workspace, provider=anthropic)
    TaskScoreFactory(model=coder, task="code", score=Decimal("0.95"))
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user


def test_create_an_agent_then_switch_it_to_auto_by_keyboard(live_server, page, member):
    sign_in(page, live_server, member)
    page.goto(f"{live_server.url}/agents/")
    assert page.get_by_role("heading", level=1).inner_text() == "Agents"
    assert_accessible(page)
    page.get_by_role("link", name="New agent").click()
    page.wait_for_url("**/agents/new/")

    assert_accessible(page)
    groups = page.locator("#primary-model optgroup").evaluate_all("groups => groups.map(g => g.label)")
    rest = groups[1:]
    assert groups[0] == "Recommended" and rest == [g for g in ("Direct providers", "OpenRouter", "BYOK") if g in rest]
    page.get_by_label("Name").fill("Coding helper")
    page.get_by_label("Kind", exact=True).select_option("code")
    page.get_by_label("Primary model", exact=True).select_option("openrouter/qwen/qwen-coder")
    page.get_by_label("Fallback 1").select_option("openai/gpt-4o")
    page.get_by_label("Explicit model with fallbacks").check()
    page.get_by_label("Monthly budget (USD)").fill("25")
    screenshot(page, "agents-new")
    page.get_by_role("button", name="Create agent").click()

    page.wait_for_url(f"{live_server.url}/agents/")
    assert "Created agent “Coding helper” (slug coding-helper)." in page.locator(".messages").inner_text()
    row = page.locator('tr[data-agent="coding-helper"]')
    assert row.locator('[data-figure="primary"]').inner_text() == "openrouter/qwen/qwen-coder"
    assert row.locator('[data-figure="fallbacks"]').inner_text().strip() == "openai/gpt-4o"
    assert row.locator('[data-figure="policy"]').inner_text() == "Explicit"
    assert row.locator('[data-figure="budget"]').inner_text().strip() == "$25.00 monthly · $0.00 spent"
    screenshot(page, "agents-list")
    assert_fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    row.get_by_role("link", name="Coding helper").click()
    page.wait_for_url("**/agents/*/")
    assert page.get_by_role("heading", level=1).inner_text() == "Edit agent Coding helper"
    assert page.get_by_label("Primary model", exact=True).input_value() == "openrouter/qwen/qwen-coder"
    page.get_by_label("Automatic (power level and weights)").check()
    page.get_by_label("Power level", exact=True).select_option("PRECISION")
    page.get_by_label("Quality weight").fill("0.6")
    # The main action by keyboard: from the quality weight, Tab reaches "Save agent" and Enter submits.
    page.get_by_label("Quality weight").focus()
    tab_to(page, "Save agent")
    page.keyboard.press("Enter")

    page.wait_for_url(f"{live_server.url}/agents/")
    assert row.locator('[data-figure="policy"]').inner_text() == "Auto · Precision"
    agent = Agent.objects.get(slug="coding-helper")
    assert (agent.routing_policy, agent.power_level, agent.routing_weights["quality"]) == ("auto", "PRECISION", 0.6)
    assert [f.model.model_id for f in agent.fallbacks.all()] == ["openai/gpt-4o"]
    assert Budget.objects.get(agent=agent).limit_usd == Decimal("25")
    assert page.problems == []


def test_a_recommendation_fills_the_picker_in_place(live_server, page, member):
    sign_in(page, live_server, member)
    page.goto(f"{live_server.url}/agents/new/?kind=code&complexity=high&budget=medium")
    page.get_by_label("Name").fill("Typed before applying")
    first = page.locator("[data-apply-primary]").first
    model_id = first.get_attribute("data-apply-primary")
    first.click()

    assert page.url.endswith("/agents/new/?kind=code&complexity=high&budget=medium")  # no reload
    assert page.get_by_label("Primary model", exact=True).input_value() == model_id
    assert page.get_by_label("Name").input_value() == "Typed before applying"
    assert page.get_by_label("Explicit model with fallbacks").is_checked()
    assert model_id in page.locator("#apply-status").inner_text()

    page.get_by_role("link", name="Use the top 3: primary and fallbacks").click()
    picks = page.locator("[data-apply-primary]").evaluate_all("links => links.map(a => a.dataset.applyPrimary)")
    assert page.get_by_label("Fallback 1").input_value() == picks[1]
    assert page.get_by_label("Fallback 2").input_value() == picks[2]
    screenshot(page, "agents-recommendation-applied")

    # Refreshing the recommendation is a plain GET form.
    page.get_by_label("Budget preference").select_option("low")
    page.get_by_role("button", name="Refresh recommendation").click()
    page.wait_for_url("**/agents/new/?kind=code&complexity=high&budget=low")
    assert page.get_by_label("Budget preference").input_value() == "low"
    assert_accessible(page)
    assert_fits(page)
    screenshot(page, "agents-new-narrow")
    assert page.problems == []

    # A refused form comes back with status 400, its problems listed first and focused (agents.js), each linking to
    # its field. Chromium logs every 4xx document as a console error: that one line is the only one expected.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_load_state()
    summary = page.locator("#error-summary")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "Name: This field may not be blank." in summary.inner_text()
    summary.get_by_role("link", name="Name").click()
    assert page.evaluate("document.activeElement.id") == "agent-name"
    assert page.get_by_label("Name").get_attribute("aria-invalid") == "true"
    assert_accessible(page)
    screenshot(page, "agents-new-refused")
    assert not Agent.objects.exists()
    assert page.problems == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
