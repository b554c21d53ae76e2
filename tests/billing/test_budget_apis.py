"""/api/budgets through DRF's test client: CRUD, validation, workspace scoping, spend per budget, query counts."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.billing.models import Budget, BudgetAction, BudgetPeriod, BudgetScope
from apps.billing.selectors import budget_window
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import BudgetAlertFactory, BudgetFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

BUDGETS = "/api/budgets/"
NEW_YORK = ZoneInfo("America/New_York")


def detail(budget_id: int) -> str:
    return f"{BUDGETS}{budget_id}"


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme", timezone="America/New_York")


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user


@pytest.fixture
def client(member) -> APIClient:
    client = APIClient()
    client.force_login(member)
    return client


def current_window(workspace, period: str = BudgetPeriod.MONTHLY) -> tuple[datetime, datetime]:
    return budget_window(period=period, now=timezone.now(), zone=ZoneInfo(workspace.timezone))


def spend(workspace, cost: str, at: datetime, **kwargs) -> None:
    UsageRecordFactory(workspace=workspace, cost_usd=Decimal(cost), created_at=at, **kwargs)


class TestCreate:
    def test_a_workspace_budget_with_the_defaults(self, client, workspace, member):
        response = client.post(BUDGETS, {"limit_usd": "25.50"}, format="json")

        assert response.status_code == 201
        body = response.json()
        budget = Budget.objects.get()
        assert budget.workspace == workspace
        assert (budget.scope, budget.period, budget.action) == ("workspace", "monthly", "block")
        assert budget.limit_usd == Decimal("25.5")
        assert budget.alert_thresholds == [50, 80, 100]
        assert body["id"] == budget.pk
        assert (body["scope"], body["agent"], body["api_key"], body["period"]) == ("workspace", None, None, "monthly")
        assert (body["limit_usd"], body["action"], body["is_active"]) == ("25.50000000", "block", True)
        assert body["alert_thresholds"] == [50, 80, 100]
        assert (body["spent_usd"], body["remaining_usd"], body["used_percent"]) == ("0.00000000", "25.50000000", "0.00")
        assert body["alerts_sent"] == []
        event = AuditEvent.objects.get(action="budget.created")
        assert (event.workspace, event.actor, event.target_id) == (workspace, member, str(budget.pk))
        assert event.data["limit_usd"] == "25.50000000" and event.data["scope"] == "workspace"

    def test_an_agent_budget_by_slug_or_id(self, client, workspace):
        agent = AgentFactory(workspace=workspace, slug="support-bot")
        by_slug = client.post(
            BUDGETS,
            {"scope": "agent", "agent": "support-bot", "limit_usd": 5, "period": "daily", "action": "downgrade"},
            format="json",
        )
        by_id = client.post(BUDGETS, {"scope": "agent", "agent": agent.pk, "limit_usd": "7"}, format="json")

        assert by_slug.status_code == 201 and by_id.status_code == 201
        assert by_slug.json()["agent"] == {"id": agent.pk, "slug": "support-bot"}
        assert (by_slug.json()["period"], by_slug.json()["action"]) == ("daily", "downgrade")
        assert by_id.json()["agent"] == {"id": agent.pk, "slug": "support-bot"}
        assert list(Budget.objects.values_list("agent", flat=True)) == [agent.pk, agent.pk]

    def test_an_api_key_budget_shows_the_key_mask_and_never_its_hash(self, client, workspace):
        api_key, secret = ApiKeyFactory.create_with_secret(workspace=workspace, name="CI")
        response = client.post(
            BUDGETS,
            {"scope": "api_key", "api_key": api_key.pk, "limit_usd": 12.5, "alert_thresholds": [100, 50, 75, 50]},
            format="json",
        )

        assert response.status_code == 201
        body = response.json()
        assert body["api_key"] == {"id": api_key.pk, "name": "CI", "mask": api_key.mask}
        assert body["alert_thresholds"] == [50, 75, 100]
        assert body["limit_usd"] == "12.50000000"
        assert Budget.objects.get().limit_usd == Decimal("12.5")
        assert secret not in response.content.decode() and api_key.key_hash not in response.content.decode()
        assert AuditEvent.objects.get(action="budget.created").data["api_key_id"] == api_key.pk

    def test_an_api_key_can_manage_its_workspace_budgets(self, workspace):
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
        as_key = APIClient()
        as_key.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert as_key.post(BUDGETS, {"limit_usd": "1"}, format="json").status_code == 201
        assert [b["limit_usd"] for b in as_key.get(BUDGETS).json()] == ["1.00000000"]

    def test_no_credentials_get_401(self):
        assert APIClient().get(BUDGETS).status_code == 401
        assert APIClient().post(BUDGETS, {"limit_usd": "1"}, format="json").status_code == 401
        assert not Budget.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "limit_usd"),
        ({"limit_usd": "-1"}, "limit_usd"),
        ({"limit_usd": -0.01}, "limit_usd"),
        ({"limit_usd": "ten"}, "limit_usd"),
        ({"limit_usd": "NaN"}, "limit_usd"),
        ({"limit_usd": "0.000000001"}, "limit_usd"),
        ({"limit_usd": "1", "scope": "team"}, "scope"),
        ({"limit_usd": "1", "period": "weekly"}, "period"),
        ({"limit_usd": "1", "action": "shout"}, "action"),
        ({"limit_usd": "1", "alert_thresholds": [0]}, "alert_thresholds"),
        ({"limit_usd": "1", "alert_thresholds": [101]}, "alert_thresholds"),
        ({"limit_usd": "1", "alert_thresholds": ["half"]}, "alert_thresholds"),
        ({"limit_usd": "1", "alert_thresholds": 50}, "alert_thresholds"),
        ({"limit_usd": "1", "scope": "agent"}, "agent"),
        ({"limit_usd": "1", "scope": "agent", "agent": "nobody"}, "agent"),
        ({"limit_usd": "1", "scope": "api_key"}, "api_key"),
        ({"limit_usd": "1", "scope": "api_key", "api_key": 999999}, "api_key"),
        ({"limit_usd": "1", "scope": "workspace", "agent": "support-bot"}, "agent"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(client, workspace, data, field):
    AgentFactory(workspace=workspace, slug="support-bot")
    response = client.post(BUDGETS, data, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert list(body["extra"]["fields"]) == [field]
    assert field in body["message"] or body["message"] == body["extra"]["fields"][field][0]
    assert not Budget.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="budget.").exists()


def test_another_workspaces_agent_or_key_is_400(client):
    foreign_agent = AgentFactory(slug="theirs")
    foreign_key = ApiKeyFactory()
    by_id = client.post(BUDGETS, {"scope": "agent", "agent": foreign_agent.pk, "limit_usd": "1"}, format="json")
    by_slug = client.post(BUDGETS, {"scope": "agent", "agent": "theirs", "limit_usd": "1"}, format="json")
    key = client.post(BUDGETS, {"scope": "api_key", "api_key": foreign_key.pk, "limit_usd": "1"}, format="json")

    assert by_id.status_code == by_slug.status_code == key.status_code == 400
    assert by_id.json()["extra"]["fields"] == {"agent": [f"No agent '{foreign_agent.pk}' in this workspace."]}
    assert by_slug.json()["extra"]["fields"] == {"agent": ["No agent 'theirs' in this workspace."]}
    assert key.json()["extra"]["fields"] == {"api_key": [f"No API key with id {foreign_key.pk} in this workspace."]}
    assert not Budget.objects.exists()


class TestSpend:
    def test_each_budget_shows_its_window_spend_in_the_workspace_timezone(self, client, workspace):
        agent = AgentFactory(workspace=workspace)
        api_key = ApiKeyFactory(workspace=workspace)
        whole = BudgetFactory(workspace=workspace, limit_usd=Decimal("10"))
        per_agent = BudgetFactory(
            workspace=workspace, scope=BudgetScope.AGENT, agent=agent, period=BudgetPeriod.DAILY, limit_usd=Decimal("2")
        )
        per_key = BudgetFactory(workspace=workspace, scope=BudgetScope.API_KEY, api_key=api_key, limit_usd=Decimal(0))
        month_start = current_window(workspace)[0]
        day_start = current_window(workspace, BudgetPeriod.DAILY)[0]
        spend(workspace, "1.5", day_start + timedelta(seconds=1), agent=agent)
        spend(workspace, "0.25", day_start + timedelta(seconds=2), api_key=api_key)
        spend(workspace, "4", month_start - timedelta(seconds=1), agent=agent)  # last month
        spend(WorkspaceFactory(), "100", day_start + timedelta(seconds=1))  # another workspace
        if day_start > month_start:  # earlier today is all of the month when today is the 1st
            spend(workspace, "3", day_start - timedelta(seconds=1), agent=agent)  # this month, yesterday

        response = client.get(BUDGETS)

        assert response.status_code == 200
        by_id = {b["id"]: b for b in response.json()}
        earlier_days = Decimal("3") if day_start > month_start else Decimal("0")
        workspace_spent = Decimal("1.75") + earlier_days
        assert Decimal(by_id[whole.pk]["spent_usd"]) == workspace_spent
        assert Decimal(by_id[whole.pk]["remaining_usd"]) == Decimal("10") - workspace_spent
        assert Decimal(by_id[whole.pk]["used_percent"]) == workspace_spent * 10
        assert (by_id[per_agent.pk]["spent_usd"], by_id[per_agent.pk]["used_percent"]) == ("1.50000000", "75.00")
        assert by_id[per_agent.pk]["remaining_usd"] == "0.50000000"
        assert (by_id[per_key.pk]["spent_usd"], by_id[per_key.pk]["used_percent"]) == ("0.25000000", "100.00")
        assert by_id[per_key.pk]["remaining_usd"] == "0.00000000"

        window_start = datetime.fromisoformat(by_id[whole.pk]["window_start"])
        window_end = datetime.fromisoformat(by_id[whole.pk]["window_end"])
        local_start = window_start.astimezone(NEW_YORK)
        assert (local_start.day, local_start.hour, local_start.minute) == (1, 0, 0)
        assert window_start.utcoffset() == local_start.utcoffset() != timedelta(0)
        assert window_end.astimezone(NEW_YORK).day == 1 and window_end > timezone.now() >= window_start
        day = datetime.fromisoformat(by_id[per_agent.pk]["window_start"])
        assert day.utcoffset() == day.astimezone(NEW_YORK).utcoffset() and day.astimezone(NEW_YORK).hour == 0
        assert datetime.fromisoformat(by_id[per_agent.pk]["window_end"]) - day in (
            timedelta(hours=23),
            timedelta(hours=24),
            timedelta(hours=25),
        )

    def test_alerts_sent_in_this_window_are_listed_and_older_ones_are_not(self, client, workspace):
        budget = BudgetFactory(workspace=workspace, limit_usd=Decimal("10"))
        month_start, _ = current_window(workspace)
        BudgetAlertFactory(budget=budget, window_start=month_start, threshold=80, spent_usd=Decimal("8.1"))
        BudgetAlertFactory(budget=budget, window_start=month_start, threshold=50, spent_usd=Decimal("5"))
        last_month = budget_window(period="monthly", now=month_start - timedelta(days=1), zone=NEW_YORK)[0]
        BudgetAlertFactory(budget=budget, window_start=last_month, threshold=100, spent_usd=Decimal("10"))

        body = client.get(detail(budget.pk)).json()

        assert [(a["threshold"], a["spent_usd"]) for a in body["alerts_sent"]] == [
            (50, "5.00000000"),
            (80, "8.10000000"),
        ]
        assert all(a["sent_at"] for a in body["alerts_sent"])


class TestReadUpdateDelete:
    def test_get_one(self, client, workspace):
        budget = BudgetFactory(workspace=workspace, limit_usd=Decimal("3"), action=BudgetAction.ALERT)
        response = client.get(detail(budget.pk))
        assert response.status_code == 200
        assert (response.json()["id"], response.json()["action"], response.json()["limit_usd"]) == (
            budget.pk,
            "alert",
            "3.00000000",
        )

    def test_patch_changes_only_the_fields_given_and_is_audited(self, client, workspace, member):
        budget = BudgetFactory(workspace=workspace, limit_usd=Decimal("100"))
        response = client.patch(
            detail(budget.pk), {"limit_usd": "250", "alert_thresholds": [90, 25], "is_active": False}, format="json"
        )

        assert response.status_code == 200
        body = response.json()
        assert (body["limit_usd"], body["alert_thresholds"], body["is_active"]) == ("250.00000000", [25, 90], False)
        assert (body["scope"], body["period"], body["action"]) == ("workspace", "monthly", "block")
        budget.refresh_from_db()
        assert (budget.limit_usd, budget.alert_thresholds, budget.is_active) == (Decimal("250"), [25, 90], False)
        event = AuditEvent.objects.get(action="budget.updated")
        assert (event.workspace, event.actor) == (workspace, member)
        assert event.data["changes"] == {
            "limit_usd": {"from": "100.00000000", "to": "250.00000000"},
            "alert_thresholds": {"from": [50, 80, 100], "to": [25, 90]},
            "is_active": {"from": True, "to": False},
        }

    def test_patch_with_nothing_new_writes_no_event(self, client, workspace):
        budget = BudgetFactory(workspace=workspace, limit_usd=Decimal("100"))
        assert client.patch(detail(budget.pk), {"limit_usd": "100.0"}, format="json").status_code == 200
        assert not AuditEvent.objects.filter(action="budget.updated").exists()

    def test_patch_moves_a_budget_between_scopes(self, client, workspace):
        agent = AgentFactory(workspace=workspace, slug="bot")
        budget = BudgetFactory(workspace=workspace)

        needs_agent = client.patch(detail(budget.pk), {"scope": "agent"}, format="json")
        assert needs_agent.status_code == 400
        assert list(needs_agent.json()["extra"]["fields"]) == ["agent"]

        to_agent = client.patch(detail(budget.pk), {"scope": "agent", "agent": "bot"}, format="json")
        assert to_agent.status_code == 200 and to_agent.json()["agent"] == {"id": agent.pk, "slug": "bot"}
        assert client.patch(detail(budget.pk), {"period": "daily"}, format="json").json()["agent"]["id"] == agent.pk

        back = client.patch(detail(budget.pk), {"scope": "workspace"}, format="json")
        assert back.status_code == 200 and back.json()["agent"] is None
        budget.refresh_from_db()
        assert (budget.scope, budget.agent, budget.period) == ("workspace", None, "daily")

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"limit_usd": "-5"}, "limit_usd"),
            ({"limit_usd": None}, "limit_usd"),
            ({"alert_thresholds": [50, 0]}, "alert_thresholds"),
            ({"agent": "bot"}, "agent"),
            ({"scope": "api_key", "api_key": 0}, "api_key"),
            ({"period": "yearly"}, "period"),
        ],
    )
    def test_bad_patch_is_400_and_changes_nothing(self, client, workspace, data, field):
        AgentFactory(workspace=workspace, slug="bot")
        budget = BudgetFactory(workspace=workspace, limit_usd=Decimal("100"))
        response = client.patch(detail(budget.pk), data, format="json")
        assert response.status_code == 400
        assert list(response.json()["extra"]["fields"]) == [field]
        budget.refresh_from_db()
        assert (budget.limit_usd, budget.scope, budget.period, budget.alert_thresholds) == (
            Decimal("100"),
            "workspace",
            "monthly",
            [50, 80, 100],
        )
        assert not AuditEvent.objects.filter(action="budget.updated").exists()

    def test_delete(self, client, workspace, member):
        budget = BudgetFactory(workspace=workspace)
        BudgetAlertFactory(budget=budget)
        response = client.delete(detail(budget.pk))
        assert response.status_code == 204
        assert not Budget.objects.exists()
        event = AuditEvent.objects.get(action="budget.deleted")
        assert (event.workspace, event.actor, event.target_id) == (workspace, member, str(budget.pk))
        assert client.get(detail(budget.pk)).status_code == 404


class TestOtherWorkspaces:
    def test_another_workspaces_budget_is_404_and_untouched(self, client, workspace):
        theirs = BudgetFactory(limit_usd=Decimal("9"))
        mine = BudgetFactory(workspace=workspace)

        assert [b["id"] for b in client.get(BUDGETS).json()] == [mine.pk]
        for response in (
            client.get(detail(theirs.pk)),
            client.patch(detail(theirs.pk), {"limit_usd": "1"}, format="json"),
            client.delete(detail(theirs.pk)),
        ):
            assert response.status_code == 404
            assert response.json() == {"message": "No such budget in this workspace.", "extra": {"code": "not_found"}}
        theirs.refresh_from_db()
        assert theirs.limit_usd == Decimal("9")
        assert not AuditEvent.objects.filter(action__startswith="budget.").exists()

    def test_the_workspace_header_picks_among_the_members_workspaces(self, client, member):
        other = WorkspaceFactory(slug="other")
        MembershipFactory(workspace=other, user=member)
        theirs = BudgetFactory(workspace=other)
        response = client.get(BUDGETS, HTTP_X_SWITCHYARD_WORKSPACE="other")
        assert [b["id"] for b in response.json()] == [theirs.pk]


def test_listing_costs_the_same_queries_for_20_budgets_as_for_2(client, workspace, django_assert_num_queries):
    def add_budgets(count: int) -> None:
        for _ in range(count // 2):
            agent = AgentFactory(workspace=workspace)
            BudgetFactory(workspace=workspace, scope=BudgetScope.AGENT, agent=agent)
            api_key = ApiKeyFactory(workspace=workspace)
            BudgetFactory(workspace=workspace, scope=BudgetScope.API_KEY, api_key=api_key)
            BudgetAlertFactory(budget=Budget.objects.latest("pk"), window_start=current_window(workspace)[0])
            spend(workspace, "0.5", timezone.now(), agent=agent, api_key=api_key)

    add_budgets(2)
    # session, user, workspace; then budgets (with targets), their spend, their alerts
    with django_assert_num_queries(6):
        assert len(client.get(BUDGETS).json()) == 2
    add_budgets(18)
    with django_assert_num_queries(6):
        listed = client.get(BUDGETS).json()
    assert len(listed) == 20
    assert sum(len(b["alerts_sent"]) for b in listed) == 10


def test_the_openapi_schema_documents_the_budget_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"budgets_list", "budgets_create", "budgets_retrieve", "budgets_update", "budgets_delete"} <= operations
    output = schema["components"]["schemas"]["BudgetOutput"]["properties"]
    assert {"spent_usd", "remaining_usd", "used_percent", "window_start", "window_end", "alerts_sent"} <= set(output)
    assert schema["paths"]["/api/budgets/{budget_id}"]["delete"]["responses"].keys() >= {"204", "404"}
