"""The verification path, end to end, the way `make run` serves it: the real catalog (`sync_catalog` from the bundled
price map), the demo seed (`bootstrap_demo`, pointed at the mock provider), the project's ASGI application under
uvicorn, and a person in Debian's Chromium.

Sign in → browse → filter "coding" → a model's page and its cost calculator → compare three → install the coding
model → add a BYOK key and test it → make an agent that uses the model with a fallback, and an API key for it →
call the API as that agent with the official `openai` SDK → the dashboard shows the request and its cost → export
the CSV. Every page visited passes the accessibility checks and logs no console error; screenshots are saved as
`path-*.png` under test-artifacts/screenshots/.
"""

import csv
import importlib
import io
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from openai import OpenAI

from apps.analytics.models import UsageRecord
from apps.catalog.models import Model
from apps.routing.gateway.recording import usage_spool
from apps.workspaces.models import Agent, Workspace
from tests.browser import assert_accessible, screenshot

CODING_MODEL = "mistral/codestral-latest"  # in the bundled catalog, category coding, served by Mistral
COMPARED = ("Codestral Latest", "Devstral Latest", "Codestral 2508")
FALLBACK = "openai/gpt-4o-mini"  # installed in every new workspace
BYOK_SECRET = "sk-byok-mistral-verification-path-9f3e"


@pytest.fixture
def demo(transactional_db, mock_provider):
    """What `make run` sets up: the seeded plans (the flush of an earlier browser test removed them), the catalog
    and the demo admin and workspace, with the known providers answered by the mock provider."""
    importlib.import_module("apps.workspaces.migrations.0002_seed_plans").seed_plans(django_apps, None)
    call_command("sync_catalog", verbosity=0)
    call_command("bootstrap_demo", mock_url=mock_provider.url, stdout=io.StringIO())
    return Workspace.objects.get(slug="demo")


def _visit_checks(page, name: str) -> None:
    assert_accessible(page)
    assert page.problems == [], f"console errors on {name}"
    screenshot(page, f"path-{name}")


