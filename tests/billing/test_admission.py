"""The admission backends' rules, run against both (Redis only when REDIS_URL is set): holds, settlement, seeding,
all-or-nothing, soft quotas, credit balances, rate limits, expiry of a dead worker's hold, and two OS processes
sharing one budget and one rate limit through Redis."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings

from apps.billing.admission import (
    BUDGET,
    CREDITS,
    QUOTA,
    REQUESTS,
    TOKENS,
    AdmissionUnavailable,
    Counter,
    DatabaseAdmission,
    Hold,
    RateLimit,
    RedisAdmission,
    from_units,
)
from apps.billing.admission.redis_backend import REDIS_TIMEOUT_SECONDS
from apps.billing.models import Reservation, SpendCounter
from tests.core.redis_fakes import CLOSE, SILENT, FakeRedis
from tests.workspaces.factories import WorkspaceFactory

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
WORKSPACE = 4242


def _counter(key="budget:1:20261101", kind=BUDGET, limit=100, soft=False) -> Counter:
    return Counter(key, kind, limit, time.time() + 3600, f"the {key}", soft=soft, seed=(kind,))


class Backend:
    """One interface over both backends for the tests: the database one is driven through its sync functions, on
    the test's own connection; the Redis one through its async functions."""

    def __init__(self, kind: str, workspace_id: int = WORKSPACE, seeds: dict | None = None):
        self.kind = kind
        self.workspace_id = workspace_id
        self.seeds = seeds or {}
        self.seeded: list[str] = []
        if kind == "redis":
            self.backend = RedisAdmission(settings.REDIS_URL)
            self.backend.reset()
        else:
            self.backend = DatabaseAdmission()

    def seeder(self, counter: Counter) -> tuple[int, int]:
        self.seeded.append(counter.key)
        return self.seeds.get(counter.key, (0, 0))

    def reserve(self, amounts, rates=(), *, hold_seconds=60.0):
        if self.kind == "redis":
            coroutine = self.backend.reserve(
                self.workspace_id, list(amounts), list(rates), hold_seconds=hold_seconds, seeder=self.seeder
            )
            return asyncio.run(coroutine)
        return self.backend.reserve_sync(
            self.workspace_id, list(amounts), list(rates), hold_seconds=hold_seconds, seeder=self.seeder
        )

    def settle(self, hold, actual, *, tokens=0):
        if self.kind == "redis":
            return asyncio.run(self.backend.settle(hold, actual, tokens=tokens))
        return self.backend.settle_sync(hold, actual, tokens=tokens)

    def credits_changed(self, units):
        self.backend.credits_changed(self.workspace_id, units)


@pytest.fixture(params=["database", pytest.param("redis", marks=needs_redis)])
def backend(request, db):
    made = Backend(request.param, WorkspaceFactory().pk)
    yield made
    made.backend.reset()


def test_a_hold_counts_until_it_settles_to_the_actual_cost(backend):
    budget = _counter(limit=100)
    first = backend.reserve([(budget, 60)])
    assert first.allowed
    refused = backend.reserve([(budget, 50)])
    assert (refused.allowed, refused.refused_counter, refused.available) == (False, budget, 40)
    assert backend.settle(first.hold, {budget.key: 30}) == {}
    assert backend.reserve([(budget, 50)]).allowed  # 30 spent + 50 held
    assert not backend.reserve([(budget, 21)]).allowed
    assert backend.reserve([(budget, 20)]).allowed  # exactly the limit is allowed
    assert backend.seeded == [budget.key]  # seeded once, then kept by the backend


def test_counters_start_from_what_the_database_says_was_spent(backend):
    budget = _counter(limit=100)
    backend.seeds[budget.key] = (90, 0)
    assert not backend.reserve([(budget, 11)]).allowed
    assert backend.reserve([(budget, 10)]).allowed


def test_all_or_nothing_a_refusal_holds_nothing_anywhere(backend):
    roomy, tight = _counter("budget:1:x", limit=1000), _counter("budget:2:x", limit=10)
    assert not backend.reserve([(roomy, 50), (tight, 50)]).allowed
    assert backend.reserve([(roomy, 1000)]).allowed  # nothing of the refused call was held on `roomy`


