"""The browsable API docs at /api/docs/: Swagger UI served by the app itself (no CDN), reading /api/schema/.

The browser test drives Debian's Chromium (as tests/billing/test_statement_page.py does): a staff member signed in
opens the docs, finds every tag, and calls two operations from the page with "Try it out" (a read, and a write that
needs the CSRF token the page carries). Screenshots go to test-artifacts/screenshots/.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.catalog.models import Provider
from tests.catalog.factories import ProviderFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import MembershipFactory, WorkspaceFactory

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"


@pytest.mark.django_db
def test_the_docs_page_loads_swagger_ui_from_the_app_and_reads_the_schema(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'url: "/api/schema/"' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {Path(asset).name for asset in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL), f"{asset} is not served by Switchyard itself"
        assert client.get(asset).status_code == 200, asset
    assert client.get("/api/schema/").status_code == 200


@pytest.fixture
def page(chromium, live_server, client, transactional_db) -> Iterator:
    """A browser tab signed in as a staff member who owns a workspace; `page.problems` collects page errors."""
    workspace = WorkspaceFactory(slug="acme")
    root = MembershipFactory(workspace=workspace, user=UserFactory(username="root", superuser=True), role="owner").user
    ApiKeyFactory(workspace=workspace, created_by=root, name="deploy bot")
    client.force_login(root)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.problems = []
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("requestfailed", lambda request: page.problems.append(f"request failed: {request.url}"))
    yield page
    context.close()


def _try_it_out(page, operation_id: str, tag: str) -> object:
    block = page.locator(f"#operations-{tag}-{operation_id}")
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    return block


def _execute(block) -> str:
    block.get_by_role("button", name="Execute").click()
    status = block.locator(".live-responses-table tbody tr.response .response-col_status").first
    status.wait_for()
    return status.inner_text().strip()


def test_a_staff_member_browses_the_docs_and_calls_the_api_from_them(page, live_server):
    ProviderFactory(slug="openai", name="OpenAI")

    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".opblock-tag-section").first.wait_for()
    tags = [text.strip() for text in page.locator(".opblock-tag-section h3 a span").all_inner_texts()]
    assert {"keys", "staff"} <= set(tags)
    assert page.locator("#operations-staff-staff_models_list").count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))

    keys = _try_it_out(page, "api_keys_list", "keys")
    assert _execute(keys) == "200"
    assert (
        "deploy bot" in keys.locator(".live-responses-table tbody tr.response .response-col_description").inner_text()
    )

    provider = _try_it_out(page, "staff_providers_update", "staff")
    provider.locator('input[placeholder="slug"]').fill("openai")
    provider.locator("textarea.body-param__text").fill('{"enabled": false, "priority": 7}')
    assert _execute(provider) == "200"
    page.screenshot(path=str(SCREENSHOTS / "api-docs-try-it-out.png"), full_page=True)
    assert Provider.objects.filter(slug="openai", enabled=False, priority=7).exists()

    assert page.problems == []


def test_the_schema_generates_without_a_warning_and_validates(tmp_path):
    # Two serializers of one name in two apps would silently share one schema component: the check fails on that.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/staff/providers" in (tmp_path / "schema.yaml").read_text()
