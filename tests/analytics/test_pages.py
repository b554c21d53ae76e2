"""The usage dashboard, its CSV export and the audit page through Django's test client: the figures from the rollups
(and from the records not rolled up yet), the ranges, the chart, the breakdowns and tips, bad input, and that a
member of one workspace never sees another's usage or audit events."""

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.analytics.models import UsageRollup, UsageRollupMark
from apps.analytics.rollup_selectors import analytics_period, usage_costs, usage_overview, usage_summary
from apps.analytics.rollups import usage_rollup_build
from apps.keys.services import api_key_create
from tests.analytics.factories import AuditEventFactory, UsageRecordFactory, UsageRollupFactory
from tests.catalog.factories import ModelFactory
from tests.core.factories import UserFactory
from tests.workspaces.factories import AgentFactory, InstalledModelFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

USAGE, CSV, AUDIT = "/usage/", "/usage/export.csv", "/audit/"


def hours_ago(hours: float) -> datetime.datetime:
    return (timezone.now() - datetime.timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def days_ago(days: int) -> datetime.datetime:
    return hours_ago(24 * days)


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme", name="Acme")


@pytest.fixture
def rival():
    """Another workspace with usage and audit events of its own, which must never show to Acme's members."""
    workspace = WorkspaceFactory(slug="rival", name="Rival")
    UsageRollupFactory(
        workspace=workspace, hour=days_ago(1), model_name="rival/secret-model", requests=900, cost_usd=77
    )
    UsageRecordFactory(workspace=workspace, model_name="rival/fresh-model", cost_usd=Decimal("55"))
    AuditEventFactory(workspace=workspace, action="api_key.created", target_repr="rival key")
    return workspace


@pytest.fixture
def ada(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user


@pytest.fixture
def client(client, ada):
    client.force_login(ada)
    return client


def rollup(workspace, hour, model="m/a", **fields) -> UsageRollup:
    defaults = {"requests": 10, "errors": 0, "prompt_tokens": 1000, "completion_tokens": 100, "cost_usd": Decimal("1")}
    return UsageRollupFactory(
        workspace=workspace, hour=hour, model_name=model, provider_slug=model.split("/")[0], **{**defaults, **fields}
    )


def figure(response, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', response.content.decode())
    assert found, f"no figure {name}"
    return found.group(1).strip()


def rows(response, kind: str) -> list[str]:
    """The row headers of a table's rows of this kind."""
    html = response.content.decode()
    return [
        re.sub(r"\s+", " ", m).strip()
        for m in re.findall(rf'data-row="{kind}"[^>]*>\s*<th scope="row">(.*?)</th>', html, re.S)
    ]


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


class TestDashboard:
    def test_totals_trend_top_models_breakdown_and_agents(self, client, workspace, rival):
        agent = AgentFactory(workspace=workspace, slug="support", name="Support")
        rollup(workspace, days_ago(2), "m/a", cost_usd=Decimal("3"), errors=1, latency_ms_sum=4000, latency_samples=10)
        rollup(workspace, days_ago(3), "m/b", cost_usd=Decimal("2"), agent=agent, requests=4)
        rollup(workspace, days_ago(3), "m/c", cost_usd=Decimal("0.5"))
        rollup(workspace, days_ago(4), "m/d", cost_usd=Decimal("0.25"))
        rollup(workspace, days_ago(40), "m/a", cost_usd=Decimal("5"))  # the previous 30 days

        response = client.get(USAGE)

        assert response.status_code == 200
        assert figure(response, "total-cost") == "$5.75"
        assert figure(response, "requests") == "34"
        assert figure(response, "tokens") == "4,400"
        assert figure(response, "errors") == "1"
        assert figure(response, "trend") == "+15.00% vs the previous 30 days"
        html = response.content.decode()
        top = re.findall(r'data-row="top-model"><span class="model-name">([^<]+)</span>', html)
        assert top == ["m/a", "m/b", "m/c"]
        assert rows(response, "model") == ["m/a", "m/b", "m/c", "m/d"]
        first = re.search(r'data-model="m/a">(.*?)</tr>', html, re.S).group(1)
        cells = dict(re.findall(r'data-column="([^"]+)">([^<]*)<', first))
        assert cells == {
            "requests": "10",
            "tokens": "1,100",
            "cost": "$3.00",
            "latency": "400 ms",
            "error-rate": "10.0%",
        }
        assert rows(response, "agent") == ["No agent", "support"]
        assert "rival" not in html.lower()

    def test_the_ranges(self, client, workspace):
        rollup(workspace, days_ago(1), requests=1)
        rollup(workspace, days_ago(20), requests=20)
        rollup(workspace, days_ago(60), requests=60)

        counts = {key: figure(client.get(USAGE, {"range": key}), "requests") for key in ("7d", "30d", "90d")}

        assert counts == {"7d": "1", "30d": "21", "90d": "81"}
        assert figure(client.get(USAGE), "requests") == "21"  # 30 days by default
        page = client.get(USAGE, {"range": "7d"}).content.decode()
        assert '<a href="/usage/?range=7d" aria-current="page">Last 7 days</a>' in page
        assert '<a href="/usage/?range=90d">Last 90 days</a>' in page
        assert 'href="/usage/export.csv?range=7d" download>Export CSV</a>' in page

    def test_the_chart_stacks_tokens_per_day_with_a_table_and_other(self, client, workspace):
        for n in range(7):
            rollup(workspace, days_ago(1), f"m/{n}", prompt_tokens=1000 * (7 - n), completion_tokens=0)

        response = client.get(USAGE, {"range": "7d"})

        html = response.content.decode()
        svg = re.search(r"<svg [^>]*>", html).group(0)
        assert 'role="img"' in svg
        assert 'aria-label="Tokens per day by model' in svg and "28,000 tokens in all" in svg
        assert html.count("<rect ") == 6  # five models and "Other", all on one day
        assert "<title>Other: 3,000 tokens</title>" in html
        header = re.search(r"<caption>Tokens per day by model</caption>\s*<thead>(.*?)</thead>", html, re.S).group(1)
        assert re.findall(r">([^<]+)</th>", header) == ["Day", "m/0", "m/1", "m/2", "m/3", "m/4", "Other", "Total"]
        assert len(rows(response, "chart-day")) == 7

    def test_an_empty_workspace(self, client, workspace):
        response = client.get(USAGE)

        assert response.status_code == 200
        assert figure(response, "total-cost") == "$0.00"
        assert figure(response, "trend") == "No spend in the previous 30 days"
        assert "no tokens used" in response.content.decode()
        assert "<rect " not in response.content.decode()

    def test_tips_are_the_recommendations(self, client, workspace):
        InstalledModelFactory(workspace=workspace, model=ModelFactory(upstream_name="idle-model"))

        html = client.get(USAGE).content.decode()

        assert 'data-kind="unused_model"' in html
        assert "idle-model is installed but had no request in the last 30 days" in html

    def test_tips_are_kept_until_the_rollup_moves_on_or_the_installs_change(self, client, workspace):
        idle = InstalledModelFactory(workspace=workspace, model=ModelFactory(upstream_name="idle-model"))
        assert "idle-model is installed" in client.get(USAGE).content.decode()

        # Traffic changes the tips once the rollup job has read it (the figures above them change at once).
        UsageRecordFactory(workspace=workspace, model=idle.model)
        assert "idle-model is installed" in client.get(USAGE).content.decode()
        usage_rollup_build()
        assert "idle-model is installed" not in client.get(USAGE).content.decode()

        # Installing a model changes them at once.
        InstalledModelFactory(workspace=workspace, model=ModelFactory(upstream_name="new-model"))
        assert "new-model is installed but had no request" in client.get(USAGE).content.decode()

    def test_a_bad_range_is_a_400_showing_30_days(self, client, workspace):
        rollup(workspace, days_ago(20), requests=20)

        response = client.get(USAGE, {"range": "1y"})

        assert response.status_code == 400
        assert "Unknown range “1y”: choose 7, 30 or 90 days." in response.content.decode()
        assert figure(response, "requests") == "20"

    def test_strangers_sign_in_first(self):
        from django.test import Client

        for url in (USAGE, CSV, AUDIT):
            response = Client().get(url)
            assert response.status_code == 302
            assert response["Location"].startswith("/accounts/login/")


class TestFreshRequests:
    """Records the rollup job has not read yet show at once, each counted once."""

    def test_a_request_just_made_shows_before_the_rollup_runs(self, client, workspace):
        model = ModelFactory(upstream_name="fresh")
        UsageRecordFactory.create_batch(2, workspace=workspace, model=model, created_at=hours_ago(30))
        usage_rollup_build()
        UsageRecordFactory(workspace=workspace, model=model, cost_usd=Decimal("0.5"), latency_ms=100)

        before = client.get(USAGE)
        usage_rollup_build()
        after = client.get(USAGE)

        assert figure(before, "requests") == figure(after, "requests") == "3"
        assert figure(before, "total-cost") == figure(after, "total-cost") == "$0.500084"
        assert csv_rows(client.get(CSV))[1][:2] == [model.model_id, "3"]

    def test_an_hour_already_rolled_up_is_not_counted_twice(self, client, workspace):
        """A record whose id is above the mark may already be in its hour's rollup (it committed between the job
        reading its top id and recomputing the hour): that hour is read from the records instead, never added."""
        UsageRecordFactory.create_batch(3, workspace=workspace, created_at=hours_ago(2), cost_usd=Decimal("1"))
        usage_rollup_build()
        mark = UsageRollupMark.objects.get()
        mark.last_record_id -= 1
        mark.save()

        response = client.get(USAGE)

        assert (figure(response, "requests"), figure(response, "total-cost")) == ("3", "$3.00")

    def test_a_late_record_in_an_old_hour(self, client, workspace):
        model = ModelFactory(upstream_name="late")
        UsageRecordFactory(workspace=workspace, model=model, created_at=days_ago(10), cost_usd=Decimal("1"))
        UsageRecordFactory(workspace=workspace, model=model, created_at=days_ago(3), cost_usd=Decimal("1"))
        usage_rollup_build()
        UsageRecordFactory(workspace=workspace, model=model, created_at=days_ago(10), cost_usd=Decimal("2"))

        assert figure(client.get(USAGE), "total-cost") == "$4.00"
        assert figure(client.get(USAGE, {"range": "7d"}), "total-cost") == "$1.00"

    def test_another_workspaces_fresh_records_never_show(self, client, workspace, rival):
        html = client.get(USAGE).content.decode()

        assert "rival/fresh-model" not in html and "$55" not in html
        assert figure(client.get(USAGE), "requests") == "0"


class TestCsv:
    def test_the_breakdown_of_the_range(self, client, workspace, rival):
        rollup(
            workspace,
            days_ago(2),
            "m/a",
            cost_usd=Decimal("0.000042"),
            errors=1,
            latency_ms_sum=3500,
            latency_samples=10,
        )
        rollup(workspace, days_ago(3), "m/b", cost_usd=Decimal("2"), requests=4)
        rollup(workspace, days_ago(20), "m/c", cost_usd=Decimal("9"))

        response = client.get(CSV, {"range": "7d"})

        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        today = timezone.now().date()
        start = today - datetime.timedelta(days=6)
        assert response["Content-Disposition"] == f'attachment; filename="switchyard-usage-acme-{start}-{today}.csv"'
        assert csv_rows(response) == [
            [
                "model",
                "requests",
                "errors",
                "error_rate",
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "cost_usd",
                "average_latency_ms",
            ],
            ["m/b", "4", "0", "0", "1000", "100", "1100", "2", ""],
            ["m/a", "10", "1", "0.1", "1000", "100", "1100", "0.000042", "350"],
        ]
        assert [row[0] for row in csv_rows(client.get(CSV))[1:]] == ["m/c", "m/b", "m/a"]

    def test_a_bad_range_is_a_400(self, client):
        response = client.get(CSV, {"range": "forever"})

        assert response.status_code == 400
        assert "choose 7, 30 or 90 days" in response.content.decode()


class TestAudit:
    def test_events_newest_first_with_who_what_where_and_target(self, client, workspace, ada, rival):
        AuditEventFactory(
            workspace=workspace,
            action="model.installed",
            actor=ada,
            target_repr="openai/gpt-4o-mini",
            target_type="workspaces.installedmodel",
            ip_address="203.0.113.9",
            user_agent="Mozilla/5.0 Firefox",
            data={"model": "openai/gpt-4o-mini"},
        )
        AuditEventFactory(workspace=workspace, action="budget.updated", target_repr="Monthly budget")

        response = client.get(AUDIT)

        assert response.status_code == 200
        html = response.content.decode()
        assert re.findall(r'data-row="event" data-action="([^"]+)"', html) == ["budget.updated", "model.installed"]
        assert "203.0.113.9" in html and "Mozilla/5.0 Firefox" in html and "ada" in html
        assert "openai/gpt-4o-mini" in html and "workspaces.installedmodel" in html
        assert "rival" not in html.lower()
        assert figure(response, "event-count") == "2 events"

    def test_a_key_creation_never_shows_the_secret(self, client, workspace, ada):
        api_key, secret = api_key_create(workspace=workspace, name="ci", created_by=ada)

        html = client.get(AUDIT).content.decode()

        assert 'data-action="api_key.created"' in html
        assert api_key.mask in html
        assert secret not in html and secret[-12:] not in html and api_key.key_hash not in html

    def test_filter_by_action_and_member(self, client, workspace, ada):
        bob = MembershipFactory(workspace=workspace, user=UserFactory(username="bob")).user
        AuditEventFactory(workspace=workspace, action="api_key.created", actor=ada)
        AuditEventFactory(workspace=workspace, action="api_key.revoked", actor=ada)
        AuditEventFactory(workspace=workspace, action="api_key.created", actor=bob)

        by_action = client.get(AUDIT, {"action": "api_key.created"}).content.decode()
        by_both = client.get(AUDIT, {"action": "api_key.created", "actor": bob.pk}).content.decode()

        assert by_action.count('data-row="event"') == 2
        assert by_both.count('data-row="event"') == 1
        assert '<option value="api_key.revoked">api_key.revoked</option>' in by_action
        assert f'<option value="{bob.pk}" selected>bob</option>' in by_both
        assert 'href="/audit/">Clear filters</a>' in by_action

    def test_pages_keep_the_filter(self, client, workspace):
        for _ in range(51):
            AuditEventFactory(workspace=workspace, action="model.installed")
        AuditEventFactory(workspace=workspace, action="model.uninstalled")

        first = client.get(AUDIT, {"action": "model.installed"})
        second = client.get(AUDIT, {"action": "model.installed", "page": 2})

        assert first.content.decode().count('data-row="event"') == 50
        assert (
            'href="/audit/?action=model.installed&amp;page=2" rel="next">Older events →</a>' in first.content.decode()
        )
        assert second.content.decode().count('data-row="event"') == 1
        assert "page 2 of 2" in figure(second, "event-count")
        assert client.get(AUDIT, {"page": 9}).status_code == 404
        assert client.get(AUDIT, {"page": "x"}).status_code == 404

    def test_an_unknown_filter_is_a_400_naming_it(self, client, workspace, rival):
        AuditEventFactory(workspace=workspace, action="model.installed")
        stranger = UserFactory(username="mallory")

        wrong_action = client.get(AUDIT, {"action": "api_key.created"})  # only Rival's trail has one
        wrong_actor = client.get(AUDIT, {"actor": stranger.pk})

        assert wrong_action.status_code == wrong_actor.status_code == 400
        assert "Action: Select a valid choice." in wrong_action.content.decode()
        assert "Member: Select a valid choice." in wrong_actor.content.decode()
        assert "rival key" not in wrong_action.content.decode()


@pytest.mark.parametrize("url", [USAGE, CSV, AUDIT])
def test_another_workspace_by_slug_is_a_404(client, workspace, rival, url):
    response = client.get(url, {"workspace": "rival"})

    assert response.status_code == 404
    assert b"rival/secret-model" not in response.content and b"rival key" not in response.content


def test_a_member_of_both_sees_each_workspace_apart(client, ada, workspace, rival):
    MembershipFactory(workspace=rival, user=ada)
    rollup(workspace, days_ago(1), "acme/own-model", requests=3)
    AuditEventFactory(workspace=workspace, action="acme.only")

    theirs = client.get(USAGE, {"workspace": "rival"}).content.decode()
    ours = client.get(USAGE, {"workspace": "acme"}).content.decode()
    their_csv = client.get(CSV, {"workspace": "rival"}).content.decode()
    their_audit = client.get(AUDIT, {"workspace": "rival"}).content.decode()

    assert "rival/secret-model" in theirs and "acme/own-model" not in theirs
    assert "acme/own-model" in ours and "rival/secret-model" not in ours
    assert "rival/secret-model" in their_csv and "acme/own-model" not in their_csv
    assert "rival key" in their_audit and "acme.only" not in their_audit
    assert 'href="/usage/export.csv?workspace=rival&amp;range=30d"' in theirs


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_the_overview_sums_to_the_api_selectors(workspace, zone):
    """The dashboard's one read (usage_overview) gives the same figures as usage_summary and usage_costs, with
    rolled-up and not-yet-rolled-up usage, in a zone whose days start mid-hour."""
    workspace.timezone = zone
    workspace.save()
    agent = AgentFactory(workspace=workspace)
    rollup(workspace, days_ago(2), "m/a", cost_usd=Decimal("3"), errors=2, latency_ms_sum=900, latency_samples=3)
    rollup(workspace, days_ago(5), "m/b", cost_usd=Decimal("1.5"), agent=agent)
    rollup(workspace, days_ago(29), "m/a", cost_usd=Decimal("0.5"))
    rollup(workspace, days_ago(45), "m/b", cost_usd=Decimal("4"))
    UsageRecordFactory(workspace=workspace, model_name="m/c", cost_usd=Decimal("0.25"), latency_ms=None)
    UsageRecordFactory(workspace=workspace, model_name="m/a", cost_usd=None, status="error")
    period = analytics_period(workspace=workspace, period="30d")

    overview = usage_overview(workspace=workspace, period=period, with_unrolled=True)
    summary = usage_summary(workspace=workspace, period=period, with_unrolled=True)
    costs = list(usage_costs(workspace=workspace, period=period, group_by="model", with_unrolled=True))

    assert overview.summary == summary
    assert [{name: row[name] or 0 for name in row} for row in overview.models] == [
        {name: row[name] or 0 for name in row} for row in costs
    ]
    assert [row["key"] for row in costs] == ["m/a", "m/b", "m/c"]
    assert summary.totals["n_requests"] == 32
    per_agent = list(usage_costs(workspace=workspace, period=period, group_by="agent", with_unrolled=True))
    assert [{name: row[name] or 0 for name in row} for row in overview.agents] == [
        {name: row[name] or 0 for name in row} for row in per_agent
    ]
    assert [row["key"] for row in per_agent] == [None, agent.pk]
