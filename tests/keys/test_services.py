import datetime

import pytest
from django.db import connection
from django.utils import timezone

from apps.analytics.models import AuditEvent
from apps.core.errors import ApplicationError
from apps.core.secrets import secret_hash
from apps.keys.models import ApiKey, ProviderKey
from apps.keys.services import api_key_create, api_key_revoke, provider_key_create, provider_key_delete
from tests.catalog.factories import ProviderFactory
from tests.core.factories import UserFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

PROVIDER_SECRET = "sk-ant-api03-very-secret-value-XYZ9"


def _audit_text() -> str:
    return repr(list(AuditEvent.objects.values("action", "target_repr", "data")))


class TestApiKeyCreate:
    def test_returns_a_raw_secret_stored_only_as_hash_and_mask(self):
        workspace = WorkspaceFactory()
        user = UserFactory()
        api_key, raw = api_key_create(workspace=workspace, name="  CI  ", created_by=user, rpm_limit=60)
        assert raw.startswith("sk-sy-")
        assert len(raw) == len("sk-sy-") + 48
        api_key.refresh_from_db()
        assert api_key.key_hash == secret_hash(raw)
        assert api_key.mask == f"sk-…{raw[-4:]}"
        assert api_key.name == "CI"
        assert api_key.rpm_limit == 60
        assert api_key.created_by == user
        row = ApiKey.objects.filter(pk=api_key.pk).values().get()
        assert raw not in repr(row)

    def test_each_key_gets_a_different_secret(self):
        workspace = WorkspaceFactory()
        secrets = {api_key_create(workspace=workspace, name=f"k{i}")[1] for i in range(5)}
        assert len(secrets) == 5

    def test_writes_an_audit_event_without_the_secret(self):
        workspace = WorkspaceFactory()
        api_key, raw = api_key_create(workspace=workspace, name="CI")
        event = AuditEvent.objects.get(action="api_key.created")
        assert event.workspace == workspace
        assert event.target_id == str(api_key.pk)
        assert raw not in _audit_text()
        assert api_key.key_hash not in _audit_text()

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"name": "   "},
            {"name": "k", "expires_at": datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)},
            {"name": "k", "rpm_limit": 0},
            {"name": "k", "tpm_limit": 0},
        ],
    )
    def test_refuses_invalid_input_and_writes_nothing(self, kwargs):
        workspace = WorkspaceFactory()
        with pytest.raises(ApplicationError):
            api_key_create(workspace=workspace, **kwargs)
        assert not ApiKey.objects.exists()
        assert not AuditEvent.objects.exists()

    def test_refuses_an_agent_of_another_workspace(self):
        with pytest.raises(ApplicationError) as exc:
            api_key_create(workspace=WorkspaceFactory(), name="k", agent=AgentFactory())
        assert exc.value.extra == {"field": "agent"}
        assert not ApiKey.objects.exists()


class TestApiKeyRevoke:
    def test_sets_revoked_at_once_and_is_idempotent(self):
        api_key, _ = api_key_create(workspace=WorkspaceFactory(), name="k")
        user = UserFactory()
        api_key_revoke(api_key=api_key, revoked_by=user)
        first = ApiKey.objects.get(pk=api_key.pk).revoked_at
        assert first is not None
        api_key_revoke(api_key=api_key, revoked_by=user)
        assert ApiKey.objects.get(pk=api_key.pk).revoked_at == first
        assert api_key.is_revoked
        assert AuditEvent.objects.filter(action="api_key.revoked", actor=user).count() == 1


