"""The audit trail, driven through the public surface: every event the issue lists is written with who, what, when
and from where (IP address and user agent of the request), and no event ever holds a secret."""

import asyncio
import json
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.billing.services import ledger_topup
from apps.catalog.models import Model, Provider
from apps.core.models import User
from apps.keys.services import api_key_create
from apps.workspaces.models import BillingMode, ModelAccess, Workspace
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.admin_checks import admin_url, changeform_data
from tests.core.factories import UserFactory
from tests.workspaces.factories import MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

IP = "203.0.113.7"
AGENT = "AuditTrailTest/1.0 (+keyboard)"
ORIGIN = {"REMOTE_ADDR": IP, "HTTP_USER_AGENT": AGENT}
BYOK_SECRET = "sk-byok-live-0123456789-AUDITSECRET-wxyz"
PLATFORM_SECRET = "sk-platform-9876543210-AUDITSECRET-abcd"


@pytest.fixture
def workspace():
    plan = PlanFactory(slug="audit-pro", byok_allowed=True, model_access=ModelAccess.ALL)
    return WorkspaceFactory(slug="acme", plan=plan, billing_mode=BillingMode.PREPAID)


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user


@pytest.fixture
def client(member) -> APIClient:
    client = APIClient()
    client.force_login(member)
    return client


def send(client: APIClient, method: str, url: str, data=None, **headers):
    response = getattr(client, method)(url, data, format="json", **ORIGIN, **headers)
    assert response.status_code < 300, response.content
    return response


def only_event(action: str) -> AuditEvent:
    [event] = AuditEvent.objects.filter(action=action)
    return event


def assert_from_the_request(event: AuditEvent, *, actor, workspace) -> None:
    assert (event.ip_address, event.user_agent) == (IP, AGENT)
    assert event.actor == actor
    assert event.workspace == workspace
    assert event.created_at is not None


def every_event_as_text() -> str:
    return json.dumps(list(AuditEvent.objects.values()), default=str)


class TestKeys:
    def test_api_key_created_and_revoked(self, client, workspace, member):
        created = send(client, "post", "/api/keys/api-keys", {"name": "ci"}).json()
        send(client, "post", f"/api/keys/api-keys/{created['id']}/revoke")

        for action in ("api_key.created", "api_key.revoked"):
            event = only_event(action)
            assert_from_the_request(event, actor=member, workspace=workspace)
            assert (event.target_type, event.target_id) == ("keys.apikey", str(created["id"]))
            assert event.data["mask"] == created["mask"]
        assert created["key"] not in every_event_as_text()

    def test_byok_key_added_tested_and_removed(self, client, workspace, member, mock_provider):
        provider = ProviderFactory(slug="openai", base_url=f"{mock_provider.url}/v1")
        ModelFactory(provider=provider, upstream_name="cheap", input_price=Decimal("0.0000001"))

        created = send(client, "post", "/api/keys/provider-keys", {"provider": "openai", "secret": BYOK_SECRET}).json()
        send(client, "post", f"/api/keys/provider-keys/{created['id']}/test")
        send(client, "delete", f"/api/keys/provider-keys/{created['id']}")

        for action in ("provider_key.created", "provider_key.tested", "provider_key.deleted"):
            event = only_event(action)
            assert_from_the_request(event, actor=member, workspace=workspace)
            assert event.target_type == "keys.providerkey"
            assert event.data["mask"] == created["mask"]
        assert only_event("provider_key.tested").data["result"] == "valid"
        text = every_event_as_text()
        assert BYOK_SECRET not in text
        assert "AUDITSECRET" not in text


def test_model_installed_and_uninstalled(client, workspace, member):
    model = ModelFactory()
    send(client, "post", "/api/workspace/models", {"model": model.model_id})
    send(client, "delete", f"/api/workspace/models/{model.model_id}")

    for action in ("model.installed", "model.uninstalled"):
        event = only_event(action)
        assert_from_the_request(event, actor=member, workspace=workspace)
        assert model.model_id in json.dumps(event.data) or model.model_id in event.target_repr


def test_budget_created_changed_and_deleted(client, workspace, member):
    budget = send(client, "post", "/api/budgets/", {"limit_usd": "25.50"}).json()
    send(client, "patch", f"/api/budgets/{budget['id']}", {"limit_usd": "40"})
    send(client, "delete", f"/api/budgets/{budget['id']}")

    for action in ("budget.created", "budget.updated", "budget.deleted"):
        event = only_event(action)
        assert_from_the_request(event, actor=member, workspace=workspace)
        assert (event.target_type, event.target_id) == ("billing.budget", str(budget["id"]))


def test_credit_transfer_is_recorded_on_both_sides(client, workspace, member):
    partner = WorkspaceFactory(slug="globex")
    ledger_topup(workspace=workspace, amount_usd=Decimal("20"))

    send(client, "post", "/api/credits/transfers", {"to": "globex", "amount_usd": "5"}, HTTP_IDEMPOTENCY_KEY="t-1")

    outgoing = only_event("ledger.transfer_out")
    assert_from_the_request(outgoing, actor=member, workspace=workspace)
    incoming = only_event("ledger.transfer_in")
    assert incoming.workspace == partner
    assert (incoming.ip_address, incoming.user_agent) == (IP, AGENT)


