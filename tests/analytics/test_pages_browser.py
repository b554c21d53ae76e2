"""The usage dashboard and the audit page in a real browser (Debian's Chromium through Playwright, against the live
test server): seeded rollups, the range links, the chart and its table, the CSV download by mouse and keyboard, the
audit filter by keyboard; every page accessible, fitting 375 px, with no console error. Screenshots go to
test-artifacts/screenshots/."""

import csv
import datetime
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from tests.analytics.factories import AuditEventFactory, UsageRollupFactory
from tests.browser import assert_accessible, assert_fits, screenshot, sign_in, tab_to
from tests.core.factories import UserFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, WorkspaceFactory


def days_ago(days: int) -> datetime.datetime:
    return (timezone.now() - datetime.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def ada(transactional_db):
    workspace = WorkspaceFactory(slug="acme", name="Acme")
    agent = AgentFactory(workspace=workspace, slug="support", name="Support")
    seeded = [
        (1, "openai/gpt-4o-mini", 12, Decimal("0.42"), agent),
        (3, "anthropic/claude-haiku-4-5", 5, Decimal("1.10"), None),
        (20, "openai/gpt-4o-mini", 30, Decimal("2.00"), agent),
        (60, "gemini/gemini-2.5-flash", 100, Decimal("3.00"), None),
    ]
    for days, model, requests, cost, by in seeded:
        UsageRollupFactory(
            workspace=workspace,
            hour=days_ago(days),
            model_name=model,
            provider_slug=model.split("/")[0],
            agent=by,
            requests=requests,
            prompt_tokens=requests * 900,
            completion_tokens=requests * 100,
            cost_usd=cost,
            latency_ms_sum=requests * 400,
            latency_samples=requests,
        )
    user = MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user
    AuditEventFactory(
        workspace=workspace, action="api_key.created", actor=user, target_repr="ci (sk-sy-…f00d)", ip_address="10.0.0.7"
    )
    AuditEventFactory(workspace=workspace, action="model.installed", actor=user, target_repr="openai/gpt-4o-mini")
    rival = WorkspaceFactory(slug="rival")
    UsageRollupFactory(workspace=rival, hour=days_ago(1), model_name="rival/secret-model")
    return user


def _figure(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"]').inner_text().strip()


def _rows(download) -> list[list[str]]:
    return list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))


def test_the_dashboard_ranges_chart_and_csv(live_server, page, ada):
    sign_in(page, live_server, ada)
    page.goto(f"{live_server.url}/usage/")

    assert page.get_by_role("heading", level=1).inner_text() == "Usage"
    assert page.get_by_role("link", name="Usage", exact=True).get_attribute("aria-current") == "page"
    assert (_figure(page, "requests"), _figure(page, "total-cost")) == ("47", "$3.52")
    assert page.locator('[data-row="top-model"] .model-name').all_inner_texts() == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
    ]
    chart = page.get_by_role("img", name="Tokens per day by model")
    assert chart.is_visible()
    assert chart.locator("rect").count() == 3
    assert page.locator('tr[data-row="agent"] th').all_inner_texts() == ["support", "No agent"]
    assert "rival" not in page.content()
    screenshot(page, "usage-30d")
    assert_accessible(page)

    page.get_by_role("link", name="Last 7 days").click()
    page.wait_for_url("**/usage/?range=7d")
    assert (_figure(page, "requests"), _figure(page, "total-cost")) == ("17", "$1.52")
    assert page.get_by_role("link", name="Last 7 days").get_attribute("aria-current") == "page"
    page.get_by_text("Show the chart as a table").click()
    table = page.get_by_role("table", name="Tokens per day by model")
    assert table.is_visible()
    assert table.locator('tr[data-row="chart-day"]').count() == 7
    screenshot(page, "usage-7d-table")

    page.get_by_role("link", name="Last 90 days").click()
    page.wait_for_url("**/usage/?range=90d")
    assert (_figure(page, "requests"), _figure(page, "total-cost")) == ("147", "$6.52")
    with page.expect_download() as clicked:
        page.get_by_role("link", name="Export CSV").click()
    download = clicked.value
    assert download.suggested_filename.startswith("switchyard-usage-acme-")
    rows = _rows(download)
    assert rows[0][:3] == ["model", "requests", "errors"]
    assert [(row[0], row[1], row[7]) for row in rows[1:]] == [
        ("gemini/gemini-2.5-flash", "100", "3"),
        ("openai/gpt-4o-mini", "42", "2.42"),
        ("anthropic/claude-haiku-4-5", "5", "1.1"),
    ]

    # By keyboard: the skip link first, then the range links and the export.
    page.goto(f"{live_server.url}/usage/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    tab_to(page, "Last 7 days")
    page.keyboard.press("Enter")
    page.wait_for_url("**/usage/?range=7d")
    tab_to(page, "Export CSV")
    with page.expect_download() as pressed:
        page.keyboard.press("Enter")
    assert [row[0] for row in _rows(pressed.value)[1:]] == ["anthropic/claude-haiku-4-5", "openai/gpt-4o-mini"]

    assert_fits(page)
    screenshot(page, "usage-narrow")
    assert page.problems == []


def test_the_audit_page_filters_by_keyboard(live_server, page, ada):
    sign_in(page, live_server, ada)
    page.goto(f"{live_server.url}/audit/")

    assert page.get_by_role("heading", level=1).inner_text() == "Audit trail"
    events = page.locator('tr[data-row="event"]')
    assert [events.nth(n).get_attribute("data-action") for n in range(events.count())] == [
        "model.installed",
        "api_key.created",
    ]
    assert "10.0.0.7" in page.get_by_role("table", name="Audit events, newest first").inner_text()
    assert_accessible(page)
    screenshot(page, "audit")

    page.get_by_label("Action").focus()
    page.keyboard.press("ArrowDown")  # "All actions" → the first action
    assert page.get_by_label("Action").input_value() == "api_key.created"
    tab_to(page, "Filter")
    page.keyboard.press("Enter")
    page.wait_for_url("**/audit/?action=api_key.created*")
    assert [events.nth(n).get_attribute("data-action") for n in range(events.count())] == ["api_key.created"]

    page.get_by_role("link", name="Clear filters").click()
    page.wait_for_url("**/audit/")
    assert events.count() == 2
    assert_fits(page)
    screenshot(page, "audit-narrow")
    assert page.problems == []
