"""Admission in the request path, through the live gateway: budgets that are never overspent (200 concurrent
requests), the plan's quota (BYOK excluded, overage on Pro, refusal on Starter), prepaid credits, rate limits and
their headers."""

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import openai
import pytest
from django.conf import settings

from apps.billing.models import BudgetAction, LedgerEntry, LedgerKind, OverageRecord
from apps.billing.selectors import ledger_balance
from apps.billing.services import credit_transfer, ledger_topup
from apps.routing.gateway import context
from tests.billing.factories import BudgetFactory
from tests.keys.factories import ApiKeyFactory, ProviderKeyFactory
from tests.workspaces.factories import PlanFactory, WorkspaceFactory

MODEL = "openai/gpt-4o-mini"
HELLO = [{"role": "user", "content": "Hi"}]
# "Hi" with max_tokens 10: the mock answers with 4 prompt and 9 completion tokens, $0.000006 at gpt-4o-mini's
# prices; the gateway holds 5 prompt tokens (its upper estimate) + max_tokens: 15 tokens, $0.00000675.
CALL_COST = Decimal("0.000006")
CALL_HOLD = Decimal("0.00000675")


def client(gateway, **kwargs):
    return openai.OpenAI(base_url=gateway.v1, api_key=gateway.secret, max_retries=0, **kwargs)


def ask(gateway, **extra) -> httpx.Response:
    return httpx.post(
        f"{gateway.v1}/chat/completions",
        json={"model": MODEL, "messages": HELLO, "max_tokens": 10, **extra},
        headers={"authorization": f"Bearer {gateway.secret}"},
        timeout=30,
    )


def terms_changed(gateway, **plan_fields) -> None:
    for name, value in plan_fields.items():
        setattr(gateway.workspace.plan, name, value)
    gateway.workspace.plan.save()
    context.clear_caches()


async def _burst(gateway, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        body = {"model": MODEL, "messages": HELLO, "max_tokens": 10}
        headers = {"authorization": f"Bearer {gateway.secret}"}
        return await asyncio.gather(
            *(http.post(f"{gateway.v1}/chat/completions", json=body, headers=headers) for _ in range(count))
        )


def _dollars(text: str) -> list[Decimal]:
    return [Decimal(amount) for amount in re.findall(r"\$([0-9.]+)", text)]


class TestBudgets:
    def test_200_concurrent_requests_never_spend_past_a_budget_that_allows_about_100(self, gateway):
        limit = CALL_COST * 100
        BudgetFactory(workspace=gateway.workspace, limit_usd=limit, action=BudgetAction.BLOCK)
        # On prepaid credits too, so every call is also charged to the ledger.
        gateway.workspace.billing_mode = "prepaid"
        gateway.workspace.save()
        ledger_topup(workspace=gateway.workspace, amount_usd=Decimal("1"))
        gateway.mock.state.rules["gpt-4o-mini"] = {"delay_ms": 20}  # keep them in flight together

        responses = asyncio.run(_burst(gateway, 200))

        ok = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code != 200]
        assert {r.status_code for r in refused} <= {429}
        assert all(r.json()["error"]["code"] == "budget_exceeded" for r in refused)
        records = gateway.records(200)
        spent = sum(r.cost_usd for r in records if r.status == "success")
        assert len([r for r in records if r.status == "success"]) == len(ok)
        assert spent == CALL_COST * len(ok) <= limit
        # No call was refused while the budget could still cover it: at each refusal, what was left after the calls
        # in flight was less than the call's maximum cost. So at least limit / hold calls went through.
        for response in refused:
            amounts = _dollars(response.json()["error"]["message"])
            could_cost, left = amounts[0], amounts[-1]
            assert could_cost == CALL_HOLD and left < CALL_HOLD
        assert len(refused) > 0 and len(ok) >= int(limit / CALL_HOLD)
        # Refusals cost nothing and hold nothing: every hold was settled or released.
        assert all(r.cost_usd in (None, 0) for r in records if r.status != "success")
        # The ledger balances to the cent (and exactly): one charge per call that went through.
        charges = LedgerEntry.objects.filter(workspace=gateway.workspace, kind=LedgerKind.CHARGE)
        assert charges.count() == len(ok) and -sum(c.amount_usd for c in charges) == spent
        assert ledger_balance(workspace=gateway.workspace) == Decimal("1") - spent

    def test_a_refused_call_gets_429_budget_exceeded_and_reaches_no_provider(self, gateway):
        BudgetFactory(workspace=gateway.workspace, limit_usd=CALL_HOLD * 2, action=BudgetAction.BLOCK)
        assert ask(gateway).status_code == 200
        assert ask(gateway).status_code == 200  # $0.000006 spent, $0.0000075 left: one more hold fits
        calls = len(gateway.mock.state.requests)
        with pytest.raises(openai.RateLimitError) as refused:
            client(gateway).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=10)
        assert refused.value.code == "budget_exceeded"
        assert "workspace's monthly budget" in refused.value.message
        assert len(gateway.mock.state.requests) == calls

    def test_an_agents_budget_binds_only_that_agent_and_alert_budgets_never_block(self, gateway):
        from tests.workspaces.factories import AgentFactory

        agent = AgentFactory(workspace=gateway.workspace, slug="pricey")
        BudgetFactory(workspace=gateway.workspace, scope="agent", agent=agent, limit_usd=0, action=BudgetAction.BLOCK)
        BudgetFactory(workspace=gateway.workspace, limit_usd=0, action=BudgetAction.ALERT)
        context.clear_caches()
        assert ask(gateway).status_code == 200
        as_agent = httpx.post(
            f"{gateway.v1}/chat/completions",
            json={"model": MODEL, "messages": HELLO, "max_tokens": 10},
            headers={"authorization": f"Bearer {gateway.secret}", "x-switchyard-agent": "pricey"},
        )
        assert as_agent.status_code == 429 and "agent's monthly budget" in as_agent.json()["error"]["message"]


