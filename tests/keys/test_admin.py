import datetime

import pytest
from django.utils import timezone

from apps.analytics.models import AuditEvent
from apps.core.secrets import secret_hash
from apps.keys.models import ApiKey, ProviderKey
from apps.keys.selectors import api_key_get_by_secret
from apps.keys.services import provider_key_create
from tests.catalog.factories import ProviderFactory
from tests.core.admin_checks import (
    admin_url,
    assert_access_is_restricted,
    assert_admin_pages_work,
    assert_changelist_queries_do_not_grow,
)
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory, ProviderKeyFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

BYOK_SECRET = "sk-proj-Zq81-this-must-never-render-0042"


def test_api_key_pages_load(admin_client):
    assert_admin_pages_work(admin_client, ApiKeyFactory(name="deploy-bot"), contains="deploy-bot")


def test_provider_key_pages_load(admin_client):
    assert_admin_pages_work(admin_client, ProviderKeyFactory(label="team key"), contains="team key")


@pytest.mark.parametrize("model", [ApiKey, ProviderKey])
def test_access_is_restricted(model):
    assert_access_is_restricted(model)


class TestApiKeyAdmin:
    def test_add_shows_the_secret_once_and_stores_only_its_hash(self, admin_client):
        workspace = WorkspaceFactory()
        agent = AgentFactory(workspace=workspace)
        response = admin_client.post(
            admin_url(ApiKey, "add"),
            {"name": "ci", "workspace": workspace.pk, "agent": agent.pk, "rpm_limit": "30"},
            follow=True,
        )
        assert response.status_code == 200
        api_key = ApiKey.objects.get(workspace=workspace)
        shown = [str(m) for m in response.context["messages"] if "sk-sy-" in str(m)]
        assert len(shown) == 1
        raw_secret = next(word for word in shown[0].split() if word.startswith("sk-sy-"))
        assert raw_secret in response.content.decode()
        assert secret_hash(raw_secret) == api_key.key_hash
        assert api_key_get_by_secret(secret=raw_secret) == api_key
        assert (api_key.agent, api_key.rpm_limit, api_key.created_by.username) == (agent, 30, "admin")

        for url in (admin_url(ApiKey, "changelist"), admin_url(ApiKey, "change", api_key.pk)):
            content = admin_client.get(url).content.decode()
            assert raw_secret not in content
            assert api_key.key_hash not in content
        assert api_key.mask in admin_client.get(admin_url(ApiKey, "change", api_key.pk)).content.decode()

    def test_add_refuses_an_agent_of_another_workspace(self, admin_client):
        response = admin_client.post(
            admin_url(ApiKey, "add"), {"name": "ci", "workspace": WorkspaceFactory().pk, "agent": AgentFactory().pk}
        )
        assert response.status_code == 200
        assert "another workspace" in response.content.decode()
        assert not ApiKey.objects.exists()

    def test_add_refuses_an_expiry_in_the_past(self, admin_client):
        past = timezone.now() - datetime.timedelta(days=1)
        response = admin_client.post(
            admin_url(ApiKey, "add"),
            {
                "name": "ci",
                "workspace": WorkspaceFactory().pk,
                "expires_at_0": past.strftime("%Y-%m-%d"),
                "expires_at_1": past.strftime("%H:%M:%S"),
            },
        )
        assert response.status_code == 200
        assert "must be in the future" in response.content.decode()
        assert not ApiKey.objects.exists()

    def test_revoke_action(self, admin_client):
        live, other = ApiKeyFactory(), ApiKeyFactory()
        response = admin_client.post(
            admin_url(ApiKey, "changelist"), {"action": "revoke", "_selected_action": [live.pk]}, follow=True
        )
        assert response.status_code == 200
        live.refresh_from_db()
        other.refresh_from_db()
        assert live.revoked_at is not None
        assert other.revoked_at is None
        assert AuditEvent.objects.filter(action="api_key.revoked", target_id=str(live.pk)).count() == 1

    def test_change_edits_the_name_and_keeps_the_hash(self, admin_client):
        api_key = ApiKeyFactory(name="old")
        key_hash = api_key.key_hash
        response = admin_client.post(admin_url(ApiKey, "change", api_key.pk), {"name": "new", "rpm_limit": "5"})
        assert response.status_code == 302
        api_key.refresh_from_db()
        assert (api_key.name, api_key.rpm_limit, api_key.key_hash) == ("new", 5, key_hash)
        assert AuditEvent.objects.filter(action="api_key.changed").exists()

    def test_keys_cannot_be_deleted(self, admin_client):
        api_key = ApiKeyFactory()
        response = admin_client.post(admin_url(ApiKey, "delete", api_key.pk), {"post": "yes"})
        assert response.status_code == 403
        assert ApiKey.objects.filter(pk=api_key.pk).exists()


