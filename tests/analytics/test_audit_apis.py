"""GET /api/audit-events: the caller's workspace's events only, newest first, filtered, paginated; bad filters 400."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.keys.services import api_key_create
from tests.core.factories import UserFactory
from tests.workspaces.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

URL = "/api/audit-events"


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user


@pytest.fixture
def client(member) -> APIClient:
    client = APIClient()
    client.force_login(member)
    return client


def event(workspace, action: str, *, at: datetime.datetime | None = None, **fields) -> AuditEvent:
    created = AuditEvent.objects.create(workspace=workspace, action=action, **fields)
    if at is not None:
        AuditEvent.objects.filter(pk=created.pk).update(created_at=at)  # auto_now_add ignores a given value
    return created


def test_lists_the_workspace_events_newest_first_with_who_what_when_where(client, workspace, member):
    api_key, secret = api_key_create(workspace=workspace, name="ci", created_by=member)
    AuditEvent.objects.filter(action="api_key.created").update(ip_address="198.51.100.4", user_agent="curl/8")
    later = event(workspace, "budget.created", actor_api_key=api_key, target_type="billing.budget", target_id="9")

    response = client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, oldest = body["results"]
    assert newest["id"] == later.pk
    assert newest["actor"] is None
    assert newest["actor_api_key"] == {"id": api_key.pk, "name": "ci", "mask": api_key.mask}
    assert (newest["target_type"], newest["target_id"]) == ("billing.budget", "9")
    assert oldest["action"] == "api_key.created"
    assert oldest["actor"] == {"id": member.pk, "username": "ada"}
    assert (oldest["ip_address"], oldest["user_agent"]) == ("198.51.100.4", "curl/8")
    assert oldest["target_type"] == "keys.apikey"
    assert oldest["data"]["mask"] == api_key.mask
    assert oldest["created_at"]
    assert secret not in response.content.decode()
    assert api_key.key_hash not in response.content.decode()


def test_an_api_key_reads_its_own_workspace_trail(workspace, member):
    _, secret = api_key_create(workspace=workspace, name="ci", created_by=member)
    as_key = APIClient()
    as_key.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    response = as_key.get(URL)

    assert response.status_code == 200
    assert [e["action"] for e in response.json()["results"]] == ["api_key.created"]


def test_another_workspaces_events_are_never_shown(client, workspace):
    other = WorkspaceFactory(slug="globex")
    event(other, "api_key.created")
    event(None, "admin.provider.changed")
    mine = event(workspace, "model.installed")

    response = client.get(URL)

    assert [e["id"] for e in response.json()["results"]] == [mine.pk]
    assert client.get(URL, {"action": "api_key.created"}).json()["count"] == 0


def test_a_member_of_another_workspace_sees_only_theirs(workspace):
    event(workspace, "model.installed")
    outsider = MembershipFactory(workspace=WorkspaceFactory(slug="globex")).user
    client = APIClient()
    client.force_login(outsider)

    assert client.get(URL).json()["count"] == 0
    naming_acme = client.get(URL, HTTP_X_SWITCHYARD_WORKSPACE="acme")
    assert naming_acme.status_code == 403
    assert "acme" in naming_acme.json()["message"]


def test_no_credentials_get_401():
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}


def test_filters_by_action_target_type_and_time(client, workspace):
    now = timezone.now()
    old = event(workspace, "model.installed", at=now - datetime.timedelta(days=10), target_type="workspaces.x")
    middle = event(workspace, "model.installed", at=now - datetime.timedelta(days=5), target_type="catalog.model")
    recent = event(workspace, "budget.created", at=now - datetime.timedelta(hours=1), target_type="billing.budget")

    def ids(**params) -> list[int]:
        response = client.get(URL, params)
        assert response.status_code == 200, response.content
        return [e["id"] for e in response.json()["results"]]

    assert ids() == [recent.pk, middle.pk, old.pk]
    assert ids(action="model.installed") == [middle.pk, old.pk]
    assert ids(target_type="catalog.model") == [middle.pk]
    assert ids(since=(now - datetime.timedelta(days=6)).isoformat()) == [recent.pk, middle.pk]
    assert ids(until=(now - datetime.timedelta(days=5)).isoformat()) == [old.pk]  # until is exclusive
    since, until = now - datetime.timedelta(days=11), now - datetime.timedelta(days=1)
    assert ids(since=since.isoformat(), until=until.isoformat()) == [middle.pk, old.pk]


def test_pages(client, workspace):
    events = [event(workspace, f"thing.{n}") for n in range(5)]

    first = client.get(URL, {"page_size": 2}).json()
    last = client.get(URL, {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert [e["id"] for e in first["results"]] == [events[4].pk, events[3].pk]
    assert first["next"] and first["previous"] is None
    assert [e["id"] for e in last["results"]] == [events[0].pk]
    assert client.get(URL, {"page": 4}).status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"actions": "model.installed"}, "actions"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"page": "first"}, "page"),
        ({"action": "x" * 65}, "action"),
    ],
)
def test_bad_query_is_400_naming_the_parameter(client, workspace, params, field):
    response = client.get(URL, params)

    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["code"] == "invalid"
    assert field in body["extra"]["fields"]


def test_it_is_in_the_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/audit-events"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"action", "target_type", "since", "until", "page"}
