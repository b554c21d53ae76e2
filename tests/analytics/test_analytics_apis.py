"""/api/analytics/llm/usage, /costs and /summary through DRF's test client: what they sum from the rollups, periods
and timezones, groupings and their labels, pagination, bad input, and workspace scoping."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.analytics.models import UsageRollup
from apps.analytics.rollups import usage_rollup_build
from tests.analytics.factories import UsageRecordFactory, UsageRollupFactory
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

USAGE = "/api/analytics/llm/usage"
COSTS = "/api/analytics/llm/costs"
SUMMARY = "/api/analytics/llm/summary"
UTC = datetime.UTC
NOV = {"start": "2026-11-01", "end": "2026-11-30"}


def at(day: int, hour: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def client(workspace) -> APIClient:
    client = APIClient()
    client.force_login(MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user)
    return client


@pytest.fixture
def other():
    """Another workspace with usage of its own in the same hours, which must never show."""
    workspace = WorkspaceFactory(slug="rival")
    UsageRollupFactory(workspace=workspace, hour=at(3, 10), model_name="m/shared", requests=1000, cost_usd=99)
    UsageRollupFactory(
        workspace=workspace, hour=at(3, 10), model_name="m/theirs", agent=AgentFactory(workspace=workspace)
    )
    return workspace


def rollup(workspace, hour, model="m/a", **fields) -> UsageRollup:
    defaults = {"requests": 10, "errors": 0, "prompt_tokens": 1000, "completion_tokens": 100, "cost_usd": Decimal("1")}
    return UsageRollupFactory(
        workspace=workspace, hour=hour, model_name=model, provider_slug=model.split("/")[0], **{**defaults, **fields}
    )


def get(client, url: str, **params):
    response = client.get(url, params)
    assert response["Content-Type"] == "application/json"
    return response


class TestUsage:
    def test_per_day_and_model_oldest_first(self, client, workspace, other):
        rollup(workspace, at(3, 10), "m/a", cost_usd=Decimal("0.25"))
        rollup(workspace, at(3, 22), "m/a", requests=5, errors=2, cost_usd=Decimal("0.5"))
        rollup(workspace, at(3, 10), "m/shared", requests=1, prompt_tokens=7, completion_tokens=3)
        rollup(workspace, at(1, 0), "m/a")
        rollup(workspace, at(30, 23), "m/a", requests=4)
        rollup(workspace, at(1) - datetime.timedelta(hours=1), "m/a", requests=500)  # Oct 31: outside

        response = get(client, USAGE, **NOV)

        assert response.status_code == 200
        body = response.json()
        assert body["period"] == {"start": "2026-11-01", "end": "2026-11-30", "days": 30, "timezone": "UTC"}
        assert (body["count"], body["group_by"], body["interval"]) == (4, "model", "day")
        assert [(p["bucket"], p["key"], p["requests"]) for p in body["results"]] == [
            ("2026-11-01T00:00:00Z", "m/a", 10),
            ("2026-11-03T00:00:00Z", "m/a", 15),
            ("2026-11-03T00:00:00Z", "m/shared", 1),
            ("2026-11-30T00:00:00Z", "m/a", 4),
        ]
        nov3 = body["results"][1]
        assert nov3 == {
            "key": "m/a",
            "label": "m/a",
            "bucket": "2026-11-03T00:00:00Z",
            "requests": 15,
            "errors": 2,
            "prompt_tokens": 2000,
            "completion_tokens": 200,
            "total_tokens": 2200,
            "cost_usd": "0.75",
        }

    def test_per_hour_in_the_workspace_timezone(self, client, workspace):
        workspace.timezone = "Europe/Paris"  # UTC+1 in November
        workspace.save()
        rollup(workspace, at(2, 23), "m/a")  # Nov 3, 00:00 in Paris
        rollup(workspace, at(3, 22), "m/a")  # Nov 3, 23:00 in Paris
        rollup(workspace, at(3, 23), "m/a", requests=3)  # Nov 4 in Paris: outside

        hours = get(client, USAGE, start="2026-11-03", end="2026-11-03", interval="hour").json()
        days = get(client, USAGE, start="2026-11-03", end="2026-11-03").json()

        assert [(p["bucket"], p["requests"]) for p in hours["results"]] == [
            ("2026-11-03T00:00:00+01:00", 10),
            ("2026-11-03T23:00:00+01:00", 10),
        ]
        assert [(p["bucket"], p["requests"]) for p in days["results"]] == [("2026-11-03T00:00:00+01:00", 20)]
        assert days["period"]["timezone"] == "Europe/Paris"

    def test_grouped_by_agent_with_labels_and_none(self, client, workspace):
        agent = AgentFactory(workspace=workspace, slug="support-bot")
        rollup(workspace, at(3), agent=agent, requests=2)
        rollup(workspace, at(3), "m/b", agent=agent, requests=3)
        rollup(workspace, at(3), requests=7)

        body = get(client, USAGE, group_by="agent", **NOV).json()

        assert sorted(((p["key"], p["label"], p["requests"]) for p in body["results"]), key=repr) == [
            (str(agent.pk), "support-bot", 5),
            (None, None, 7),
        ]

    def test_pages(self, client, workspace):
        for day in range(1, 6):
            rollup(workspace, at(day), "m/a")
        first = get(client, USAGE, page_size=2, **NOV).json()
        last = get(client, USAGE, page_size=2, page=3, **NOV).json()

        assert first["count"] == 5 and first["next"] and first["previous"] is None
        assert [p["bucket"][:10] for p in first["results"]] == ["2026-11-01", "2026-11-02"]
        assert [p["bucket"][:10] for p in last["results"]] == ["2026-11-05"] and last["next"] is None
        assert get(client, USAGE, page=9, **NOV).status_code == 404


class TestCosts:
    def test_totals_per_model_costliest_first(self, client, workspace, other):
        rollup(workspace, at(2), "m/a", cost_usd=Decimal("1.5"), errors=1, latency_ms_sum=3000, latency_samples=10)
        rollup(workspace, at(4), "m/a", cost_usd=Decimal("0.5"), errors=1, latency_ms_sum=1000, latency_samples=10)
        rollup(workspace, at(2), "m/shared", cost_usd=Decimal("3"), requests=4, latency_samples=0)

        body = get(client, COSTS, **NOV).json()

        assert body["count"] == 2
        assert body["results"] == [
            {
                "key": "m/shared",
                "label": "m/shared",
                "requests": 4,
                "errors": 0,
                "prompt_tokens": 1000,
                "completion_tokens": 100,
                "total_tokens": 1100,
                "cost_usd": "3",
                "error_rate": "0",
                "average_latency_ms": None,
            },
            {
                "key": "m/a",
                "label": "m/a",
                "requests": 20,
                "errors": 2,
                "prompt_tokens": 2000,
                "completion_tokens": 200,
                "total_tokens": 2200,
                "cost_usd": "2",
                "error_rate": "0.1",
                "average_latency_ms": 200,
            },
        ]

    def test_per_provider_and_per_api_key(self, client, workspace):
        ProviderFactory(slug="acmeai", name="Acme AI")
        key = ApiKeyFactory(workspace=workspace, name="CI")
        rollup(workspace, at(2), "acmeai/one", api_key=key, cost_usd=Decimal("2"))
        rollup(workspace, at(2), "acmeai/two", cost_usd=Decimal("1"))
        rollup(workspace, at(2), "other/x", cost_usd=Decimal("0.1"))

        providers = get(client, COSTS, group_by="provider", **NOV).json()["results"]
        keys = get(client, COSTS, group_by="api_key", **NOV).json()["results"]

        assert [(r["key"], r["label"], r["cost_usd"]) for r in providers] == [
            ("acmeai", "Acme AI", "3"),
            ("other", None, "0.1"),
        ]
        assert [(r["key"], r["label"], r["cost_usd"]) for r in keys] == [
            (str(key.pk), f"CI ({key.mask})", "2"),
            (None, None, "1.1"),
        ]


class TestSummary:
    def test_totals_trend_and_top_three_models(self, client, workspace, other):
        for model, cost in (("m/a", "4"), ("m/b", "3"), ("m/c", "2"), ("m/d", "1")):
            rollup(workspace, at(10), model, cost_usd=Decimal(cost), latency_ms_sum=4000, latency_samples=10)
        rollup(workspace, at(11), "m/a", requests=10, errors=5, cost_usd=Decimal("2"))
        rollup(workspace, at(1) - datetime.timedelta(days=5), "m/a", cost_usd=Decimal("10"))  # the previous period

        response = get(client, SUMMARY, **NOV)

        assert response.status_code == 200
        body = response.json()
        assert body["period"] == {"start": "2026-11-01", "end": "2026-11-30", "days": 30, "timezone": "UTC"}
        assert body["previous_period"] == {"start": "2026-10-02", "end": "2026-10-31", "days": 30, "timezone": "UTC"}
        assert (body["cost_usd"], body["previous_cost_usd"], body["trend_percent"]) == ("12", "10", "20")
        assert (body["requests"], body["errors"], body["error_rate"]) == (50, 5, "0.1")
        assert (body["prompt_tokens"], body["completion_tokens"], body["total_tokens"]) == (5000, 500, 5500)
        assert body["average_latency_ms"] == 400
        assert [(m["key"], m["cost_usd"], m["requests"]) for m in body["top_models"]] == [
            ("m/a", "6", 20),
            ("m/b", "3", 10),
            ("m/c", "2", 10),
        ]

    def test_a_falling_cost_and_an_empty_workspace(self, client, workspace):
        empty = get(client, SUMMARY, **NOV).json()
        assert (empty["cost_usd"], empty["requests"], empty["trend_percent"], empty["top_models"]) == ("0", 0, None, [])
        assert (empty["error_rate"], empty["average_latency_ms"]) == ("0", None)

        rollup(workspace, at(5), cost_usd=Decimal("1"))
        rollup(workspace, at(5) - datetime.timedelta(days=30), cost_usd=Decimal("4"))
        assert get(client, SUMMARY, **NOV).json()["trend_percent"] == "-75"

    def test_periods_up_to_today(self, client, workspace):
        now = timezone.now()
        for days_ago, requests in ((1, 1), (20, 10), (60, 100), (200, 1000)):
            rollup(workspace, (now - datetime.timedelta(days=days_ago)).replace(minute=0, second=0), requests=requests)
        today = now.date()

        seven = get(client, SUMMARY, period="7d").json()
        assert seven["requests"] == 1
        assert seven["period"] == {
            "start": str(today - datetime.timedelta(days=6)),
            "end": str(today),
            "days": 7,
            "timezone": "UTC",
        }
        assert get(client, SUMMARY).json()["requests"] == 11  # 30 days by default
        assert get(client, SUMMARY, period="90d").json()["requests"] == 111
        assert get(client, USAGE, period="7d").json()["count"] == 1


def test_reads_the_rollups_of_ingested_records(client, workspace):
    """From the gateway's records through the rollup job to the API; records not rolled up yet show at once (their
    hour read from the records), and the next rollup counts them once."""
    model = ModelFactory()
    UsageRecordFactory.create_batch(3, workspace=workspace, model=model, created_at=at(4, 9), cost_usd=Decimal("0.1"))
    usage_rollup_build()
    UsageRecordFactory(workspace=workspace, model=model, created_at=at(4, 9), cost_usd=Decimal("0.1"))

    before = get(client, SUMMARY, **NOV).json()
    usage_rollup_build()
    after = get(client, SUMMARY, **NOV).json()

    assert (before["requests"], before["cost_usd"]) == (4, "0.4")
    assert (after["requests"], after["cost_usd"]) == (4, "0.4")
    assert after["top_models"][0]["key"] == model.model_id


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (USAGE, {"colour": "red"}, "colour"),
        (SUMMARY, {"group_by": "model"}, "group_by"),
        (COSTS, {"interval": "day"}, "interval"),
        (USAGE, {"group_by": "team"}, "group_by"),
        (USAGE, {"interval": "week"}, "interval"),
        (SUMMARY, {"period": "1y"}, "period"),
        (SUMMARY, {"period": "7d", "start": "2026-11-01", "end": "2026-11-02"}, "period"),
        (COSTS, {"start": "2026-11-01"}, "end"),
        (COSTS, {"end": "2026-11-01"}, "start"),
        (SUMMARY, {"start": "2026-11-02", "end": "2026-11-01"}, "end"),
        (SUMMARY, {"start": "2025-01-01", "end": "2026-11-01"}, "end"),
        (SUMMARY, {"start": "0001-01-01", "end": "0001-01-02"}, "start"),
        (SUMMARY, {"start": "9999-12-30", "end": "9999-12-31"}, "start"),
        (USAGE, {"start": "yesterday", "end": "2026-11-01"}, "start"),
        (COSTS, {"page_size": "0"}, "page_size"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(client, workspace, url, params, field):
    response = get(client, url, **params)

    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["code"] == "invalid"
    assert field in body["extra"]["fields"]
    assert field in body["message"]


def test_an_api_key_sees_its_own_workspace_only(workspace, other):
    rollup(workspace, at(3, 10), "m/shared", requests=2)
    _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
    _, their_secret = ApiKeyFactory.create_with_secret(workspace=other)
    mine, theirs = APIClient(), APIClient()
    mine.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {their_secret}")

    assert get(mine, SUMMARY, **NOV).json()["requests"] == 2
    assert get(theirs, SUMMARY, **NOV).json()["requests"] == 1010
    assert [r["key"] for r in get(mine, COSTS, **NOV).json()["results"]] == ["m/shared"]
    their_agents = get(theirs, USAGE, group_by="agent", **NOV).json()["results"]
    assert sorted(r["requests"] for r in their_agents) == [10, 1000]
    assert get(mine, USAGE, group_by="agent", **NOV).json()["results"][0]["key"] is None


@pytest.mark.parametrize("url", [USAGE, COSTS, SUMMARY])
def test_strangers_are_refused(url):
    response = APIClient().get(url)

    assert response.status_code in (401, 403)
    assert set(response.json()) == {"message", "extra"}