class TestProviderKeyCreate:
    def test_strips_masks_and_encrypts_at_rest(self):
        workspace = WorkspaceFactory()
        provider = ProviderFactory()
        provider_key = provider_key_create(
            workspace=workspace, provider=provider, secret=f"  {PROVIDER_SECRET}\n", label=" main "
        )
        assert provider_key.mask == "sk-…XYZ9"
        assert provider_key.label == "main"
        assert ProviderKey.objects.get(pk=provider_key.pk).secret == PROVIDER_SECRET
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM keys_providerkey WHERE id = %s", [provider_key.pk])
            (raw_column,) = cursor.fetchone()
        stored = bytes(raw_column) if not isinstance(raw_column, str) else raw_column.encode()
        assert stored
        assert PROVIDER_SECRET.encode() not in stored
        assert b"very-secret" not in stored

    def test_audit_event_never_contains_the_secret(self):
        provider_key_create(workspace=WorkspaceFactory(), provider=ProviderFactory(), secret=PROVIDER_SECRET)
        assert AuditEvent.objects.filter(action="provider_key.created").exists()
        assert "very-secret" not in _audit_text()

    @pytest.mark.parametrize("secret", ["", "   ", "\n\t"])
    def test_refuses_an_empty_secret(self, secret):
        with pytest.raises(ApplicationError):
            provider_key_create(workspace=WorkspaceFactory(), provider=ProviderFactory(), secret=secret)
        assert not ProviderKey.objects.exists()

    def test_member_must_belong_to_the_workspace(self):
        workspace = WorkspaceFactory()
        with pytest.raises(ApplicationError) as exc:
            provider_key_create(
                workspace=workspace, provider=ProviderFactory(), secret=PROVIDER_SECRET, member=UserFactory()
            )
        assert exc.value.extra == {"field": "member"}
        member = MembershipFactory(workspace=workspace).user
        provider_key = provider_key_create(
            workspace=workspace, provider=ProviderFactory(), secret=PROVIDER_SECRET, member=member
        )
        assert provider_key.member == member

    def test_agent_must_belong_to_the_workspace(self):
        workspace = WorkspaceFactory()
        with pytest.raises(ApplicationError) as exc:
            provider_key_create(
                workspace=workspace, provider=ProviderFactory(), secret=PROVIDER_SECRET, agent=AgentFactory()
            )
        assert exc.value.extra == {"field": "agent"}
        agent = AgentFactory(workspace=workspace)
        assert (
            provider_key_create(
                workspace=workspace, provider=ProviderFactory(), secret=PROVIDER_SECRET, agent=agent
            ).agent
            == agent
        )

    def test_member_and_agent_together_are_refused(self):
        workspace = WorkspaceFactory()
        member = MembershipFactory(workspace=workspace).user
        with pytest.raises(ApplicationError):
            provider_key_create(
                workspace=workspace,
                provider=ProviderFactory(),
                secret=PROVIDER_SECRET,
                member=member,
                agent=AgentFactory(workspace=workspace),
            )
        assert not ProviderKey.objects.exists()

    def test_a_second_workspace_key_for_the_same_provider_conflicts(self):
        workspace, provider = WorkspaceFactory(), ProviderFactory()
        provider_key_create(workspace=workspace, provider=provider, secret=PROVIDER_SECRET)
        with pytest.raises(ApplicationError) as exc:
            provider_key_create(workspace=workspace, provider=provider, secret="sk-other-0000")
        assert exc.value.status == 409
        assert ProviderKey.objects.count() == 1
        assert AuditEvent.objects.filter(action="provider_key.created").count() == 1


def test_provider_key_delete_removes_the_key_and_records_it():
    workspace = WorkspaceFactory()
    provider_key = provider_key_create(workspace=workspace, provider=ProviderFactory(), secret=PROVIDER_SECRET)
    user = UserFactory()
    provider_key_delete(provider_key=provider_key, deleted_by=user)
    assert not ProviderKey.objects.exists()
    event = AuditEvent.objects.get(action="provider_key.deleted")
    assert event.actor == user
    assert event.workspace == workspace
    assert event.data["mask"] == "sk-…XYZ9"
    assert "very-secret" not in _audit_text()


def test_api_key_expiry_in_the_future_is_kept():
    expires = timezone.now() + datetime.timedelta(days=30)
    api_key, _ = api_key_create(workspace=WorkspaceFactory(), name="k", expires_at=expires)
    assert ApiKey.objects.get(pk=api_key.pk).expires_at == expires