class TestQuota:
    def test_over_quota_is_refused_with_the_plan_and_how_to_upgrade_and_byok_calls_do_not_count(self, gateway):
        terms_changed(gateway, monthly_token_quota=30, overage_allowed=False, name="Starter")
        PlanFactory(name="Pro", sort_order=gateway.workspace.plan.sort_order + 1, monthly_token_quota=5_000_000)
        assert ask(gateway).status_code == 200  # 13 tokens used
        assert ask(gateway).status_code == 200  # 26: a hold of 15 no longer fits
        refused = ask(gateway)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "quota_exceeded" and "Starter plan" in error["message"]
        assert "Upgrade to Pro (5,000,000 tokens a month)" in error["message"] and "BYOK" in error["message"]

        ProviderKeyFactory(workspace=gateway.workspace, provider=gateway.providers["openai"])
        context.clear_caches()
        assert [ask(gateway).status_code for _ in range(3)] == [200, 200, 200]  # the customer pays the provider
        records = gateway.records(6)
        assert [r.is_byok for r in records if r.status == "success"] == [False, False, True, True, True]

    def test_on_a_plan_with_overage_calls_go_on_past_the_quota_and_overage_accrues(self, gateway):
        terms_changed(gateway, monthly_token_quota=20, overage_allowed=True, overage_price_per_million=Decimal("2"))
        assert [ask(gateway).status_code for _ in range(3)] == [200, 200, 200]  # 13, 26, 39 tokens
        records = gateway.records(3)
        assert [r.overage_tokens for r in records] == [0, 6, 13]
        overages = OverageRecord.objects.filter(workspace=gateway.workspace).order_by("id")
        assert [(o.tokens, o.amount_usd) for o in overages] == [(6, Decimal("0.000012")), (13, Decimal("0.000026"))]
        assert {o.generation_id for o in overages} == {r.generation_id for r in records[1:]}

    def test_a_plan_change_takes_effect_on_the_next_request(self, gateway):
        terms_changed(gateway, monthly_token_quota=0, overage_allowed=False)
        assert ask(gateway).status_code == 429
        plan = gateway.workspace.plan
        plan.monthly_token_quota = None
        plan.save()  # as the admin saves it: no cache clearing by the test
        assert ask(gateway).status_code == 200


class TestCredits:
    def test_a_prepaid_workspace_is_refused_402_when_its_balance_cannot_cover_the_hold(self, gateway):
        gateway.workspace.billing_mode = "prepaid"
        gateway.workspace.save()
        with pytest.raises(openai.APIStatusError) as refused:
            client(gateway).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=10)
        assert refused.value.status_code == 402 and refused.value.code == "insufficient_credits"

        ledger_topup(workspace=gateway.workspace, amount_usd=CALL_HOLD)  # reaches the counters on commit
        assert ask(gateway).status_code == 200
        assert ask(gateway).status_code == 402  # $0.00000075 left
        ledger_topup(workspace=gateway.workspace, amount_usd=Decimal("1"))
        assert ask(gateway).status_code == 200
        gateway.records(4)  # charges are written with the usage records
        assert ledger_balance(workspace=gateway.workspace) == CALL_HOLD + 1 - 2 * CALL_COST

    def test_credits_moved_away_by_a_transfer_are_no_longer_spendable(self, gateway):
        payee = WorkspaceFactory(slug="payee")
        gateway.workspace.billing_mode = "prepaid"
        gateway.workspace.save()
        ledger_topup(workspace=gateway.workspace, amount_usd=Decimal("0.00001"))
        assert ask(gateway).status_code == 200  # $0.000004 left: less than a hold
        ledger_topup(workspace=gateway.workspace, amount_usd=Decimal("0.00001"))
        credit_transfer(
            payer=gateway.workspace, payee_slug_or_id="payee", amount_usd=Decimal("0.00001"), idempotency_key="t1"
        )
        assert ask(gateway).status_code == 402
        assert ledger_balance(workspace=payee) == Decimal("0.00001")


