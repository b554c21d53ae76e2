"""GET /api/analytics/llm/recommendations through DRF's test client: figures worked out by hand on a small catalog
and traffic, each rule that keeps a model from being suggested, bad input, and the caller's workspace only."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.analytics.models import UsageRollup
from apps.analytics.recommendations import Period, _traffic, usage_recommendations
from apps.analytics.rollups import usage_rollup_build
from apps.routing.prompt_analysis import TASKS
from tests.analytics.factories import ModelHealthFactory, UsageRecordFactory
from tests.catalog.factories import ModelFactory, ProviderFactory, TaskScoreFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import (
    AgentFactory,
    InstalledModelFactory,
    MembershipFactory,
    PlanFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/analytics/llm/recommendations"
M = Decimal("0.000001")  # $1 per 1M tokens, as a price per token


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme-ws", plan=PlanFactory(model_access="all"))


@pytest.fixture
def client(workspace) -> APIClient:
    client = APIClient()
    client.force_login(MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user)
    return client


def model(name: str, *, price_in: str, price_out: str, quality: str, code: str | None = None, **kwargs):
    created = ModelFactory(
        provider=ProviderFactory(slug="acme"),
        upstream_name=name,
        input_price=Decimal(price_in) * M,
        output_price=Decimal(price_out) * M,
        quality_score=Decimal(quality),
        **kwargs,
    )
    if code is not None:
        TaskScoreFactory(model=created, task="code", score=Decimal(code))
    return created


@pytest.fixture
def catalog() -> dict:
    return {
        "big": model("big", price_in="3", price_out="15", quality="0.85", code="0.80", context_window=200_000),
        "coder": model("coder", price_in="0.50", price_out="1.50", quality="0.60", code="0.90", context_window=64_000),
        # cheaper than coder, but each falls short on one rule: quality, tools (big has them), context (15,000 asked)
        "mini": model("mini", price_in="0.15", price_out="0.60", quality="0.55", code="0.50"),
        "notools": model("notools", price_in="0.1", price_out="0.1", quality="0.9", code="0.95", supports_tools=False),
        "tinyctx": model("tinyctx", price_in="0.1", price_out="0.1", quality="0.9", code="0.95", context_window=10_000),
        "flaky": model("flaky", price_in="0.01", price_out="0.01", quality="0.5"),
        "shaky": model("shaky", price_in="1", price_out="1", quality="0.5"),
        "idle": model("idle", price_in="1", price_out="1", quality="0.5"),
    }


def record(workspace, model, *, days_ago: float = 1, **kwargs):
    return UsageRecordFactory(
        workspace=workspace, model=model, created_at=timezone.now() - timedelta(days=days_ago), **kwargs
    )


@pytest.fixture(params=["rolled up", "not rolled up yet"])
def traffic(request, workspace, catalog):
    """Agent "Coder Bot" sends 10 requests of 10,000 + 5,000 tokens to big (8 analysed as 75 % code, 25 % chat, one
    only named code, one not analysed: 70 % code, 20 % chat, 10 % unknown); requests without
    an agent go to flaky (2 of 20 fail); shaky fails a quarter of its requests across Switchyard; idle is unused.

    Each test runs twice: once with the hourly rollup job run over the traffic (the recommendations read its rows),
    once before it ran (they read the records of the hours it has not read yet), to the same results."""
    agent = AgentFactory(workspace=workspace, slug="coder-bot", name="Coder Bot", primary_model=catalog["big"])
    for name in ("big", "flaky", "shaky", "idle"):
        InstalledModelFactory(workspace=workspace, model=catalog[name])
    for n in range(10):
        routing = {"task": "code", "task_scores": {"code": 0.75, "chat": 0.25}} if n < 8 else {}
        if n == 8:
            routing = {"task": "code", "task_scores": None}
        record(
            workspace,
            catalog["big"],
            agent=agent,
            prompt_tokens=10_000,
            completion_tokens=5_000,
            cost_usd=Decimal("0.105"),
            routing=routing,
        )
    for n in range(20):
        record(workspace, catalog["flaky"], status="error" if n < 2 else "success")
    # before the period asked for, in the last 30 days
    record(workspace, catalog["big"], agent=agent, days_ago=20, prompt_tokens=50_000, routing={"task": "code"})
    ModelHealthFactory(model=catalog["shaky"], requests=100, successes=75, error_rate=Decimal("0.25"))
    if request.param == "rolled up":
        usage_rollup_build()
    return agent


def test_recommendations_worked_out_by_hand(client, traffic):
    response = client.get(URL, {"days": 15})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 5
    assert body["period"]["days"] == 15
    kinds = [(r["kind"], r["model"]) for r in body["results"]]
    assert kinds == [
        ("cheaper_model", "acme/big"),
        ("high_error_rate", "acme/shaky"),  # the highest rate first
        ("high_error_rate", "acme/flaky"),
        ("unused_model", "acme/idle"),
        ("unused_model", "acme/shaky"),
    ]

    cheaper = body["results"][0]
    assert cheaper["suggested_model"] == "acme/coder"
    assert cheaper["suggested_installed"] is False
    assert cheaper["agent"] == {"id": traffic.pk, "slug": "coder-bot", "name": "Coder Bot"}
    figures = cheaper["figures"]
    # big: 10 × (10,000 × $3/M + 5,000 × $15/M) = $1.05; coder: 10 × (10,000 × $0.50/M + 5,000 × $1.50/M) = $0.125
    assert figures["current_cost_usd"] == "1.05"
    assert figures["suggested_cost_usd"] == "0.125"
    assert figures["spend_usd"] == "1.05"
    assert figures["monthly_saving_usd"] == "1.85"  # $0.925 in 15 days, twice that in 30
    assert figures["saving_percent"] == "88.1"
    # quality, where a task has no score the overall one: big 0.7×0.80 + 0.3×0.85, coder 0.7×0.90 + 0.3×0.60
    assert figures["task_mix"] == {"chat": "0.2", "code": "0.7", "unknown": "0.1"}
    assert figures["current_quality"] == "0.815"
    assert figures["suggested_quality"] == "0.81"
    assert (figures["requests"], figures["prompt_tokens"], figures["completion_tokens"]) == (10, 100_000, 50_000)
    assert "Coder Bot" in cheaper["message"] and "acme/coder" in cheaper["message"] and "$1.85" in cheaper["message"]

    shaky, flaky = body["results"][1]["figures"], body["results"][2]["figures"]
    assert (shaky["health_error_rate"], shaky["health_requests"], shaky["requests"]) == ("0.25", 100, 0)
    assert (flaky["requests"], flaky["errors"], flaky["error_rate"], flaky["health_error_rate"]) == (20, 2, "0.1", None)
    assert "2 of your 20 requests" in body["results"][2]["message"]
    assert body["results"][1]["suggested_installed"] is None
    assert body["results"][3]["figures"]["requests"] == 0
    assert body["results"][3]["figures"]["installed_at"] is not None


def test_the_period_is_what_was_asked(client, workspace, traffic, catalog):
    """Over 30 days the older request counts too: 50,000 more prompt tokens on big."""
    InstalledModelFactory(workspace=workspace, model=catalog["coder"])
    cheaper = client.get(URL, {"kind": "cheaper_model"}).json()["results"][0]
    assert (cheaper["suggested_model"], cheaper["suggested_installed"]) == ("acme/coder", True)
    figures = cheaper["figures"]
    assert figures["requests"] == 11
    assert figures["prompt_tokens"] == 150_000
    assert figures["task_mix"] == {"chat": "0.1818", "code": "0.7273", "unknown": "0.0909"}


def test_filter_by_kind(client, traffic):
    body = client.get(URL, {"kind": "unused_model"}).json()
    assert [(r["kind"], r["model"]) for r in body["results"]] == [
        ("unused_model", "acme/idle"),
        ("unused_model", "acme/shaky"),
    ]


def test_no_suggestion_below_the_quality_tolerance(client, traffic, settings):
    """coder's 0.81 is within 0.02 of big's 0.815, not within 0.001."""
    settings.RECOMMENDATION_QUALITY_TOLERANCE = 0.001
    assert client.get(URL, {"days": 15, "kind": "cheaper_model"}).json()["results"] == []


def test_no_suggestion_below_the_minimum_saving(client, traffic, settings):
    settings.RECOMMENDATION_MIN_SAVING_PERCENT = 90
    assert client.get(URL, {"days": 15, "kind": "cheaper_model"}).json()["results"] == []


def test_a_model_behind_an_open_circuit_or_off_the_plan_is_not_suggested(client, workspace, traffic, catalog):
    ModelHealthFactory(model=catalog["coder"], requests=0, error_rate=0, circuit_state="open")
    assert client.get(URL, {"days": 15, "kind": "cheaper_model"}).json()["results"] == []

    catalog["coder"].health.delete()
    workspace.plan.model_access = "default"  # neither installed by default nor chosen for the plan
    workspace.plan.save()
    assert client.get(URL, {"days": 15, "kind": "cheaper_model"}).json()["results"] == []


def test_error_rate_threshold_and_minimum_requests(client, traffic, settings):
    settings.RECOMMENDATION_MIN_REQUESTS = 21  # flaky had 20 requests
    assert [r["model"] for r in client.get(URL, {"kind": "high_error_rate"}).json()["results"]] == ["acme/shaky"]
    settings.RECOMMENDATION_MIN_REQUESTS = 20
    settings.RECOMMENDATION_ERROR_RATE_THRESHOLD = 0.3
    assert client.get(URL, {"kind": "high_error_rate"}).json()["results"] == []


def test_pages(client, traffic):
    body = client.get(URL, {"days": 15, "page_size": 2, "page": 2}).json()
    assert body["count"] == 5
    assert [r["model"] for r in body["results"]] == ["acme/flaky", "acme/idle"]
    assert body["next"] and body["previous"]


def test_an_api_key_reads_its_workspace(workspace, traffic):
    _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
    as_key = APIClient()
    as_key.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = as_key.get(URL, {"days": 15})
    assert response.status_code == 200
    assert response.json()["count"] == 5


def test_another_workspace_sees_only_its_own(client, workspace, traffic, catalog):
    other = WorkspaceFactory(slug="other-ws", plan=workspace.plan)
    other_agent = AgentFactory(workspace=other, slug="their-bot", name="Their Bot")
    InstalledModelFactory(workspace=other, model=catalog["mini"])
    for _ in range(30):
        record(other, catalog["big"], agent=other_agent, status="error")
    theirs = APIClient()
    theirs.force_login(MembershipFactory(workspace=other).user)
    body = theirs.get(URL, {"days": 15}).json()
    assert [(r["kind"], r["model"]) for r in body["results"]] == [
        ("cheaper_model", "acme/big"),
        ("high_error_rate", "acme/big"),  # 30 of 30 failed: only its own traffic
        ("unused_model", "acme/mini"),  # not shaky: their workspace neither installed nor called it
    ]
    assert body["results"][0]["agent"]["slug"] == "their-bot"
    assert body["results"][0]["figures"]["requests"] == 30
    assert body["results"][1]["figures"]["requests"] == 30

    mine = client.get(URL, {"days": 15}).json()
    assert "Their Bot" not in str(mine) and "acme/mini" not in str(mine)
    assert [r["model"] for r in mine["results"] if r["kind"] == "high_error_rate"] == ["acme/shaky", "acme/flaky"]
    # naming a workspace one is not a member of is refused
    response = client.get(URL, HTTP_X_SWITCHYARD_WORKSPACE="other-ws")
    assert response.status_code == 403
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": 91}, "days"),
        ({"days": "soon"}, "days"),
        ({"kind": "everything"}, "kind"),
        ({"agent": "coder-bot"}, "agent"),
        ({"page_size": 500}, "page_size"),
    ],
)
def test_bad_input_names_the_parameter(client, params, field):
    response = client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"Invalid input: {field}:")
    assert field in response.json()["extra"]["fields"]


def test_signed_out_is_refused():
    response = APIClient().get(URL)
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"message", "extra"}


def test_queries_do_not_grow_with_the_traffic(client, traffic, catalog, workspace, django_assert_num_queries):
    for name in ("mini", "coder"):
        for _ in range(5):
            record(workspace, catalog[name], agent=AgentFactory(workspace=workspace))
    # session, user, membership; hours not rolled up yet, rollups, records of the rest; current models, candidates,
    # task scores, agents, installed; installed, health (error rates); unused installed models
    with django_assert_num_queries(14):
        assert client.get(URL).status_code == 200


def requests_per_model(workspace, **kwargs) -> dict[str, int]:
    """Every model's requests in the period, as the error-rate figures show them (any rate counts here)."""
    found = usage_recommendations(workspace=workspace, kind="high_error_rate", **kwargs).results
    return {r.model: r.figures.requests for r in found}


