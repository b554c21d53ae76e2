"""/api/keys through DRF's test client: session members and API keys, workspace scoping, BYOK, key tests."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.catalog.models import AdapterKind
from apps.keys.models import ApiKey, ProviderKey, ProviderKeyStatus
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory, ProviderKeyFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

API_KEYS = "/api/keys/api-keys"
PROVIDER_KEYS = "/api/keys/provider-keys"
BYOK_SECRET = "sk-byok-live-0123456789-SECRETVALUE-wxyz"


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme", plan=PlanFactory(name="Pro", byok_allowed=True))


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user


@pytest.fixture
def client(member) -> APIClient:
    client = APIClient()
    client.force_login(member)
    return client


@pytest.fixture
def responses() -> list:
    """Every response body a test saw, to check no secret ever left in one."""
    return []


def call(client: APIClient, method: str, url: str, seen: list, **kwargs):
    response = getattr(client, method)(url, format="json", **kwargs)
    seen.append(response.content.decode())
    return response


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


class TestApiKeys:
    def test_the_secret_is_shown_once_then_only_the_mask(self, client, workspace, member, responses):
        created = call(client, "post", API_KEYS, responses, data={"name": " CI ", "rpm_limit": 60})

        assert created.status_code == 201
        body = created.json()
        secret = body["key"]
        assert secret.startswith("sk-sy-") and len(secret) == len("sk-sy-") + 48
        assert body["mask"] == f"sk-…{secret[-4:]}"
        assert body["name"] == "CI"
        assert body["status"] == "active"
        assert (body["rpm_limit"], body["tpm_limit"], body["agent"], body["revoked_at"]) == (60, None, None, None)
        api_key = ApiKey.objects.get(pk=body["id"])
        assert api_key.workspace == workspace and api_key.created_by == member

        listed = call(client, "get", API_KEYS, responses)
        assert listed.status_code == 200
        [item] = listed.json()
        assert item["id"] == body["id"] and item["mask"] == body["mask"] and item["status"] == "active"
        assert "key" not in item
        assert secret not in listed.content.decode()
        assert api_key.key_hash not in listed.content.decode()
        assert secret not in repr(list(AuditEvent.objects.values("data", "target_repr")))

    def test_the_key_authenticates_on_api_until_revoked(self, client, workspace, responses):
        secret = call(client, "post", API_KEYS, responses, data={"name": "bot"}).json()["key"]
        api_key = ApiKey.objects.get()

        as_key = bearer(secret)
        listed = as_key.get(API_KEYS)
        assert listed.status_code == 200
        assert [k["id"] for k in listed.json()] == [api_key.pk]

        revoked = call(as_key, "post", f"{API_KEYS}/{api_key.pk}/revoke", responses)
        assert revoked.status_code == 200
        assert revoked.json()["status"] == "revoked"
        assert revoked.json()["revoked_at"] is not None
        assert AuditEvent.objects.filter(action="api_key.revoked", target_id=str(api_key.pk)).count() == 1

        refused = as_key.get(API_KEYS)
        assert refused.status_code == 401
        assert refused.json() == {
            "message": "Invalid, revoked or expired API key.",
            "extra": {"code": "authentication_failed"},
        }
        assert refused["WWW-Authenticate"] == 'Bearer realm="api"'

    def test_no_credentials_get_401(self):
        response = APIClient().get(API_KEYS)
        assert response.status_code == 401
        assert response.json() == {
            "message": "Send 'Authorization: Bearer sk-sy-…', or sign in.",
            "extra": {"code": "not_authenticated"},
        }

    def test_an_expired_key_gets_401(self, workspace):
        _, secret = ApiKeyFactory.create_with_secret(
            workspace=workspace, expires_at=timezone.now() - datetime.timedelta(minutes=1)
        )
        assert bearer(secret).get(API_KEYS).status_code == 401

    def test_a_key_without_a_creator_still_acts_in_its_workspace(self, workspace):
        api_key, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
        ApiKeyFactory(workspace=WorkspaceFactory())
        response = bearer(secret).post(API_KEYS, {"name": "made by a bot"}, format="json")
        assert response.status_code == 201
        made = ApiKey.objects.get(pk=response.json()["id"])
        assert made.workspace == workspace and made.created_by is None
        assert sorted(k["id"] for k in bearer(secret).get(API_KEYS).json()) == sorted([api_key.pk, made.pk])

    def test_an_agent_of_the_workspace_can_own_the_key(self, client, workspace):
        agent = AgentFactory(workspace=workspace, slug="support-bot")
        response = client.post(API_KEYS, {"name": "bot", "agent": agent.pk}, format="json")
        assert response.status_code == 201
        assert response.json()["agent"] == {"id": agent.pk, "slug": "support-bot"}
        assert ApiKey.objects.get().agent == agent

    def test_an_agent_of_another_workspace_is_bad_input(self, client):
        foreign = AgentFactory()
        response = client.post(API_KEYS, {"name": "bot", "agent": foreign.pk}, format="json")
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {"agent": [f"No agent with id {foreign.pk} in this workspace."]}
        assert not ApiKey.objects.exists()

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({}, "name", "Invalid input: name: This field is required."),
            (
                {"name": "k", "rpm_limit": 0},
                "rpm_limit",
                "Invalid input: rpm_limit: Ensure this value is greater than or equal to 1.",
            ),
            ({"name": "k", "expires_at": "soon"}, "expires_at", None),
            ({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at", "The expiry must be in the future."),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, client, data, field, message):
        response = client.post(API_KEYS, data, format="json")
        assert response.status_code == 400
        body = response.json()
        assert list(body["extra"]["fields"]) == [field]
        assert body["extra"]["code"] in ("invalid", "invalid_request")
        if message:
            assert body["message"] == message
        assert not ApiKey.objects.exists()
        assert not AuditEvent.objects.filter(action="api_key.created").exists()

    def test_another_workspaces_key_is_404_and_stays_live(self, client):
        foreign = ApiKeyFactory(workspace=WorkspaceFactory())
        response = client.post(f"{API_KEYS}/{foreign.pk}/revoke")
        assert response.status_code == 404
        assert response.json() == {"message": "No such API key in this workspace.", "extra": {"code": "not_found"}}
        foreign.refresh_from_db()
        assert foreign.revoked_at is None
        assert client.get(API_KEYS).json() == []


class TestWorkspaceOfASignedInMember:
    def test_the_header_picks_one_of_the_members_workspaces(self, client, workspace, member):
        other = WorkspaceFactory(slug="side-project")
        MembershipFactory(workspace=other, user=member)
        ApiKeyFactory(workspace=workspace, name="first")
        ApiKeyFactory(workspace=other, name="second")

        assert [k["name"] for k in client.get(API_KEYS).json()] == ["first"]
        picked = client.get(API_KEYS, HTTP_X_SWITCHYARD_WORKSPACE="side-project")
        assert [k["name"] for k in picked.json()] == ["second"]

    def test_a_workspace_that_is_not_theirs_is_refused(self, client):
        ApiKeyFactory(workspace=WorkspaceFactory(slug="stranger"), name="theirs")
        response = client.get(API_KEYS, HTTP_X_SWITCHYARD_WORKSPACE="stranger")
        assert response.status_code == 403
        assert response.json() == {
            "message": "You are not a member of the workspace 'stranger'.",
            "extra": {"code": "permission_denied"},
        }

    def test_a_user_without_a_workspace_is_refused(self):
        client = APIClient()
        client.force_login(UserFactory())
        response = client.get(API_KEYS)
        assert response.status_code == 403
        assert response.json()["message"] == "You are not a member of any workspace."

    def test_an_api_key_cannot_switch_workspace(self, workspace, member):
        other = WorkspaceFactory(slug="other")
        MembershipFactory(workspace=other, user=member)
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=member)
        response = bearer(secret).get(API_KEYS, HTTP_X_SWITCHYARD_WORKSPACE="other")
        assert response.status_code == 403
        assert response.json()["message"] == "This API key belongs to another workspace than 'other'."


@pytest.fixture
def openai_provider(mock_provider):
    return ProviderFactory(slug="openai", name="OpenAI", base_url=f"{mock_provider.url}/v1")


class TestProviderKeys:
    def test_create_and_list_show_the_mask_only(self, client, workspace, member, openai_provider, responses):
        created = call(
            client,
            "post",
            PROVIDER_KEYS,
            responses,
            data={"provider": "openai", "secret": BYOK_SECRET, "label": "prod"},
        )

        assert created.status_code == 201
        body = created.json()
        assert body == {
            "id": body["id"],
            "provider": "openai",
            "label": "prod",
            "mask": "sk-…wxyz",
            "scope": "workspace",
            "member": None,
            "agent": None,
            "status": "untested",
            "last_validated_at": None,
            "last_error": "",
            "created_at": body["created_at"],
        }
        provider_key = ProviderKey.objects.get(pk=body["id"])
        assert provider_key.secret == BYOK_SECRET
        assert (provider_key.workspace, provider_key.created_by) == (workspace, member)

        listed = call(client, "get", PROVIDER_KEYS, responses)
        assert [(k["id"], k["mask"], k["provider"], k["status"]) for k in listed.json()] == [
            (provider_key.pk, "sk-…wxyz", "openai", "untested")
        ]
        assert all(BYOK_SECRET not in text for text in responses)
        assert BYOK_SECRET not in repr(list(AuditEvent.objects.values_list("data", flat=True)))

    def test_member_and_agent_scopes(self, client, workspace, member, openai_provider):
        agent = AgentFactory(workspace=workspace, slug="writer")
        mine = client.post(PROVIDER_KEYS, {"provider": "openai", "secret": "sk-mine-1234", "scope": "member"})
        for_agent = client.post(
            PROVIDER_KEYS, {"provider": "openai", "secret": "sk-agent-5678", "scope": "agent", "agent": agent.pk}
        )

        assert mine.status_code == 201 and for_agent.status_code == 201
        assert (mine.json()["scope"], mine.json()["member"]) == ("member", {"id": member.pk, "username": "ada"})
        assert (for_agent.json()["scope"], for_agent.json()["agent"]) == ("agent", {"id": agent.pk, "slug": "writer"})
        assert ProviderKey.objects.get(pk=mine.json()["id"]).member == member
        assert ProviderKey.objects.get(pk=for_agent.json()["id"]).agent == agent

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"secret": BYOK_SECRET}, "provider"),
            ({"provider": "nope", "secret": BYOK_SECRET}, "provider"),
            ({"provider": "openai"}, "secret"),
            ({"provider": "openai", "secret": BYOK_SECRET, "scope": "agent"}, "agent"),
            ({"provider": "openai", "secret": BYOK_SECRET, "scope": "team"}, "scope"),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, client, openai_provider, data, field):
        response = client.post(PROVIDER_KEYS, data, format="json")
        assert response.status_code == 400
        assert list(response.json()["extra"]["fields"]) == [field]
        assert BYOK_SECRET not in response.content.decode()
        assert not ProviderKey.objects.exists()

    def test_a_disabled_provider_is_refused(self, client):
        ProviderFactory(slug="retired", enabled=False)
        response = client.post(PROVIDER_KEYS, {"provider": "retired", "secret": BYOK_SECRET})
        assert response.status_code == 400
        assert response.json()["extra"]["fields"] == {"provider": ["No enabled provider 'retired'."]}

    def test_a_second_key_at_the_same_level_conflicts(self, client, openai_provider):
        assert client.post(PROVIDER_KEYS, {"provider": "openai", "secret": BYOK_SECRET}).status_code == 201
        again = client.post(PROVIDER_KEYS, {"provider": "openai", "secret": "sk-other-0000"})
        assert again.status_code == 409
        assert again.json() == {
            "message": "A key for this provider already exists at that level; delete it first.",
            "extra": {"code": "conflict"},
        }
        assert ProviderKey.objects.count() == 1

    def test_byok_is_refused_on_a_plan_without_it(self, openai_provider):
        starter = WorkspaceFactory(plan=PlanFactory(slug="hobby", name="Hobby", byok_allowed=False))
        user = MembershipFactory(workspace=starter).user
        client = APIClient()
        client.force_login(user)

        response = client.post(PROVIDER_KEYS, {"provider": "openai", "secret": BYOK_SECRET})

        assert response.status_code == 403
        assert response.json() == {
            "message": "The Hobby plan does not include bring-your-own-key provider keys; upgrade the plan to add one.",
            "extra": {"code": "byok_not_allowed", "plan": "hobby"},
        }
        assert not ProviderKey.objects.exists()
        assert not AuditEvent.objects.filter(action="provider_key.created").exists()

    def test_delete(self, client, workspace, member, openai_provider):
        provider_key = ProviderKeyFactory(workspace=workspace, provider=openai_provider, secret=BYOK_SECRET)
        response = client.delete(f"{PROVIDER_KEYS}/{provider_key.pk}")
        assert response.status_code == 204
        assert not ProviderKey.objects.exists()
        event = AuditEvent.objects.get(action="provider_key.deleted")
        assert (event.actor, event.workspace, event.data["mask"]) == (member, workspace, "sk-…wxyz")
        assert BYOK_SECRET not in repr(event.data)

    def test_another_workspaces_key_is_404_and_untouched(self, client, openai_provider, mock_provider):
        ModelFactory(provider=openai_provider)
        foreign = ProviderKeyFactory(workspace=WorkspaceFactory(), provider=openai_provider, secret=BYOK_SECRET)

        for method, url in (
            ("delete", f"{PROVIDER_KEYS}/{foreign.pk}"),
            ("post", f"{PROVIDER_KEYS}/{foreign.pk}/test"),
        ):
            response = getattr(client, method)(url)
            assert response.status_code == 404
            assert response.json() == {
                "message": "No such provider key in this workspace.",
                "extra": {"code": "not_found"},
            }
        foreign.refresh_from_db()
        assert (foreign.status, foreign.last_validated_at) == (ProviderKeyStatus.UNTESTED, None)
        assert list(mock_provider.state.requests) == []
        assert client.get(PROVIDER_KEYS).json() == []


def _provider_for(kind: str, mock_url: str):
    base_url = f"{mock_url}/v1" if kind == AdapterKind.OPENAI else mock_url
    provider = ProviderFactory(slug=f"{kind}-direct", name=kind.title(), adapter_kind=kind, base_url=base_url)
    ModelFactory(provider=provider, upstream_name="pricey", input_price=Decimal("0.00001"))
    ModelFactory(provider=provider, upstream_name="cheap", input_price=Decimal("0.0000001"))
    ModelFactory(provider=provider, upstream_name="unpriced", input_price=None, output_price=None)
    ModelFactory(provider=provider, upstream_name="cheaper-but-off", input_price=Decimal("0.00000001"), enabled=False)
    return provider


class TestProviderKeyTest:
    @pytest.mark.parametrize("kind", [AdapterKind.OPENAI, AdapterKind.ANTHROPIC, AdapterKind.GEMINI])
    def test_a_working_key_is_recorded_valid(self, client, workspace, member, mock_provider, responses, kind):
        provider = _provider_for(kind, mock_provider.url)
        provider_key = ProviderKeyFactory(workspace=workspace, provider=provider, secret=BYOK_SECRET)

        response = call(client, "post", f"{PROVIDER_KEYS}/{provider_key.pk}/test", responses)

        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["status"], body["last_error"]) == (provider_key.pk, "valid", "")
        assert body["last_validated_at"] is not None
        provider_key.refresh_from_db()
        assert provider_key.status == ProviderKeyStatus.VALID
        assert provider_key.last_validated_at is not None
        [sent] = mock_provider.state.requests
        assert sent["wire"] == kind
        assert sent["model"] == "cheap"
        assert sent["api_key"] == BYOK_SECRET
        event = AuditEvent.objects.get(action="provider_key.tested")
        assert event.actor == member
        assert event.data == {
            "provider": provider.slug,
            "mask": "sk-…wxyz",
            "model": f"{provider.slug}/cheap",
            "result": "valid",
            "error": "",
        }
        assert BYOK_SECRET not in responses[0]

    @pytest.mark.parametrize("kind", [AdapterKind.OPENAI, AdapterKind.ANTHROPIC, AdapterKind.GEMINI])
    def test_a_refused_key_is_recorded_invalid_without_its_secret(self, client, workspace, mock_provider, kind):
        provider = _provider_for(kind, mock_provider.url)
        secret = "invalid-" + BYOK_SECRET
        provider_key = ProviderKeyFactory(
            workspace=workspace, provider=provider, secret=secret, status=ProviderKeyStatus.VALID
        )

        response = client.post(f"{PROVIDER_KEYS}/{provider_key.pk}/test")

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "invalid"
        assert body["last_error"] == "401 auth: Invalid API key."
        assert body["last_validated_at"] is not None
        provider_key.refresh_from_db()
        assert (provider_key.status, provider_key.last_error) == (
            ProviderKeyStatus.INVALID,
            "401 auth: Invalid API key.",
        )
        event = AuditEvent.objects.get(action="provider_key.tested")
        assert (event.data["result"], event.data["error"]) == ("invalid", "401 auth: Invalid API key.")
        assert secret not in response.content.decode()
        assert secret not in repr(event.data)

    def test_an_unreachable_provider_proves_nothing(self, client, workspace):
        provider = ProviderFactory(slug="down", base_url="http://127.0.0.1:9/v1")
        ModelFactory(provider=provider)
        provider_key = ProviderKeyFactory(workspace=workspace, provider=provider, secret=BYOK_SECRET)

        body = client.post(f"{PROVIDER_KEYS}/{provider_key.pk}/test").json()

        assert (body["status"], body["last_validated_at"]) == ("untested", None)
        assert body["last_error"] == "502 server_error: Could not reach the provider (ConnectError)."
        assert AuditEvent.objects.get(action="provider_key.tested").data["result"] == "inconclusive"

    def test_a_provider_without_a_chat_model_cannot_be_tested(self, client, workspace, openai_provider):
        provider_key = ProviderKeyFactory(workspace=workspace, provider=openai_provider, secret=BYOK_SECRET)
        response = client.post(f"{PROVIDER_KEYS}/{provider_key.pk}/test")
        assert response.status_code == 409
        assert response.json() == {
            "message": "The catalog has no enabled chat model of OpenAI to test the key with.",
            "extra": {"code": "no_test_model"},
        }
        assert not AuditEvent.objects.filter(action="provider_key.tested").exists()
