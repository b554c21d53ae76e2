"""The health tracker's rules, run against both backends (Redis only when REDIS_URL is set), on a controllable clock;
and two real processes sharing circuits through Redis."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from apps.routing.health import (
    CLIENT_ERROR_KINDS,
    CLOSED,
    HALF_OPEN,
    LATENCY_SAMPLE,
    OPEN,
    OPEN_SET_CACHE_SECONDS,
    HealthRules,
    LocalHealthTracker,
    RedisHealthTracker,
    is_provider_failure,
)
from apps.routing.health.redis_backend import REDIS_TIMEOUT_SECONDS
from tests.core.redis_fakes import SILENT, FakeRedis

MODEL, PROVIDER = "acme/model-1", "acme"
RULES = HealthRules(
    window_seconds=300,
    bucket_seconds=10,
    error_rate_threshold=0.2,
    min_requests=10,
    consecutive_failures=5,
    cooldown_seconds=30,
)
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):  # on a bucket edge
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_tracker(backend: str, clock: Clock, rules: HealthRules = RULES):
    if backend == "redis":
        # The cache's Redis database: tests/conftest.py empties it around every test.
        return RedisHealthTracker(settings.REDIS_URL, rules, clock=clock)
    return LocalHealthTracker(rules, clock=clock)


@pytest.fixture(params=["local", pytest.param("redis", marks=needs_redis)])
def tracker(request, clock):
    return make_tracker(request.param, clock)


def ok(tracker, n: int = 1, **timing) -> None:
    for _ in range(n):
        tracker.record_sync(MODEL, PROVIDER, ok=True, **timing)


def fail(tracker, n: int = 1, kind: str = "server_error", **timing) -> None:
    for _ in range(n):
        tracker.record_sync(MODEL, PROVIDER, ok=False, error_kind=kind, **timing)


def state(tracker) -> str:
    return next((s.circuit_state for s in tracker.snapshot_all() if s.model_id == MODEL), CLOSED)


def open_circuit(tracker) -> None:
    fail(tracker, RULES.consecutive_failures)
    assert tracker.admit_sync(MODEL).allowed is False


@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "overloaded", "timeout", "connection"])
def test_provider_failures_count_against_the_circuit(kind):
    assert is_provider_failure(kind)


@pytest.mark.parametrize("kind", [*sorted(CLIENT_ERROR_KINDS), "unknown", None])
def test_the_callers_errors_do_not(kind):
    assert not is_provider_failure(kind)


class TestOpening:
    def test_a_high_rate_below_the_minimum_requests_does_not_open(self, tracker):
        ok(tracker, 7)
        fail(tracker, 2, kind="rate_limit")
        assert tracker.admit_sync(MODEL).allowed is True  # 22% of 9 requests
        fail(tracker, kind="overloaded")
        admission = tracker.admit_sync(MODEL)  # 30% of 10
        assert (admission.allowed, admission.state, admission.retry_after) == (False, OPEN, 30.0)

    def test_the_rate_threshold_opens_once_reached(self, tracker):
        ok(tracker, 12)
        fail(tracker, 2, kind="timeout")
        assert tracker.admit_sync(MODEL).allowed is True  # 2/14 = 14%
        fail(tracker, kind="timeout")
        assert tracker.admit_sync(MODEL).state == OPEN  # 3/15 = exactly 20%

    def test_failures_in_a_row_open_and_a_success_breaks_the_run(self, tracker):
        ok(tracker, 40)
        fail(tracker, 4)
        ok(tracker)
        fail(tracker, 4)
        assert tracker.admit_sync(MODEL).allowed is True  # 8/49 = 16%, at most 4 in a row
        fail(tracker)
        assert tracker.admit_sync(MODEL).state == OPEN

    @pytest.mark.parametrize("kind", sorted(CLIENT_ERROR_KINDS))
    def test_client_errors_are_counted_but_never_trip_the_circuit(self, tracker, kind):
        fail(tracker, 20, kind=kind)
        assert tracker.admit_sync(MODEL).allowed is True
        [health] = tracker.snapshot_all()
        assert (health.requests, health.failures, health.error_rate) == (20, 0, 0.0)
        assert health.errors_by_kind == {kind: 20}

    def test_client_errors_do_not_break_a_run_of_failures(self, tracker):
        ok(tracker, 50)
        fail(tracker, 4)
        fail(tracker, kind="bad_request")
        fail(tracker)
        assert tracker.admit_sync(MODEL).state == OPEN


class TestProbing:
    def test_after_the_cooldown_exactly_one_probe_goes(self, tracker, clock):
        open_circuit(tracker)
        clock.advance(29.9)
        refused = tracker.admit_sync(MODEL)
        assert (refused.allowed, refused.state) == (False, OPEN)
        assert refused.retry_after == pytest.approx(0.1)
        assert asyncio.run(tracker.open_circuits()) == {MODEL: pytest.approx(0.1)}
        clock.advance(0.1)
        assert asyncio.run(tracker.open_circuits()) == {}  # offered to the router again, for the probe
        admissions = [tracker.admit_sync(MODEL) for _ in range(5)]
        assert [(a.allowed, a.state) for a in admissions] == [(True, HALF_OPEN)] + [(False, HALF_OPEN)] * 4
        assert state(tracker) == HALF_OPEN

    def test_a_successful_probe_closes_and_the_old_failures_do_not_reopen_it(self, tracker, clock):
        ok(tracker, 5)
        fail(tracker, 5)
        clock.advance(30)
        assert tracker.admit_sync(MODEL).allowed is True
        ok(tracker, latency_ms=200)
        assert tracker.admit_sync(MODEL).state == CLOSED
        fail(tracker, 4)  # the window still holds 5 failures of 11 requests, from before the circuit closed
        assert tracker.admit_sync(MODEL).allowed is True
        assert state(tracker) == CLOSED

    def test_a_failed_probe_reopens_for_a_fresh_cooldown(self, tracker, clock):
        open_circuit(tracker)
        clock.advance(30)
        assert tracker.admit_sync(MODEL).allowed is True
        clock.advance(2)
        fail(tracker, kind="connection")
        refused = tracker.admit_sync(MODEL)
        assert (refused.allowed, refused.state, refused.retry_after) == (False, OPEN, 30.0)
        clock.advance(30)
        probe = tracker.admit_sync(MODEL)
        assert (probe.allowed, probe.state) == (True, HALF_OPEN)

    def test_a_lost_probe_lets_another_through_after_one_cooldown(self, tracker, clock):
        open_circuit(tracker)
        clock.advance(30)
        assert tracker.admit_sync(MODEL).allowed is True
        clock.advance(29)
        assert tracker.admit_sync(MODEL).retry_after == pytest.approx(1.0)
        clock.advance(1)
        assert tracker.admit_sync(MODEL).allowed is True

    def test_a_probe_that_gets_a_client_error_lets_the_next_probe_go(self, tracker, clock):
        open_circuit(tracker)
        clock.advance(30)
        assert tracker.admit_sync(MODEL).allowed is True
        fail(tracker, kind="context_length")
        assert state(tracker) == HALF_OPEN
        assert tracker.admit_sync(MODEL).allowed is True

    def test_results_recorded_during_the_cooldown_leave_the_circuit_alone(self, tracker, clock):
        open_circuit(tracker)
        clock.advance(10)
        ok(tracker, 3)  # requests let through before it opened
        fail(tracker)
        refused = tracker.admit_sync(MODEL)
        assert (refused.state, refused.retry_after) == (OPEN, 20.0)


class TestForgetting:
    @pytest.mark.parametrize(("gap", "opens"), [(290, True), (300, False)])
    def test_the_rate_counts_only_the_window(self, tracker, clock, gap, opens):
        for _ in range(4):
            ok(tracker)
            fail(tracker)
        ok(tracker)  # 4 failures of 9 requests, never two in a row
        clock.advance(gap)
        fail(tracker)
        assert tracker.admit_sync(MODEL).allowed is not opens
        assert tracker.snapshot_all()[0].requests == (10 if opens else 1)

    @pytest.mark.parametrize(("gap", "opens"), [(339, True), (341, False)])
    def test_failures_in_a_row_stop_adding_up_after_a_silence(self, tracker, clock, gap, opens):
        assert RULES.retention_seconds == 340
        fail(tracker, 4)
        clock.advance(gap)
        fail(tracker)
        assert tracker.admit_sync(MODEL).allowed is not opens

    @pytest.mark.parametrize(("gap", "remembered"), [(30 + 310, True), (30 + 311, False)])
    def test_an_open_circuit_nobody_probes_is_forgotten_after_a_window(self, tracker, clock, gap, remembered):
        open_circuit(tracker)
        clock.advance(gap)
        assert state(tracker) == (HALF_OPEN if remembered else CLOSED)
        assert tracker.admit_sync(MODEL).state == (HALF_OPEN if remembered else CLOSED)
        if not remembered:
            assert tracker.snapshot_all() == []


class TestFigures:
    def test_snapshot(self, tracker, clock):
        ok(tracker, 100, latency_ms=None, ttft_ms=None)
        for latency in range(1, 101):
            ok(tracker, latency_ms=latency, ttft_ms=latency // 2)  # the bucket keeps the last 50: 51..100
        fail(tracker, 2, kind="rate_limit", latency_ms=90_000)  # failures add no latency sample
        fail(tracker, kind="auth")
        clock.advance(10)
        tracker.record_sync("other/model", "other", ok=True, latency_ms=7)
        [health, other] = tracker.snapshot_all()
        assert health.model_id == MODEL and health.provider_slug == PROVIDER
        assert (health.requests, health.successes, health.failures) == (203, 200, 2)
        assert health.errors_by_kind == {"rate_limit": 2, "auth": 1}
        assert health.error_rate == pytest.approx(2 / 203)
        assert LATENCY_SAMPLE == 50
        assert (health.latency_p50_ms, health.latency_p95_ms, health.ttft_p50_ms) == (75, 98, 37)
        assert (health.circuit_state, health.circuit_opened_at, health.consecutive_failures) == (CLOSED, None, 2)
        assert health.window_seconds == 300
        assert (other.model_id, other.provider_slug, other.latency_p50_ms, other.ttft_p50_ms) == (
            "other/model",
            "other",
            7,
            None,
        )

    def test_an_open_circuit_shows_when_it_opened(self, tracker, clock):
        open_circuit(tracker)
        [health] = tracker.snapshot_all()
        assert health.circuit_state == OPEN
        assert health.circuit_opened_at.timestamp() == clock.now


@pytest.mark.parametrize("backend", ["local", pytest.param("redis", marks=needs_redis)])
def test_the_async_interface(backend, clock):
    tracker = make_tracker(backend, clock)

    async def scenario() -> list:
        seen = [await tracker.admit(MODEL)]
        for _ in range(5):
            await tracker.record(MODEL, PROVIDER, ok=False, error_kind="overloaded", latency_ms=5)
        seen += [await tracker.admit(MODEL), await tracker.open_circuits()]
        clock.advance(30)
        seen += [await tracker.admit(MODEL), await tracker.admit(MODEL)]
        await tracker.record(MODEL, PROVIDER, ok=True, latency_ms=120, ttft_ms=40)
        seen.append(await tracker.admit(MODEL))
        return seen

    closed, opened, open_set, probe, refused, closed_again = asyncio.run(scenario())
    assert (closed.allowed, closed.state) == (True, CLOSED)
    assert (opened.allowed, opened.state, opened.retry_after) == (False, OPEN, 30.0)
    assert open_set == {MODEL: 30.0}
    assert (probe.allowed, probe.state) == (True, HALF_OPEN)
    assert (refused.allowed, refused.state) == (False, HALF_OPEN)
    assert (closed_again.allowed, closed_again.state) == (True, CLOSED)
    assert tracker.snapshot_all()[0].latency_p50_ms == 120


@needs_redis
class TestRedis:
    def test_every_key_expires(self, clock):
        tracker = make_tracker("redis", clock)
        ok(tracker, latency_ms=10)
        open_circuit(tracker)
        clock.advance(30)
        tracker.admit_sync(MODEL)  # takes the probe lease
        keys = tracker._client.keys(f"{tracker.prefix}*")
        assert {k.split(":")[2] for k in keys} == {"b", "c", "open", "probe", "models"}
        assert all(0 < tracker._client.ttl(k) <= RULES.retention_seconds for k in keys)

    def test_a_fresh_copy_of_the_open_set_answers_without_redis(self, clock):
        tracker = make_tracker("redis", clock)
        open_circuit(tracker)
        tracker._admit_script = None  # any call to Redis would now fail
        assert tracker.admit_sync("acme/healthy").allowed is True
        assert tracker.admit_sync(MODEL).state == OPEN

    def test_another_process_sees_a_circuit_within_the_cache_period(self, clock):
        first, second = make_tracker("redis", clock), make_tracker("redis", clock)
        assert second.admit_sync(MODEL).allowed is True  # its copy of the open set is now fresh
        open_circuit(first)
        assert second.admit_sync(MODEL).allowed is True  # stale by design, for at most the cache period
        clock.advance(OPEN_SET_CACHE_SECONDS)
        assert second.admit_sync(MODEL).state == OPEN
        clock.advance(30)
        assert [second.admit_sync(MODEL).allowed, first.admit_sync(MODEL).allowed] == [True, False]
        second.record_sync(MODEL, PROVIDER, ok=True)
        clock.advance(OPEN_SET_CACHE_SECONDS)
        assert first.admit_sync(MODEL).state == CLOSED


def test_an_unreachable_redis_lets_requests_through(clock, caplog):
    tracker = RedisHealthTracker("redis://127.0.0.1:1/0", RULES, clock=clock)

    async def scenario() -> tuple:
        await tracker.record(MODEL, PROVIDER, ok=False, error_kind="timeout")
        return await tracker.admit(MODEL), await tracker.open_circuits()

    admission, open_set = asyncio.run(scenario())
    assert (admission.allowed, open_set) == (True, {})
    assert "Redis unavailable" in caplog.text


def test_a_redis_that_does_not_answer_lets_requests_through_within_the_timeout(clock, caplog):
    async def scenario() -> tuple:
        async with FakeRedis(SILENT) as fake:
            tracker = RedisHealthTracker(fake.url(db=0), RULES, clock=clock)
            started = time.monotonic()
            admission = await tracker.admit(MODEL)
            return admission, time.monotonic() - started

    admission, waited = asyncio.run(scenario())
    assert admission.allowed is True and waited < REDIS_TIMEOUT_SECONDS + 0.25
    assert "Redis unavailable" in caplog.text


# --- two processes -----------------------------------------------------------------------------------------------

WORKER = """
import json, sys
import django
django.setup()
from apps.routing.health import HealthRules, RedisHealthTracker
from django.conf import settings
tracker = RedisHealthTracker(settings.REDIS_URL, HealthRules(**json.loads(sys.argv[1])))
for line in sys.stdin:
    command = json.loads(line)
    if command["do"] == "admit":
        a = tracker.admit_sync(command["model"])
        reply = {"allowed": a.allowed, "state": a.state}
    else:
        tracker.record_sync(command["model"], "acme", ok=command["ok"], error_kind=command.get("kind"))
        reply = {}
    print(json.dumps(reply), flush=True)