class TestProviderKeyAdmin:
    def test_the_secret_goes_in_through_the_service_and_never_comes_out(self, admin_client):
        workspace = WorkspaceFactory()
        provider = ProviderFactory()
        add_page = admin_client.get(admin_url(ProviderKey, "add")).content.decode()
        assert 'type="password"' in add_page
        response = admin_client.post(
            admin_url(ProviderKey, "add"),
            {"workspace": workspace.pk, "provider": provider.pk, "label": "prod", "new_secret": BYOK_SECRET},
            follow=True,
        )
        assert response.status_code == 200
        provider_key = ProviderKey.objects.get(workspace=workspace)
        assert provider_key.secret == BYOK_SECRET
        assert provider_key.mask == "sk-…0042"
        assert provider_key.created_by.username == "admin"
        assert BYOK_SECRET not in response.content.decode()
        pages = [
            admin_url(ProviderKey, "changelist"),
            admin_url(ProviderKey, "change", provider_key.pk),
            admin_url(ProviderKey, "delete", provider_key.pk),
            admin_url(ProviderKey, "history", provider_key.pk),
        ]
        for url in pages:
            content = admin_client.get(url).content.decode()
            assert BYOK_SECRET not in content, url
            assert "must-never-render" not in content, url
        assert "sk-…0042" in admin_client.get(admin_url(ProviderKey, "change", provider_key.pk)).content.decode()
        assert AuditEvent.objects.filter(action="provider_key.created").exists()

    def test_a_refused_form_does_not_echo_the_secret(self, admin_client):
        response = admin_client.post(
            admin_url(ProviderKey, "add"),
            {
                "workspace": WorkspaceFactory().pk,
                "provider": ProviderFactory().pk,
                "member": UserFactory().pk,
                "new_secret": BYOK_SECRET,
            },
        )
        assert response.status_code == 200
        content = response.content.decode()
        assert "not a member" in content
        assert BYOK_SECRET not in content
        assert not ProviderKey.objects.exists()

    def test_member_key_is_added_for_a_member(self, admin_client):
        membership = MembershipFactory()
        response = admin_client.post(
            admin_url(ProviderKey, "add"),
            {
                "workspace": membership.workspace.pk,
                "provider": ProviderFactory().pk,
                "member": membership.user.pk,
                "new_secret": BYOK_SECRET,
            },
        )
        assert response.status_code == 302
        assert ProviderKey.objects.get().member == membership.user

    def test_delete_goes_through_the_service(self, admin_client):
        provider_key = provider_key_create(workspace=WorkspaceFactory(), provider=ProviderFactory(), secret=BYOK_SECRET)
        response = admin_client.post(admin_url(ProviderKey, "delete", provider_key.pk), {"post": "yes"})
        assert response.status_code == 302
        assert not ProviderKey.objects.exists()
        event = AuditEvent.objects.get(action="provider_key.deleted")
        assert event.actor.username == "admin"

    def test_edit_changes_only_the_label(self, admin_client):
        provider_key = ProviderKeyFactory(secret=BYOK_SECRET, label="a")
        response = admin_client.post(admin_url(ProviderKey, "change", provider_key.pk), {"label": "b"})
        assert response.status_code == 302
        provider_key = ProviderKey.objects.get(pk=provider_key.pk)
        assert (provider_key.label, provider_key.secret) == ("b", BYOK_SECRET)
        assert AuditEvent.objects.get(action="provider_key.changed").data["changes"] == {
            "label": {"from": "a", "to": "b"}
        }


@pytest.mark.parametrize(("model", "factory_class"), [(ApiKey, ApiKeyFactory), (ProviderKey, ProviderKeyFactory)])
def test_changelists_run_no_query_per_row(admin_client, model, factory_class):
    assert_changelist_queries_do_not_grow(admin_client, model, factory_class.create_batch)