def test_the_period_ends_inside_hours_yet_counts_records_not_hours(workspace, catalog, settings):
    """Rollup rows are whole UTC hours: the part-hours at each end of the period are read from their records."""
    settings.RECOMMENDATION_MIN_REQUESTS, settings.RECOMMENDATION_ERROR_RATE_THRESHOLD = 1, 0
    now = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)
    for moment in (
        datetime(2026, 11, 9, 12, 10, tzinfo=UTC),  # before the period, in the hour it starts in
        datetime(2026, 11, 9, 12, 50, tzinfo=UTC),
        datetime(2026, 11, 9, 18, 0, tzinfo=UTC),
        datetime(2026, 11, 10, 12, 20, tzinfo=UTC),
        datetime(2026, 11, 10, 12, 40, tzinfo=UTC),  # after its end, in the hour it ends in
    ):
        UsageRecordFactory(workspace=workspace, model=catalog["flaky"], created_at=moment)
    assert requests_per_model(workspace, days=1, now=now) == {"acme/flaky": 3}
    usage_rollup_build()
    assert requests_per_model(workspace, days=1, now=now) == {"acme/flaky": 3}


def test_a_record_the_rollup_has_not_read_yet_counts_once(client, workspace, traffic, catalog):
    UsageRecordFactory(
        workspace=workspace, model=catalog["flaky"], status="error", created_at=timezone.now() - timedelta(days=1)
    )
    for _ in range(2):  # before the rollup job reads it, then after
        flaky = client.get(URL, {"kind": "high_error_rate"}).json()["results"][1]["figures"]
        assert (flaky["requests"], flaky["errors"]) == (21, 3)
        usage_rollup_build()