"""


class OtherProcess:
    def __init__(self, rules: HealthRules):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "REDIS_URL": settings.REDIS_URL}
        rules_json = json.dumps({f: getattr(rules, f) for f in rules.__dataclass_fields__})
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, rules_json],
            cwd=Path(settings.BASE_DIR),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        assert self.process.wait(30) == 0


def until(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


@needs_redis
def test_two_processes_share_circuits_and_the_probe_through_redis():
    rules = HealthRules(cooldown_seconds=1.0)
    here = RedisHealthTracker(settings.REDIS_URL, rules)
    other = OtherProcess(rules)
    try:
        assert here.admit_sync(MODEL).allowed is True  # this process's copy of the open set says closed
        for _ in range(rules.consecutive_failures):
            other.send(do="record", model=MODEL, ok=False, kind="server_error")
        assert other.send(do="admit", model=MODEL) == {"allowed": False, "state": OPEN}
        # Seen here within the cache period.
        assert until(lambda: not here.admit_sync(MODEL).allowed, OPEN_SET_CACHE_SECONDS + 0.1)

        # After the cooldown this process takes the probe; the other one is refused.
        assert until(lambda: here.admit_sync(MODEL).allowed, rules.cooldown_seconds + 0.5)
        assert other.send(do="admit", model=MODEL) == {"allowed": False, "state": HALF_OPEN}

        # The probe fails here; after a fresh cooldown the other process takes the next probe, and this one waits.
        here.record_sync(MODEL, PROVIDER, ok=False, error_kind="timeout")
        assert other.send(do="admit", model=MODEL) == {"allowed": False, "state": OPEN}
        time.sleep(rules.cooldown_seconds)
        assert other.send(do="admit", model=MODEL) == {"allowed": True, "state": HALF_OPEN}
        refused = here.admit_sync(MODEL)
        assert (refused.allowed, refused.state) == (False, HALF_OPEN)

        # Its probe succeeds: closed for both.
        other.send(do="record", model=MODEL, ok=True)
        assert other.send(do="admit", model=MODEL) == {"allowed": True, "state": CLOSED}
        assert until(lambda: here.admit_sync(MODEL).state == CLOSED, OPEN_SET_CACHE_SECONDS + 0.1)
    finally:
        other.close()
