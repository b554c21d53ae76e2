"""No page shows another workspace's things, and no page changes them: one sweep over every marketplace page.

Workspace B is set up through the API the way its members would (an agent, an API key bound to it, a BYOK key, an
installed model, then traffic and its rollups), with every name carrying the word "canary". A member of workspace A
then reads every page, every filter and range, and every download: the word never appears. Each write endpoint
aimed at B's ids answers 404 and B is unchanged. (Each page's own tests check the same for its parts; this sweep
catches a page or a link that forgot to.)
"""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.keys.models import ApiKey, ProviderKey
from apps.workspaces.models import Agent, InstalledModel, ModelAccess
from tests.analytics.factories import UsageRecordFactory
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.workspaces.factories import MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db
CANARY = "canary"


@pytest.fixture
def pro():
    return PlanFactory(slug="pro-plan", name="Pro", byok_allowed=True, model_access=ModelAccess.ALL)


@pytest.fixture
def model(pro):
    provider = ProviderFactory(slug="openai", name="OpenAI")
    return ModelFactory(provider=provider, model_id="openai/gpt-shared", display_name="GPT Shared", category="coding")


@pytest.fixture
def theirs(pro, model):
    """Workspace B and what its member made there, through the API."""
    workspace = WorkspaceFactory(slug="canary-works", name="Canary Works", plan=pro)
    member = MembershipFactory(workspace=workspace, user=UserFactory(username="canary-member"), role="owner").user
    api = APIClient()
    api.force_login(member)
    assert api.post("/api/workspace/models", {"model": model.model_id}, format="json").status_code in (200, 201)
    agent = api.post(
        "/api/agents",
        {"name": "Canary agent", "primary_model": model.model_id, "budgets": [{"period": "monthly", "limit_usd": "9"}]},
        format="json",
    )
    assert agent.status_code == 201, agent.content
    agent_id = agent.json()["id"]
    key = api.post("/api/keys/api-keys", {"name": "canary key", "agent": agent_id}, format="json")
    assert key.status_code == 201, key.content
    byok = api.post(
        "/api/keys/provider-keys",
        {"provider": "openai", "secret": "sk-canary-byok-0123456789", "label": "canary byok"},
        format="json",
    )
    assert byok.status_code == 201, byok.content
    for _ in range(3):
        UsageRecordFactory(
            workspace=workspace,
            model=model,
            agent_id=agent_id,
            api_key_id=key.json()["id"],
            cost_usd=Decimal("1.25"),
            prompt_tokens=777_001,
        )
    call_command("rollup_usage", stdout=None)
    return {
        "workspace": workspace,
        "agent": agent_id,
        "api_key": key.json()["id"],
        "provider_key": byok.json()["id"],
    }


@pytest.fixture
def ours(pro, model) -> Client:
    workspace = WorkspaceFactory(slug="acme", name="Acme", plan=pro)
    client = Client()
    client.force_login(MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user)
    return client


def _snapshot(workspace) -> tuple:
    return (
        sorted(Agent.objects.filter(workspace=workspace).values_list("pk", "name", "is_active")),
        sorted(ApiKey.objects.filter(workspace=workspace).values_list("pk", "revoked_at")),
        sorted(ProviderKey.objects.filter(workspace=workspace).values_list("pk", "status", "last_validated_at")),
        sorted(InstalledModel.objects.filter(workspace=workspace).values_list("model_id", flat=True)),
    )


READS = [
    "/models/",
    "/models/?category=coding",
    "/models/?sort=-popularity",
    "/models/openai/gpt-shared/",
    "/compare/?models=openai/gpt-shared&models=openai/gpt-shared-2",
    "/keys/",
    "/agents/",
    "/agents/new/",
    "/usage/",
    "/usage/?range=7d",
    "/usage/?range=90d",
    "/usage/export.csv",
    "/usage/export.csv?range=90d",
    "/audit/",
    "/billing/statements/",
]


def test_no_page_shows_another_workspaces_things(ours, theirs, model):
    ModelFactory(provider=model.provider, model_id="openai/gpt-shared-2", display_name="GPT Shared 2")
    for url in READS:
        response = ours.get(url, follow=True)
        assert response.status_code == 200, (url, response.status_code)
        body = response.content.decode().lower()
        assert CANARY not in body, url
        assert "777,001" not in body and "777001" not in body, url
    # The model both can see shows A's state: B installed it, A did not.
    detail = ours.get("/models/openai/gpt-shared/").content.decode()
    assert 'data-figure="install-state">Not installed' in detail


def test_another_workspaces_ids_are_404_and_change_nothing(ours, theirs):
    before = _snapshot(theirs["workspace"])
    events = AuditEvent.objects.count()
    agent, api_key, provider_key = theirs["agent"], theirs["api_key"], theirs["provider_key"]
    for url in (f"/agents/{agent}/", f"/agents/{agent}/delete/", f"/keys/api-keys/{api_key}/revoke/"):
        assert ours.get(url).status_code == 404, url
    for url in (f"/keys/provider-keys/{provider_key}/remove/",):
        assert ours.get(url).status_code == 404, url
    posts = {
        f"/agents/{agent}/": {"name": "Taken over"},
        f"/agents/{agent}/delete/": {},
        f"/keys/api-keys/{api_key}/revoke/": {},
        f"/keys/provider-keys/{provider_key}/test/": {},
        f"/keys/provider-keys/{provider_key}/remove/": {},
    }
    for url, data in posts.items():
        assert ours.post(url, data).status_code == 404, url
    # Naming B outright is a 404 on every page, for reads and writes alike.
    for url in READS:
        separator = "&" if "?" in url else "?"
        assert ours.get(f"{url}{separator}workspace=canary-works").status_code == 404, url
    install = ours.post("/models/openai/gpt-shared/?workspace=canary-works", {"action": "uninstall"})
    assert install.status_code == 404
    assert ours.post("/workspace/switch/", {"workspace": "canary-works", "next": "/keys/"}).status_code == 404
    assert _snapshot(theirs["workspace"]) == before
    assert AuditEvent.objects.count() == events