def test_a_failed_call_settles_at_nothing(backend):
    budget = _counter(limit=100)
    hold = backend.reserve([(budget, 100)]).hold
    backend.settle(hold, {})
    assert backend.reserve([(budget, 100)]).allowed


def test_a_soft_quota_never_refuses_and_reports_what_went_past(backend):
    quota = _counter("quota:202611", QUOTA, limit=1000, soft=True)
    backend.seeds[quota.key] = (900, 0)
    first = backend.reserve([(quota, 500)])
    assert first.allowed
    assert backend.settle(first.hold, {quota.key: 300}) == {quota.key: 200}  # 900 → 1200: 200 past
    second = backend.reserve([(quota, 500)])
    assert second.allowed
    assert backend.settle(second.hold, {quota.key: 50}) == {quota.key: 50}  # all of it past now
    hard = _counter("quota:202612", QUOTA, limit=1000)
    backend.seeds[hard.key] = (990, 0)
    assert not backend.reserve([(hard, 11)]).allowed


def test_a_credit_balance_refuses_past_the_balance_and_follows_top_ups(backend):
    credits = _counter(CREDITS, CREDITS, limit=0)
    backend.seeds[credits.key] = (0, 100)
    hold = backend.reserve([(credits, 80)]).hold
    assert hold is not None
    assert not backend.reserve([(credits, 30)]).allowed
    backend.credits_changed(50)
    assert backend.reserve([(credits, 30)]).allowed  # 150 credit, 110 held
    backend.settle(hold, {credits.key: 80})
    refused = backend.reserve([(credits, 41)])
    assert (refused.allowed, refused.available) == (False, 40)


def test_rate_limits_count_requests_and_tokens_per_minute(backend):
    requests = RateLimit("rpm:key:1", REQUESTS, 3, "API key")
    tokens = RateLimit("tpm:key:1", TOKENS, 1000, "API key")
    for remaining in (2, 1, 0):
        admission = backend.reserve([], [(requests, 1), (tokens, 100)])
        assert admission.allowed
        assert [s.remaining for s in admission.rates] == [remaining, 1000 - 100 * (3 - remaining)]
        assert 0 < admission.rates[0].reset_seconds <= 60
    refused = backend.reserve([], [(requests, 1), (tokens, 100)])
    assert (refused.allowed, refused.refused_rate) == (False, requests)
    assert 0 < refused.retry_after <= 60


def test_settling_corrects_the_tokens_counted_per_minute(backend):
    tokens = RateLimit("tpm:key:2", TOKENS, 1000, "API key")
    budget = _counter(limit=10**9)
    hold = backend.reserve([(budget, 1)], [(tokens, 900)]).hold
    backend.settle(hold, {budget.key: 1}, tokens=100)  # 900 estimated, 100 used
    admission = backend.reserve([(budget, 1)], [(tokens, 800)])
    assert admission.allowed and admission.rates[0].remaining == 100


def test_the_hold_of_a_call_that_never_settles_is_released_when_it_expires(backend):
    budget = _counter(limit=100)
    assert backend.reserve([(budget, 100)], hold_seconds=0.3).allowed  # its worker dies: no settle
    assert not backend.reserve([(budget, 1)]).allowed
    time.sleep(0.4)
    assert backend.reserve([(budget, 100)]).allowed


def test_the_database_backend_keeps_counters_and_holds_in_rows(db):
    backend = Backend("database", WorkspaceFactory().pk)
    budget = _counter(limit=100)
    hold = backend.reserve([(budget, 60)]).hold
    row = SpendCounter.objects.get(key=f"w{backend.workspace_id}:{budget.key}")
    assert (row.reserved_usd, row.spent_usd) == (from_units(60), 0)
    assert Reservation.objects.filter(pk=hold.id).exists()
    backend.settle(hold, {budget.key: 25})
    row.refresh_from_db()
    assert (row.reserved_usd, row.spent_usd) == (0, from_units(25))
    assert not Reservation.objects.exists()  # settled holds are forgotten: the table stays small