def _figure(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"]').first.inner_text().strip()


def test_the_verification_path(demo, gateway_url, page, mock_provider):
    site = gateway_url
    coding_model = Model.objects.get(model_id=CODING_MODEL)

    # Sign in with the demo admin through the login form; the home page is the model browser.
    page.goto(f"{site}/")
    page.wait_for_url("**/accounts/login/?next=/models/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("switchyard")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/models/")
    assert page.get_by_role("heading", level=1).inner_text() == "Models"
    _visit_checks(page, "browse")

    # Filter "coding" (and Mistral's, to keep to one page): the URL carries the filters.
    page.get_by_role("checkbox", name="Coding", exact=True).check()
    page.get_by_role("checkbox", name="Mistral AI", exact=True).check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*/models/\?.*category=coding"))
    assert "provider=mistral" in page.url
    assert page.get_by_role("link", name="Codestral Latest", exact=True).count() == 1
    _visit_checks(page, "browse-coding")

    # The coding model's page: the calculator answers as the numbers are typed (no submit).
    page.get_by_role("link", name="Codestral Latest", exact=True).click()
    page.wait_for_url(f"**/models/{CODING_MODEL}/")
    page.get_by_label("Input tokens per month").fill("3000000")
    page.get_by_label("Output tokens per month").fill("1000000")
    monthly = coding_model.input_price * 3_000_000 + coding_model.output_price * 1_000_000
    page.wait_for_function(
        "expected => document.querySelector('[data-figure=\"monthly-cost\"]').textContent.includes(expected)",
        arg=f"${monthly:,.2f}",
    )
    _visit_checks(page, "detail")

    # Compare three coding models, ticked on the filtered list.
    page.go_back()
    for name in COMPARED:
        page.get_by_role("checkbox", name=f"Compare {name}", exact=True).check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(re.compile(r".*/compare/\?"))
    assert page.get_by_role("img", name=re.compile("^Capability scores")).count() == 1
    for name in COMPARED:
        assert name in page.locator("main").inner_text()
    _visit_checks(page, "compare")

    # Back to the coding model's page to install it in the demo workspace.
    page.get_by_role("link", name="Codestral Latest", exact=True).click()
    page.wait_for_url(f"**/models/{CODING_MODEL}/")
    assert _figure(page, "install-state") == "Not installed"
    page.get_by_role("button", name="Install", exact=True).click()
    page.wait_for_selector(f"text=Installed {coding_model.display_name} in Demo workspace.")
    assert _figure(page, "install-state") == "Installed"
    assert demo.installed_models.filter(model=coding_model).exists()
    _visit_checks(page, "installed")

    # Bring our own Mistral key and test it: the mock provider sees the pasted key.
    page.get_by_role("link", name="Keys", exact=True).click()
    page.wait_for_url(f"{site}/keys/")
    page.get_by_label("Provider", exact=True).select_option("mistral")
    page.get_by_label("Provider API key").fill(BYOK_SECRET)
    page.get_by_role("button", name="Add provider key").click()
    page.wait_for_selector("text=key sk-…9f3e added.")
    page.get_by_role("button", name=re.compile(r"^Test Mistral")).click()
    page.wait_for_selector("text=key sk-…9f3e works.")
    assert page.locator('tr[data-provider="mistral"] [data-figure="status"]').inner_text().strip() == "OK"
    assert BYOK_SECRET in [sent["api_key"] for sent in mock_provider.state.requests]
    assert BYOK_SECRET not in page.content()
    _visit_checks(page, "keys")

    # An agent on the coding model with a fallback, explicit routing and a monthly budget.
    page.get_by_role("link", name="Agents", exact=True).click()
    page.wait_for_url(f"{site}/agents/")
    page.get_by_role("link", name=re.compile("New agent")).first.click()
    page.wait_for_url(f"{site}/agents/new/")
    _visit_checks(page, "agent-new")
    page.get_by_label("Name", exact=True).fill("Coding helper")
    page.get_by_label("Kind", exact=True).select_option("code")
    page.get_by_label("Primary model", exact=True).select_option(CODING_MODEL)
    page.get_by_label("Fallback 1").select_option(FALLBACK)
    page.get_by_label("Explicit model with fallbacks").check()
    page.get_by_label("Monthly budget (USD)").fill("25")
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_url(f"{site}/agents/")
    agent = Agent.objects.get(workspace=demo, slug="coding-helper")
    assert agent.primary_model == coding_model
    assert [fallback.model.model_id for fallback in agent.fallbacks.order_by("position")] == [FALLBACK]
    _visit_checks(page, "agents")

    # An API key that runs as the agent; its secret is shown once.
    page.get_by_role("link", name="Keys", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Coding helper key")
    page.get_by_label("Agent (optional)").select_option(label="Coding helper")
    page.get_by_role("button", name="Create API key").click()
    secret = page.get_by_label("Your new API key").input_value()
    assert secret.startswith("sk-sy-")
    _visit_checks(page, "api-key-created")

    # Call the API as that agent with the official SDK: the agent's model answers, paid with our own Mistral key.
    client = OpenAI(base_url=f"{site}/v1", api_key=secret, max_retries=0)
    completion = client.chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "Write a Python function that reverses a string."}]
    )
    assert completion.model == CODING_MODEL
    assert completion.choices[0].message.content
    record = _usage_record(completion.id)
    assert (record.agent_id, record.model_id, record.is_byok) == (agent.pk, coding_model.pk, True)
    assert record.cost_usd > 0
    assert mock_provider.state.requests[-1]["api_key"] == BYOK_SECRET

    # The dashboard shows the request and its cost at once (the hour not rolled up yet is read from its records).
    page.get_by_role("link", name="Usage", exact=True).click()
    page.wait_for_url(f"{site}/usage/")
    assert _figure(page, "requests") == "1"
    assert Decimal(_figure(page, "total-cost").lstrip("$").replace(",", "")) == record.cost_usd
    assert CODING_MODEL in page.locator("main").inner_text()
    _visit_checks(page, "usage")

    # Export the CSV: one row for the model, with the request and its cost.
    with page.expect_download() as clicked:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(clicked.value.path()).read_text(encoding="utf-8"))))
    [row] = [row for row in rows if CODING_MODEL in row.values()]
    assert row["requests"] == "1"
    assert Decimal(row["cost_usd"]) == record.cost_usd
    assert page.problems == []


def _usage_record(generation_id: str) -> UsageRecord:
    """The call's usage record: the gateway spools it just after the response ends, and the test flushes the spool."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        usage_spool().flush()
        if record := UsageRecord.objects.filter(generation_id=generation_id).first():
            return record
        time.sleep(0.02)
    raise AssertionError(f"no usage record for {generation_id}")
