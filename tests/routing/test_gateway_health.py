"""Circuit breakers in the request path: a failing model's circuit opens, the router skips it, one probe goes
through after the cooldown, and a success closes it."""

import asyncio
import contextlib
import time

import httpx
import openai
import pytest

from apps.analytics.models import ModelHealth
from apps.core.embedded_beat import run_beat_forever
from apps.routing.health import health_tracker, health_tracker_reset
from tests.catalog.factories import ModelFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, AgentFallbackFactory

HELLO = [{"role": "user", "content": "Hi"}]
PRIMARY = "openai/gpt-4o-mini"


@pytest.fixture
def circuits(gateway, settings):
    settings.HEALTH_CONSECUTIVE_FAILURES = 3
    settings.HEALTH_COOLDOWN_SECONDS = 1.0
    health_tracker_reset()  # the tracker reads its rules when it is made
    return gateway


def client(gateway, secret=None):
    return openai.OpenAI(base_url=gateway.v1, api_key=secret or gateway.secret, max_retries=0)


def fail(gateway, upstream: str, fault: str = "500", times: int = 100) -> None:
    httpx.post(f"{gateway.mock.url}/_mock/rules", json={"model": upstream, "fault": fault, "times": times})


def heal(gateway) -> None:
    httpx.delete(f"{gateway.mock.url}/_mock/rules")


def upstream_calls(gateway, upstream: str) -> int:
    requests = httpx.get(f"{gateway.mock.url}/_mock/requests").json()["requests"]
    return sum(1 for r in requests if r["model"] == upstream)


def route(gateway, model: str = PRIMARY, secret=None) -> dict:
    return httpx.post(
        f"{gateway.v1}/route",
        json={"model": model, "messages": HELLO},
        headers={"authorization": f"Bearer {secret or gateway.secret}"},
    ).json()


def until(check, timeout: float = 3.0):
    """Outcomes are recorded just after each response: wait for the tracker to have seen them."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return result


def open_circuit(gateway) -> None:
    fail(gateway, "gpt-4o-mini")
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            client(gateway).chat.completions.create(model=PRIMARY, messages=HELLO)
    until(lambda: any(e["code"] == "circuit_open" for e in route(gateway)["excluded"]))


def test_the_circuit_opens_refuses_fast_probes_after_the_cooldown_and_closes(circuits):
    gateway = circuits
    open_circuit(gateway)
    calls = upstream_calls(gateway, "gpt-4o-mini")

    with pytest.raises(openai.APIStatusError) as refused:
        client(gateway).chat.completions.create(model=PRIMARY, messages=HELLO)
    assert refused.value.status_code == 503 and refused.value.body["code"] == "model_unavailable"
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert upstream_calls(gateway, "gpt-4o-mini") == calls  # refused without calling the provider

    heal(gateway)
    time.sleep(1.1)  # the cooldown
    assert route(gateway)["chain"] == [PRIMARY]  # offered again: the next call is the probe
    probe = client(gateway).chat.completions.create(model=PRIMARY, messages=HELLO)
    assert probe.model == PRIMARY
    until(lambda: route(gateway)["excluded"] == [])
    assert client(gateway).chat.completions.create(model=PRIMARY, messages=HELLO).model == PRIMARY


def test_a_failed_probe_opens_the_circuit_again(circuits):
    gateway = circuits
    open_circuit(gateway)
    time.sleep(1.1)
    with pytest.raises(openai.InternalServerError):  # the probe, still failing
        client(gateway).chat.completions.create(model=PRIMARY, messages=HELLO)
    until(lambda: any(e["code"] == "circuit_open" for e in route(gateway)["excluded"]))


def test_an_open_circuit_sends_the_agent_straight_to_its_fallback(circuits):
    gateway = circuits
    agent = AgentFactory(workspace=gateway.workspace, primary_model=gateway.models[PRIMARY])
    AgentFallbackFactory(agent=agent, model=gateway.models["anthropic/claude-haiku-4-5"], position=1)
    _, secret = ApiKeyFactory.create_with_secret(workspace=gateway.workspace, agent=agent)
    open_circuit(gateway)
    calls = upstream_calls(gateway, "gpt-4o-mini")

    completion = client(gateway, secret).chat.completions.create(model=PRIMARY, messages=HELLO)

    assert completion.model == "anthropic/claude-haiku-4-5"
    assert upstream_calls(gateway, "gpt-4o-mini") == calls
    record = gateway.record(completion.id)
    assert [a["model"] for a in record.attempts] == ["anthropic/claude-haiku-4-5"]
    assert {"model": PRIMARY, "code": "circuit_open", "reason": "Its circuit is open after recent errors."} in (
        record.routing["excluded"]
    )


def test_auto_routes_around_an_open_circuit(circuits):
    gateway = circuits
    open_circuit(gateway)
    decision = route(gateway, "auto:eco")
    assert PRIMARY not in decision["chain"] and decision["chain"]


def test_callers_errors_do_not_open_the_circuit(circuits):
    gateway = circuits
    fail(gateway, "gpt-4o-mini", fault="context")  # a prompt too long is the caller's error
    for _ in range(4):
        with pytest.raises(openai.BadRequestError):
            client(gateway).chat.completions.create(model=PRIMARY, messages=HELLO)
    heal(gateway)
    time.sleep(0.1)
    assert route(gateway)["excluded"] == []


@pytest.mark.django_db(transaction=True)
def test_the_embedded_mode_rolls_its_own_health_figures_up(settings, monkeypatch):
    settings.REDIS_URL = ""
    monkeypatch.setattr("apps.core.embedded_beat.TICK_SECONDS", 0.01)
    settings.CELERY_BEAT_SCHEDULE = {
        "health-rollup": {**settings.CELERY_BEAT_SCHEDULE["health-rollup"], "schedule": 0.05}
    }
    health_tracker_reset()
    model = ModelFactory(model_id="acme/local-figures")
    health_tracker().record_sync("acme/local-figures", "acme", ok=True, latency_ms=120)

    async def run_briefly():
        task = asyncio.create_task(run_beat_forever())
        await asyncio.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run_briefly())
    health = ModelHealth.objects.get(model=model)
    assert (health.requests, health.successes, health.latency_p50_ms) == (1, 1, 120)
    health_tracker_reset()
