from decimal import Decimal

import pytest
from django.test import RequestFactory

from apps.analytics.models import AuditEvent
from apps.analytics.services import audit_event_record
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_records_target_actor_and_workspace():
    workspace = WorkspaceFactory(name="Acme")
    user = UserFactory()
    event = audit_event_record(action="workspace.created", workspace=workspace, actor=user, target=workspace)
    event.refresh_from_db()
    assert event.action == "workspace.created"
    assert event.workspace == workspace
    assert event.actor == user
    assert (event.target_type, event.target_id, event.target_repr) == (
        "workspaces.workspace",
        str(workspace.pk),
        "Acme",
    )


@pytest.mark.parametrize(
    "secret_name",
    [
        "secret",
        "key",
        "api_key",
        "key_hash",
        "token",
        "access_token",
        "password",
        "password_confirm",
        "newPassword",
        "Authorization",
        "client_secret_value",
    ],
)
def test_drops_secret_looking_keys(secret_name):
    event = audit_event_record(action="x.y", data={secret_name: "sk-live-abc", "name": "ok"})
    event.refresh_from_db()
    assert event.data == {"name": "ok"}
    assert "sk-live-abc" not in str(AuditEvent.objects.values_list("data", flat=True).get(pk=event.pk))


def test_drops_secret_keys_at_any_depth_and_keeps_descriptive_ones():
    data = {
        "changes": {"secret": {"from": None, "to": "sk-x"}, "label": {"from": "a", "to": "b"}},
        "items": [{"token": "t"}, {"prompt_tokens": 5}],
        "api_key_id": 7,
        "key_mask": "sk-…abcd",
        "monthly_token_quota": 1000,
        "amount_usd": Decimal("1.5"),
    }
    event = audit_event_record(action="x.y", data=data)
    event.refresh_from_db()
    assert event.data == {
        "changes": {"label": {"from": "a", "to": "b"}},
        "items": [{}, {"prompt_tokens": 5}],
        "api_key_id": 7,
        "key_mask": "sk-…abcd",
        "monthly_token_quota": 1000,
        "amount_usd": "1.5",
    }


def test_request_gives_ip_user_agent_and_actor():
    user = UserFactory()
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="pytest-agent")
    request.user = user
    event = audit_event_record(action="x.y", request=request)
    assert event.ip_address == "10.1.2.3"
    assert event.user_agent == "pytest-agent"
    assert event.actor == user


def test_request_user_is_not_the_actor_when_an_api_key_acts():
    api_key = ApiKeyFactory()
    request = RequestFactory().get("/")
    request.user = UserFactory()
    event = audit_event_record(action="x.y", actor_api_key=api_key, request=request)
    assert event.actor is None
    assert event.actor_api_key == api_key