def test_rollups_from_before_the_task_mix_count_as_unknown_tasks(workspace, catalog, traffic):
    """Rows rolled up before the rollups kept the task mix and largest request hold 0 there: their requests count at
    the model's overall quality and their token sums bound the largest request (a rebuild makes them exact)."""
    usage_rollup_build()
    columns = [f"task_{task}" for task in (*TASKS, "unknown")]
    UsageRollup.objects.update(**dict.fromkeys([*columns, "largest_prompt_tokens", "largest_completion_tokens"], 0))
    period = Period(start=timezone.now() - timedelta(days=15), end=timezone.now(), days=15)
    (big,) = [group for group in _traffic(workspace=workspace, period=period) if group.model_name == "acme/big"]
    assert big.tasks == {"unknown": 10}
    rows = UsageRollup.objects.filter(model_name="acme/big", hour__gte=period.start)
    assert big.largest_request == max(row.prompt_tokens for row in rows) + max(row.completion_tokens for row in rows)

    call_command("rollup_usage", "--since", (period.start - timedelta(days=1)).isoformat(), stdout=StringIO())
    (big,) = [group for group in _traffic(workspace=workspace, period=period) if group.model_name == "acme/big"]
    assert (big.tasks, big.largest_request) == ({"code": 7, "chat": 2, "unknown": 1}, 15_000)