@pytest.mark.parametrize("mode", [SILENT, CLOSE])
def test_a_redis_that_does_not_answer_makes_admission_unavailable_within_the_timeout(mode):
    budget = _counter()
    hold = Hold("a-hold", WORKSPACE, [(budget, 1)], [])

    async def scenario() -> list[float]:
        waited = []
        async with FakeRedis(mode) as fake:
            backend = RedisAdmission(fake.url(db=0))
            for call in (
                backend.reserve(WORKSPACE, [(budget, 1)], [], hold_seconds=60, seeder=lambda c: (0, 0)),
                backend.settle(hold, {budget.key: 1}, tokens=0),
            ):
                started = time.monotonic()
                with pytest.raises(AdmissionUnavailable):
                    await call
                waited.append(time.monotonic() - started)
        return waited

    assert all(w < REDIS_TIMEOUT_SECONDS + 0.25 for w in asyncio.run(scenario()))


def test_no_redis_at_all_makes_admission_unavailable():
    backend = RedisAdmission("redis://127.0.0.1:1/0")
    coroutine = backend.reserve(WORKSPACE, [(_counter(), 1)], [], hold_seconds=60, seeder=lambda c: (0, 0))
    with pytest.raises(AdmissionUnavailable):
        asyncio.run(coroutine)


OTHER_PROCESS = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    import django
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    from django.conf import settings
    from apps.billing.admission import BUDGET, REQUESTS, Counter, RateLimit, RedisAdmission

    spec = json.loads(sys.argv[1])
    backend = RedisAdmission(settings.REDIS_URL)
    budget = Counter(spec["key"], BUDGET, spec["limit"], time.time() + 3600, "budget", seed=(BUDGET,))
    rate = RateLimit(spec["key"] + ":rpm", REQUESTS, spec["rpm"], "API key")

    async def main():
        allowed = 0
        for _ in range(spec["calls"]):
            admission = await backend.reserve(
                spec["workspace"], [(budget, 1)], [(rate, 1)], hold_seconds=spec["hold"], seeder=lambda c: (0, 0)
            )
            if admission.allowed:
                allowed += 1
                if spec["settle"]:
                    await backend.settle(admission.hold, {budget.key: 1}, tokens=0)
        print(json.dumps({"allowed": allowed}), flush=True)
        if spec["hang"]:
            time.sleep(60)

    asyncio.run(main())
    """
)


def _other_process(**spec) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, json.dumps({"workspace": WORKSPACE, **spec})],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )


@needs_redis
def test_two_processes_share_one_budget_and_one_rate_limit_through_redis():
    RedisAdmission(settings.REDIS_URL).reset()
    spec = {"key": "budget:77:x", "limit": 150, "rpm": 10**6, "calls": 100, "hold": 60, "settle": True, "hang": False}
    both = [_other_process(**spec), _other_process(**spec)]
    allowed = [json.loads(p.stdout.readline())["allowed"] for p in both]
    assert [p.wait(30) for p in both] == [0, 0]
    assert sum(allowed) == 150 and min(allowed) > 0  # neither process saw more than the one budget

    spec.update(key="budget:78:x", limit=10**6, rpm=120)
    both = [_other_process(**spec), _other_process(**spec)]
    allowed = [json.loads(p.stdout.readline())["allowed"] for p in both]
    assert [p.wait(30) for p in both] == [0, 0]
    # One shared minute window (unless the minute turned over mid-run, which can only allow more).
    assert sum(allowed) == 120 or time.time() % 60 < 5


@needs_redis
def test_a_worker_killed_between_reserve_and_settle_holds_the_budget_only_until_the_expiry():
    here = Backend("redis")
    spec = {"key": "budget:79:x", "limit": 10, "rpm": 10**6, "calls": 10, "hold": 1.0, "settle": False, "hang": True}
    worker = _other_process(**spec)
    assert json.loads(worker.stdout.readline())["allowed"] == 10  # holds the whole budget, then hangs
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    budget = Counter(spec["key"], BUDGET, 10, time.time() + 3600, "budget", seed=(BUDGET,))
    assert not here.reserve([(budget, 1)]).allowed
    time.sleep(1.1)
    assert here.reserve([(budget, 10)]).allowed
