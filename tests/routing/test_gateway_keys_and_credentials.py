"""Which key pays for a call, how fast revocation spreads, and that the warm path touches no database."""

import time

import openai
import pytest
from django.db.backends.utils import CursorWrapper

from apps.keys.services import api_key_revoke
from apps.routing.gateway.recording import usage_spool
from tests.keys.factories import ProviderKeyFactory
from tests.workspaces.factories import AgentFactory

HELLO = [{"role": "user", "content": "Hi"}]


def client(gateway, api_key=None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=api_key or gateway.secret, max_retries=0)


def sent_key(gateway) -> str:
    return gateway.mock.state.requests[-1]["api_key"]


def test_resolution_order_agent_member_workspace_platform_environment(gateway, monkeypatch):
    from tests.keys.factories import ApiKeyFactory

    provider = gateway.providers["openai"]
    agent = AgentFactory(workspace=gateway.workspace)
    _, agent_secret = ApiKeyFactory.create_with_secret(
        workspace=gateway.workspace, agent=agent, created_by=gateway.user
    )
    agent_client, member_client = client(gateway, agent_secret), client(gateway)

    member_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert sent_key(gateway) == "sk-platform-openai"

    ProviderKeyFactory(workspace=gateway.workspace, provider=provider, secret="sk-byok-workspace")
    ProviderKeyFactory(workspace=gateway.workspace, provider=provider, member=gateway.user, secret="sk-byok-member")
    ProviderKeyFactory(workspace=gateway.workspace, provider=provider, agent=agent, secret="sk-byok-agent")
    from apps.routing.gateway import context

    context.clear_caches()
    agent_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert sent_key(gateway) == "sk-byok-agent"
    member_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert sent_key(gateway) == "sk-byok-member"

    provider.byok_keys.filter(member__isnull=False).delete()
    context.clear_caches()
    member_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert sent_key(gateway) == "sk-byok-workspace"
    byok_records = gateway.records(expected=4, is_byok=True)
    assert len(byok_records) == 3

    provider.byok_keys.all().delete()
    provider.platform_key = ""
    provider.save()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-environment")
    context.clear_caches()
    member_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert sent_key(gateway) == "sk-from-environment"

    monkeypatch.delenv("OPENAI_API_KEY")
    context.clear_caches()
    with pytest.raises(openai.PermissionDeniedError) as raised:
        member_client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert raised.value.body["code"] == "provider_key_missing"
    assert "OpenAI" in raised.value.body["message"]


def test_byok_keys_are_ignored_on_a_plan_without_byok(gateway):
    plan = gateway.workspace.plan
    plan.byok_allowed = False
    plan.save()
    ProviderKeyFactory(workspace=gateway.workspace, provider=gateway.providers["openai"], secret="sk-byok-workspace")
    completion = client(gateway).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert sent_key(gateway) == "sk-platform-openai"
    assert gateway.record(completion.id).is_byok is False


def test_revocation_reaches_the_gateway_within_the_cache_ttl(gateway, settings):
    settings.GATEWAY_KEY_CACHE_SECONDS = 0.3
    sdk = client(gateway)
    sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    api_key_revoke(api_key=gateway.api_key)
    time.sleep(0.4)
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)


def test_warm_path_runs_no_database_query(gateway, monkeypatch, settings):
    settings.GATEWAY_KEY_CACHE_SECONDS = 600  # a slow run must not see the caller's context expire mid-test
    sdk = client(gateway)
    sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)  # warms the caches
    list(sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=True))
    gateway.records(expected=2)

    queries: list[str] = []
    original = CursorWrapper.execute

    def counting(self, sql, params=None):
        queries.append(sql)
        return original(self, sql, params)

    # The background usage flush is off the request path: hold it while counting.
    monkeypatch.setattr(usage_spool(), "ingest", lambda: 0)
    monkeypatch.setattr(CursorWrapper, "execute", counting)
    for _ in range(3):
        sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
        list(sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=True))
    assert queries == [], queries


def test_a_deactivated_workspace_cannot_call(gateway):
    gateway.workspace.is_active = False
    gateway.workspace.save()
    with pytest.raises(openai.AuthenticationError):
        client(gateway).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)


def test_last_used_is_noted_at_most_hourly(gateway):
    sdk = client(gateway)
    sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    gateway.records(expected=1)
    gateway.api_key.refresh_from_db()
    first_use = gateway.api_key.last_used_at
    assert first_use is not None
    sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    gateway.records(expected=2)
    gateway.api_key.refresh_from_db()
    assert gateway.api_key.last_used_at == first_use