class TestRateLimits:
    def test_rpm_per_key_refuses_with_retry_after_and_every_response_carries_the_headers(self, gateway):
        terms_changed(gateway, rpm_limit=100, tpm_limit=10_000)
        gateway.api_key.rpm_limit = 2
        gateway.api_key.save()
        context.clear_caches()
        first = ask(gateway)
        assert first.status_code == 200
        headers = first.headers
        assert (headers["x-ratelimit-limit-requests"], headers["x-ratelimit-remaining-requests"]) == ("2", "1")
        assert (headers["x-ratelimit-limit-tokens"], headers["x-ratelimit-remaining-tokens"]) == ("10000", "9985")
        assert re.fullmatch(r"\d+(\.\d+)?s", headers["x-ratelimit-reset-requests"])
        assert ask(gateway).headers["x-ratelimit-remaining-requests"] == "0"
        refused = ask(gateway)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        assert "API key's limit is 2 requests per minute" in refused.json()["error"]["message"]

    def test_tpm_counts_the_held_tokens_and_corrects_them_to_the_actual(self, gateway):
        terms_changed(gateway, rpm_limit=None, tpm_limit=40)
        first = ask(gateway)  # holds 15, uses 13
        assert first.headers["x-ratelimit-remaining-tokens"] == "25"
        second = ask(gateway)
        assert second.headers["x-ratelimit-remaining-tokens"] == "12"  # 40 − 13 − 15
        refused = ask(gateway)  # 26 counted + 15 > 40
        assert refused.status_code == 429 and "tokens per minute" in refused.json()["error"]["message"]

    def test_streamed_calls_carry_the_headers_too(self, gateway):
        terms_changed(gateway, rpm_limit=5, tpm_limit=None)
        with httpx.stream(
            "POST",
            f"{gateway.v1}/chat/completions",
            json={"model": MODEL, "messages": HELLO, "max_tokens": 10, "stream": True},
            headers={"authorization": f"Bearer {gateway.secret}"},
        ) as response:
            assert response.headers["x-ratelimit-remaining-requests"] == "4"
            assert "data: [DONE]" in response.read().decode()


def _database_url() -> str:
    """The test database, for another process to use."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def second_gateway(gateway, settings):
    """The same gateway in another OS process, on the same database and Redis: what a second node would be."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "USAGE_SPOOL_DIR": str(settings.USAGE_SPOOL_DIR),
    }
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/v1/models", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, "the second gateway did not start"
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _burst_both(urls: list[str], secret: str, each: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=2 * each), timeout=60) as http:
        body = {"model": MODEL, "messages": HELLO, "max_tokens": 10}
        headers = {"authorization": f"Bearer {secret}"}
        return await asyncio.gather(
            *(http.post(f"{url}/v1/chat/completions", json=body, headers=headers) for url in urls for _ in range(each))
        )


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: without it each process counts on its own")
def test_two_gateway_processes_share_one_budget_and_one_rate_limit(gateway, second_gateway):
    urls = [gateway.url, second_gateway]
    gateway.mock.state.rules["gpt-4o-mini"] = {"delay_ms": 20}
    limit = CALL_COST * 30
    BudgetFactory(workspace=gateway.workspace, scope="api_key", api_key=gateway.api_key, limit_usd=limit)
    responses = asyncio.run(_burst_both(urls, gateway.secret, 30))
    ok = [r for r in responses if r.status_code == 200]
    assert {r.status_code for r in responses} == {200, 429}
    assert int(limit / CALL_HOLD) <= len(ok) <= 30
    assert sum(r.cost_usd for r in gateway.records(60) if r.status == "success") <= limit

    _limited, secret = ApiKeyFactory.create_with_secret(workspace=gateway.workspace, rpm_limit=20)
    if time.time() % 60 > 50:  # both bursts in one minute window
        time.sleep(61 - time.time() % 60)
    responses = asyncio.run(_burst_both(urls, secret, 15))
    assert sum(r.status_code == 200 for r in responses) == 20
    assert {r.json()["error"]["code"] for r in responses if r.status_code != 200} == {"rate_limit_exceeded"}