def test_an_api_key_caller_is_recorded_as_the_member_who_made_the_key(workspace, member):
    _, secret = api_key_create(workspace=workspace, name="automation", created_by=member)
    as_key = APIClient()
    as_key.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    send(as_key, "post", "/api/budgets/", {"limit_usd": "3"})

    assert_from_the_request(only_event("budget.created"), actor=member, workspace=workspace)
    assert secret not in every_event_as_text()


class TestAdminEdits:
    @pytest.fixture
    def staff(self) -> Client:
        client = Client(**ORIGIN)
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
        return client

    def test_plan_change_in_the_admin_records_the_staff_member_and_origin(self, staff):
        workspace = WorkspaceFactory(slug="initech", plan=PlanFactory(slug="small"))
        new_plan = PlanFactory(slug="large")
        url = admin_url(Workspace, "change", workspace.pk)
        data = changeform_data(staff.get(url))
        data["plan"] = new_plan.pk

        response = staff.post(url, data)

        assert response.status_code == 302
        plan_changed = only_event("workspace.plan_changed")
        assert plan_changed.data == {"from": "small", "to": "large"}
        admin_edit = AuditEvent.objects.filter(action__endswith=".changed", target_type="workspaces.workspace").get()
        for event in (plan_changed, admin_edit):
            assert (event.ip_address, event.user_agent) == (IP, AGENT)
            assert event.actor.username == "root"
            assert event.workspace == workspace

    def test_provider_edit_with_a_new_platform_key_keeps_no_secret(self, staff):
        provider = ProviderFactory(slug="acme", name="Acme AI")
        url = admin_url(Provider, "change", provider.pk)
        data = changeform_data(staff.get(url))
        data.update({"name": "Acme Renamed", "new_platform_key": PLATFORM_SECRET})

        assert staff.post(url, data).status_code == 302

        event = only_event("provider.changed")
        assert (event.ip_address, event.user_agent, event.actor.username) == (IP, AGENT, "root")
        assert event.data["changes"]["name"] == {"from": "Acme AI", "to": "Acme Renamed"}
        assert PLATFORM_SECRET not in every_event_as_text()

    def test_model_price_edit_and_delete(self, staff):
        model = ModelFactory(input_price=Decimal("0.000001"))
        url = admin_url(Model, "change", model.pk)
        data = changeform_data(staff.get(url))
        data["input_price"] = "0.000002"

        assert staff.post(url, data).status_code == 302
        assert staff.post(admin_url(Model, "delete", model.pk), {"post": "yes"}).status_code == 302

        changed = only_event("model.changed")
        prices = changed.data["changes"]["input_price"]
        assert (Decimal(prices["from"]), Decimal(prices["to"])) == (Decimal("0.000001"), Decimal("0.000002"))
        for event in (changed, only_event("model.deleted")):
            assert (event.ip_address, event.user_agent, event.actor.username) == (IP, AGENT, "root")

    def test_granting_staff_to_a_user_is_recorded_without_the_password_hash(self, staff):
        user = UserFactory(username="bob", is_staff=False)
        url = admin_url(User, "change", user.pk)
        data = changeform_data(staff.get(url))
        data["is_staff"] = "on"
        joined = data.pop("date_joined")  # the admin shows it as a date and a time field
        data.update({"date_joined_0": f"{joined:%Y-%m-%d}", "date_joined_1": f"{joined:%H:%M:%S}"})

        response = staff.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors

        event = only_event("admin.user.changed")
        assert event.data["changes"]["is_staff"] == {"from": False, "to": True}
        assert (event.ip_address, event.actor.username) == (IP, "root")
        assert user.password not in every_event_as_text()


def test_outside_a_request_events_have_no_origin(workspace, member):
    api_key, _ = api_key_create(workspace=workspace, name="from-a-shell", created_by=member)

    event = only_event("api_key.created")
    assert (event.ip_address, event.user_agent) == (None, "")
    assert event.target_id == str(api_key.pk)


def test_origin_of_one_request_does_not_leak_into_the_next(client, workspace, member):
    send(client, "post", "/api/keys/api-keys", {"name": "first"})
    api_key_create(workspace=workspace, name="after", created_by=member)

    first, after = AuditEvent.objects.filter(action="api_key.created").order_by("id")
    assert first.ip_address == IP
    assert after.ip_address is None


def test_the_origin_middleware_works_for_async_views_too():
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.analytics.audit_context import audit_request_origin_middleware, current_request_origin

    seen = []

    async def view(request):
        seen.append(current_request_origin())
        return HttpResponse()

    middleware = audit_request_origin_middleware(view)
    request = RequestFactory().get("/", **ORIGIN)
    asyncio.run(middleware(request))

    assert [(o.ip_address, o.user_agent) for o in seen] == [(IP, AGENT)]
    assert current_request_origin() is None
