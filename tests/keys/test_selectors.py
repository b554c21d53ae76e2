import datetime

import pytest
from django.utils import timezone

from apps.keys.selectors import api_key_get_by_secret, api_key_list, provider_key_list
from apps.keys.services import api_key_create, api_key_revoke
from tests.keys.factories import ApiKeyFactory, ProviderKeyFactory
from tests.workspaces.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


class TestApiKeyGetBySecret:
    def test_finds_a_live_key(self):
        api_key, raw = api_key_create(workspace=WorkspaceFactory(), name="k")
        found = api_key_get_by_secret(secret=raw)
        assert found == api_key
        assert found.workspace.plan is not None

    def test_unknown_and_malformed_secrets_give_none(self):
        api_key_create(workspace=WorkspaceFactory(), name="k")
        assert api_key_get_by_secret(secret="sk-sy-" + "x" * 48) is None
        assert api_key_get_by_secret(secret="") is None
        assert api_key_get_by_secret(secret="not-a-key") is None

    def test_revoked_key_gives_none(self):
        api_key, raw = api_key_create(workspace=WorkspaceFactory(), name="k")
        api_key_revoke(api_key=api_key)
        assert api_key_get_by_secret(secret=raw) is None

    def test_expired_key_gives_none(self):
        _, raw = ApiKeyFactory.create_with_secret(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        assert api_key_get_by_secret(secret=raw) is None

    def test_key_expiring_later_is_found(self):
        api_key, raw = ApiKeyFactory.create_with_secret(expires_at=timezone.now() + datetime.timedelta(hours=1))
        assert api_key_get_by_secret(secret=raw) == api_key


def test_lists_are_scoped_to_the_workspace():
    workspace, other = WorkspaceFactory(), WorkspaceFactory()
    mine = ApiKeyFactory(workspace=workspace)
    ApiKeyFactory(workspace=other)
    mine_provider = ProviderKeyFactory(workspace=workspace)
    ProviderKeyFactory(workspace=other)
    assert list(api_key_list(workspace=workspace)) == [mine]
    assert list(provider_key_list(workspace=workspace)) == [mine_provider]


def test_provider_key_list_does_not_load_the_secret():
    ProviderKeyFactory()
    (provider_key,) = provider_key_list(workspace=ProviderKeyFactory().workspace)
    assert "secret" in provider_key.get_deferred_fields()
