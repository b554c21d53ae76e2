"""The Keys page in headless Chromium: add a BYOK key and test it against the mock provider, create an API key and copy
it with the copy button, revoke it; by keyboard for the main actions, accessible, and fitting a narrow screen."""

from decimal import Decimal

import pytest

from apps.keys.models import ApiKey, ProviderKey
from tests.browser import assert_accessible, assert_fits, screenshot, sign_in, tab_to
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, PlanFactory, WorkspaceFactory

BYOK_SECRET = "sk-byok-browser-0123456789-SECRET-wxyz"


@pytest.fixture
def member(transactional_db, mock_provider):
    workspace = WorkspaceFactory(slug="acme", name="Acme", plan=PlanFactory(name="Pro", byok_allowed=True))
    provider = ProviderFactory(slug="openai", name="OpenAI", base_url=f"{mock_provider.url}/v1")
    ModelFactory(provider=provider, upstream_name="cheap", input_price=Decimal("0.0000001"))
    AgentFactory(workspace=workspace, name="Support bot", primary_model=ModelFactory(provider=provider))
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user


def _status_of(page, provider: str) -> str:
    return page.locator(f'tr[data-provider="{provider}"] [data-figure="status"]').inner_text().strip()


def test_add_and_test_a_byok_key_then_create_copy_and_revoke_an_api_key(live_server, page, member, mock_provider):
    sign_in(page, live_server, member)
    page.goto(f"{live_server.url}/keys/")
    assert page.get_by_role("heading", level=1).inner_text() == "Keys"
    assert_accessible(page)
    screenshot(page, "keys-empty")

    # Add a BYOK key, sending the form from the keyboard.
    page.get_by_label("Provider", exact=True).select_option("openai")
    page.get_by_label("Provider API key").fill(BYOK_SECRET)
    page.get_by_label("Label (optional)").fill("prod")
    page.get_by_label("Label (optional)").focus()
    tab_to(page, "Add provider key")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=OpenAI key sk-…wxyz added.")
    assert _status_of(page, "openai") == "Not tested"

    # Test it from the keyboard: the gateway's key test calls the (mock) provider with the pasted key.
    page.locator("main").focus()
    tab_to(page, "Test OpenAI key sk-…wxyz")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=OpenAI key sk-…wxyz works.")
    assert _status_of(page, "openai") == "OK"
    assert [sent["api_key"] for sent in mock_provider.state.requests] == [BYOK_SECRET]
    assert BYOK_SECRET not in page.content()
    screenshot(page, "keys-byok-tested")

    # Create an API key bound to the agent; the secret is shown once, and the copy button copies it.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_label("Name", exact=True).fill("Support bot key")
    page.get_by_label("Agent (optional)").select_option(label="Support bot")
    page.get_by_role("button", name="Create API key").click()
    page.wait_for_selector("h1:has-text('API key Support bot key created')")
    secret = page.get_by_label("Your new API key").input_value()
    assert secret.startswith("sk-sy-")
    assert ApiKey.objects.get().agent.name == "Support bot"
    assert_accessible(page)
    page.get_by_role("button", name="Copy").click()
    status = page.get_by_role("status").filter(has_text="Copied")
    status.wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "keys-api-key-created")
    assert_fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Back on the list, the secret is gone for good; revoke the key through its confirmation page, by keyboard.
    page.get_by_role("link", name="Done: back to keys").click()
    page.wait_for_url(f"{live_server.url}/keys/")
    assert secret not in page.content()
    page.get_by_role("link", name="Revoke API key Support bot key").click()
    page.wait_for_selector("h1:has-text('Revoke the API key Support bot key')")
    assert_accessible(page)
    tab_to(page, "Revoke key")
    page.keyboard.press("Enter")
    # The mask's last characters are the secret's, which may hold "-" or "_": read it rather than pattern it.
    page.get_by_text(f"API key Support bot key ({ApiKey.objects.get().mask}) revoked.").wait_for()
    assert page.url == f"{live_server.url}/keys/"
    assert page.locator('[data-table="api-keys"] [data-figure="status"]').inner_text() == "Revoked"
    assert ApiKey.objects.get().revoked_at is not None
    assert ProviderKey.objects.get().status == "valid"

    assert_accessible(page)
    screenshot(page, "keys-desktop")
    assert_fits(page)
    screenshot(page, "keys-narrow")
    assert page.problems == []
