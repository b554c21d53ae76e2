"""Monthly statements: the selector, /api/billing/statements (JSON and CSV) and the page, through the test client.

The browser drives the page in test_statement_page.py, on the same seeded month (`seed_march`).
"""

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.billing.models import LedgerEntry, LedgerKind
from apps.billing.statements import monthly_statement, statement_month_list
from apps.workspaces.models import Workspace
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import LedgerEntryFactory, OverageRecordFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
STATEMENTS = "/api/billing/statements"
GPT = "openai/gpt-4o-mini"
HAIKU = "anthropic/claude-haiku-4-5"


def _ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def _ledger(workspace, kind: str, amount: str, at: datetime) -> LedgerEntry:
    entry = LedgerEntryFactory(workspace=workspace, kind=kind, amount_usd=Decimal(amount))
    # created_at is set on insert; a queryset update (not save) backdates it, as the rows are immutable.
    LedgerEntry.objects.filter(pk=entry.pk).update(created_at=at)
    return entry


def seed_march(workspace) -> None:
    """March 2026 of a New York workspace, with calls, overage and credits on both sides of each month boundary."""
    support = AgentFactory(workspace=workspace, slug="support", name="Support Bot")
    coder = AgentFactory(workspace=workspace, slug="coder", name="Coder")
    usage = {"workspace": workspace}
    # March, local time: the first and last minutes of the month count (they are 1 and 2 April in UTC).
    UsageRecordFactory(
        **usage,
        model_name=GPT,
        agent=support,
        prompt_tokens=1000,
        completion_tokens=500,
        cost_usd=Decimal("0.0015"),
        created_at=_ny(2026, 3, 1, 0, 30),
    )
    UsageRecordFactory(
        **usage,
        model_name=GPT,
        is_byok=True,
        prompt_tokens=200,
        completion_tokens=100,
        cost_usd=Decimal("0.0003"),
        created_at=_ny(2026, 3, 15, 12),
    )
    UsageRecordFactory(
        **usage,
        model_name=HAIKU,
        agent=support,
        prompt_tokens=3000,
        completion_tokens=1000,
        cost_usd=Decimal("0.01"),
        created_at=_ny(2026, 3, 31, 23, 30),
    )
    UsageRecordFactory(
        **usage,
        model_name=HAIKU,
        agent=coder,
        prompt_tokens=10,
        completion_tokens=0,
        cost_usd=None,
        price_unknown=True,
        created_at=_ny(2026, 3, 20),
    )
    # February and April, local time (the February one is already 1 March in UTC).
    UsageRecordFactory(**usage, model_name=GPT, cost_usd=Decimal("5"), created_at=_ny(2026, 2, 28, 23, 59))
    UsageRecordFactory(**usage, model_name=GPT, cost_usd=Decimal("7"), created_at=_ny(2026, 4, 1, 0, 0))

    OverageRecordFactory(workspace=workspace, period_start=date(2026, 3, 1), tokens=4000, amount_usd=Decimal("0.01"))
    OverageRecordFactory(workspace=workspace, period_start=date(2026, 3, 1), tokens=6000, amount_usd=Decimal("0.015"))
    OverageRecordFactory(workspace=workspace, period_start=date(2026, 2, 1), tokens=9, amount_usd=Decimal("9"))

    _ledger(workspace, LedgerKind.TOPUP, "100", _ny(2026, 1, 10))
    _ledger(workspace, LedgerKind.CHARGE, "-10", _ny(2026, 2, 28, 23, 59))
    _ledger(workspace, LedgerKind.TOPUP, "50", _ny(2026, 3, 1))
    _ledger(workspace, LedgerKind.TRANSFER_IN, "5", _ny(2026, 3, 2))
    _ledger(workspace, LedgerKind.REFUND, "1", _ny(2026, 3, 3))
    _ledger(workspace, LedgerKind.CHARGE, "-0.0118", _ny(2026, 3, 31, 23, 59))
    _ledger(workspace, LedgerKind.TRANSFER_OUT, "-20", _ny(2026, 3, 5))
    _ledger(workspace, LedgerKind.ADJUSTMENT, "-2.5", _ny(2026, 3, 6))
    _ledger(workspace, LedgerKind.ADJUSTMENT, "0.5", _ny(2026, 3, 7))
    _ledger(workspace, LedgerKind.TOPUP, "1000", _ny(2026, 4, 1))

    # Another workspace's March changes nothing here.
    stranger = WorkspaceFactory(timezone="America/New_York")
    UsageRecordFactory(workspace=stranger, model_name=GPT, cost_usd=Decimal("3"), created_at=_ny(2026, 3, 10))
    OverageRecordFactory(workspace=stranger, period_start=date(2026, 3, 1))
    _ledger(stranger, LedgerKind.TOPUP, "33", _ny(2026, 3, 10))


def make_workspace(**kwargs) -> Workspace:
    plan = PlanFactory(name="Pro", monthly_token_quota=1_000_000)
    return WorkspaceFactory(**({"name": "Acme", "slug": "acme", "timezone": "America/New_York", "plan": plan} | kwargs))


@pytest.fixture
def workspace() -> Workspace:
    return make_workspace()


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user


@pytest.fixture
def client(member) -> APIClient:
    client = APIClient()
    client.force_login(member)
    return client


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


def _section(rows: list[list[str]], name: str) -> dict[str, list[str]]:
    """The rows of one CSV section by their item (second column), header row included."""
    return {row[1]: row[2:] for row in rows if row and row[0] == name}


def _future_month() -> str:
    following = (timezone.now().astimezone(NY).replace(day=1) + timedelta(days=32)).replace(day=1)
    return f"{following:%Y-%m}"


class TestSelector:
    def test_figures_of_the_month_in_the_workspaces_timezone(self, workspace):
        seed_march(workspace)
        statement = monthly_statement(workspace=workspace, month=date(2026, 3, 1))

        assert statement.period_start == _ny(2026, 3, 1) and statement.period_end == _ny(2026, 4, 1)
        assert not statement.in_progress
        totals = statement.totals
        assert (totals.requests, totals.platform_requests, totals.byok_requests) == (4, 3, 1)
        assert (totals.prompt_tokens, totals.completion_tokens, totals.tokens) == (4210, 1600, 5810)
        assert (totals.platform_tokens, totals.byok_tokens) == (5510, 300)
        assert (totals.cost_usd, totals.platform_cost_usd, totals.byok_cost_usd) == (
            Decimal("0.0118"),
            Decimal("0.0115"),
            Decimal("0.0003"),
        )
        assert totals.unknown_price_requests == 1
        assert [(row.model, row.requests, row.cost_usd) for row in statement.by_model] == [
            (HAIKU, 2, Decimal("0.01")),
            (GPT, 2, Decimal("0.0018")),
        ]
        assert [(row.agent_slug, row.requests, row.cost_usd) for row in statement.by_agent] == [
            ("support", 2, Decimal("0.0115")),
            ("", 1, Decimal("0.0003")),
            ("coder", 1, Decimal("0")),
        ]
        quota = statement.quota
        assert (quota.plan_name, quota.quota_tokens, quota.used_tokens, quota.remaining_tokens) == (
            "Pro",
            1_000_000,
            5510,
            994_490,
        )
        assert quota.percent_used == Decimal("0.55")
        assert (statement.overage.tokens, statement.overage.amount_usd) == (10_000, Decimal("0.025"))
        credits = statement.credits
        assert credits.opening_balance_usd == Decimal("90")
        assert [(line.kind, line.amount_usd) for line in credits.in_by_kind] == [
            ("topup", Decimal("50")),
            ("refund", Decimal("1")),
            ("transfer_in", Decimal("5")),
            ("adjustment", Decimal("0.5")),
        ]
        assert [(line.kind, line.amount_usd) for line in credits.out_by_kind] == [
            ("charge", Decimal("0.0118")),
            ("transfer_out", Decimal("20")),
            ("adjustment", Decimal("2.5")),
        ]
        assert credits.closing_balance_usd == Decimal("123.9882")
        # The closing balance is the ledger's balance at the end of the month.
        entries = LedgerEntry.objects.filter(workspace=workspace)
        assert credits.closing_balance_usd == sum(e.amount_usd for e in entries if e.created_at < _ny(2026, 4, 1))

    def test_neighbouring_months_get_the_calls_across_the_utc_boundary(self, workspace):
        seed_march(workspace)
        february = monthly_statement(workspace=workspace, month=date(2026, 2, 1))
        april = monthly_statement(workspace=workspace, month=date(2026, 4, 1))
        assert (february.totals.requests, february.totals.cost_usd) == (1, Decimal("5"))
        assert (february.overage.tokens, february.overage.amount_usd) == (9, Decimal("9"))
        assert february.credits.closing_balance_usd == Decimal("90")
        assert (april.totals.requests, april.totals.cost_usd) == (1, Decimal("7"))
        assert april.credits.opening_balance_usd == Decimal("123.9882")
        assert april.credits.closing_balance_usd == Decimal("1123.9882")

    def test_an_empty_month_on_an_unlimited_plan(self):
        workspace = WorkspaceFactory(plan=PlanFactory(name="Enterprise", monthly_token_quota=None))
        statement = monthly_statement(workspace=workspace, month=date(2026, 5, 1))
        assert statement.totals.requests == 0 and statement.totals.cost_usd == Decimal("0")
        assert statement.by_model == () and statement.by_agent == ()
        assert statement.quota.unlimited and statement.quota.remaining_tokens is None
        assert statement.quota.percent_used is None
        assert statement.credits.in_by_kind == () and statement.credits.closing_balance_usd == Decimal("0")
        assert statement.timezone == "UTC"

    def test_the_current_month_is_in_progress_and_quota_past_100_percent(self):
        workspace = WorkspaceFactory(plan=PlanFactory(monthly_token_quota=1000))
        now = datetime(2026, 6, 10, tzinfo=ZoneInfo("UTC"))
        UsageRecordFactory(workspace=workspace, prompt_tokens=1200, completion_tokens=300, created_at=now)
        UsageRecordFactory(workspace=workspace, is_byok=True, prompt_tokens=10**6, created_at=now)
        statement = monthly_statement(workspace=workspace, month=date(2026, 6, 1), now=now)
        assert statement.in_progress
        assert (statement.quota.used_tokens, statement.quota.remaining_tokens) == (1500, 0)
        assert statement.quota.percent_used == Decimal("150.00")

    def test_a_constant_number_of_queries_whatever_the_data(self, workspace, django_assert_num_queries):
        seed_march(workspace)
        loaded = Workspace.objects.select_related("plan").get(pk=workspace.pk)
        with django_assert_num_queries(4):
            small = monthly_statement(workspace=loaded, month=date(2026, 3, 1))

        for n in range(30):
            agent = AgentFactory(workspace=workspace)
            UsageRecordFactory(workspace=workspace, model_name=f"m/{n % 7}", agent=agent, created_at=_ny(2026, 3, 9))
            _ledger(workspace, LedgerKind.TOPUP, "1", _ny(2026, 3, 9))
            OverageRecordFactory(workspace=workspace, period_start=date(2026, 3, 1))
        with django_assert_num_queries(4):
            large = monthly_statement(workspace=loaded, month=date(2026, 3, 1))
        assert large.totals.requests == small.totals.requests + 30
        assert len(large.by_model) == len(small.by_model) + 7
        assert len(large.by_agent) == len(small.by_agent) + 30

    def test_months_with_activity_newest_first(self, workspace):
        seed_march(workspace)
        LedgerEntryFactory(workspace=workspace)  # this month
        OverageRecordFactory(workspace=workspace, period_start=date(2025, 12, 1))
        UsageRecordFactory(workspace=workspace, created_at=timezone.now() + timedelta(days=70))  # a clock ahead
        current = timezone.now().astimezone(NY).date().replace(day=1)
        assert statement_month_list(workspace=workspace) == [
            current,
            date(2026, 4, 1),
            date(2026, 3, 1),
            date(2026, 2, 1),
            date(2026, 1, 1),
            date(2025, 12, 1),
        ]


class TestStatementApi:
    def test_the_statement_as_json(self, client, workspace):
        seed_march(workspace)
        response = client.get(f"{STATEMENTS}/2026-03")
        assert response.status_code == 200
        body = response.json()
        assert body["workspace"] == {"slug": "acme", "name": "Acme"}
        assert body["month"] == "2026-03"
        assert (body["period_start"], body["period_end"]) == ("2026-03-01T00:00:00-05:00", "2026-04-01T00:00:00-04:00")
        assert (body["timezone"], body["in_progress"], body["billing_mode"]) == ("America/New_York", False, "invoice")
        assert body["totals"] == {
            "requests": 4,
            "platform_requests": 3,
            "byok_requests": 1,
            "prompt_tokens": 4210,
            "completion_tokens": 1600,
            "tokens": 5810,
            "platform_tokens": 5510,
            "byok_tokens": 300,
            "cost_usd": "0.0118",
            "platform_cost_usd": "0.0115",
            "byok_cost_usd": "0.0003",
            "unknown_price_requests": 1,
        }
        assert body["by_model"][1] == {
            "model": GPT,
            "requests": 2,
            "platform_requests": 1,
            "byok_requests": 1,
            "prompt_tokens": 1200,
            "completion_tokens": 600,
            "tokens": 1800,
            "platform_tokens": 1500,
            "byok_tokens": 300,
            "cost_usd": "0.0018",
            "platform_cost_usd": "0.0015",
            "byok_cost_usd": "0.0003",
            "unknown_price_requests": 0,
        }
        agents = [(row["agent"], row["cost_usd"], row["unknown_price_requests"]) for row in body["by_agent"]]
        support = workspace.agents.get(slug="support")
        coder = workspace.agents.get(slug="coder")
        assert agents == [
            ({"id": support.pk, "slug": "support", "name": "Support Bot"}, "0.0115", 0),
            (None, "0.0003", 0),
            ({"id": coder.pk, "slug": "coder", "name": "Coder"}, "0.00", 1),
        ]
        assert body["quota"] == {
            "plan": "Pro",
            "unlimited": False,
            "monthly_token_quota": 1_000_000,
            "used_tokens": 5510,
            "remaining_tokens": 994_490,
            "percent_used": "0.55",
        }
        assert body["overage"] == {"tokens": 10_000, "amount_usd": "0.025"}
        assert body["credits"] == {
            "opening_balance_usd": "90.00",
            "in_by_kind": [
                {"kind": "topup", "label": "Top-up", "amount_usd": "50.00"},
                {"kind": "refund", "label": "Refund", "amount_usd": "1.00"},
                {"kind": "transfer_in", "label": "Transfer in", "amount_usd": "5.00"},
                {"kind": "adjustment", "label": "Correction", "amount_usd": "0.50"},
            ],
            "out_by_kind": [
                {"kind": "charge", "label": "Usage charge", "amount_usd": "0.0118"},
                {"kind": "transfer_out", "label": "Transfer out", "amount_usd": "20.00"},
                {"kind": "adjustment", "label": "Correction", "amount_usd": "2.50"},
            ],
            "total_in_usd": "56.50",
            "total_out_usd": "22.5118",
            "closing_balance_usd": "123.9882",
        }

    def test_the_statement_as_csv(self, client, workspace):
        seed_march(workspace)
        response = client.get(f"{STATEMENTS}/2026-03.csv")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="switchyard-statement-acme-2026-03.csv"'
        rows = _csv_rows(response.content)
        assert rows[0] == ["Section", "Item", "Value"]
        assert _section(rows, "Statement")["Month"] == ["2026-03"]
        summary = _section(rows, "Summary")
        assert summary["Item"] == ["Platform", "BYOK", "Total"]
        assert summary["Requests"] == ["3", "1", "4"]
        assert summary["Tokens"] == ["5510", "300", "5810"]
        assert summary["Cost (USD)"] == ["0.0115", "0.0003", "0.0118"]
        assert summary["Unknown-price calls"] == ["", "", "1"]
        quota = _section(rows, "Quota")
        assert quota["Used tokens"] == ["5510"] and quota["Percent used"] == ["0.55"]
        assert _section(rows, "Overage") == {"Tokens": ["10000"], "Amount (USD)": ["0.025"]}
        by_model = _section(rows, "By model")
        assert list(by_model) == ["Model", HAIKU, GPT]
        assert by_model[GPT] == ["2", "1200", "600", "1800", "0.0018", "0.0015", "0.0003", "0"]
        assert list(_section(rows, "By agent")) == ["Agent", "support", "(no agent)", "coder"]
        credits = _section(rows, "Credits")
        assert credits["Opening balance"] == ["90.00"]
        assert credits["In: Top-up"] == ["50.00"] and credits["Out: Transfer out"] == ["20.00"]
        assert credits["Closing balance"] == ["123.9882"]

    def test_the_csv_is_sent_whatever_the_accept_header(self, client, workspace):
        seed_march(workspace)
        response = client.get(f"{STATEMENTS}/2026-03.csv", HTTP_ACCEPT="text/csv")
        assert response.status_code == 200 and response.content.startswith(b"Section,Item,Value")
        refused = client.get(f"{STATEMENTS}/2026-13.csv", HTTP_ACCEPT="text/csv")
        assert refused.status_code == 400
        assert refused.json()["extra"]["fields"] == {"month": ["The month must be given as YYYY-MM, e.g. 2026-03."]}

    def test_a_name_that_looks_like_a_formula_is_text_in_the_csv(self, client, workspace):
        UsageRecordFactory(workspace=workspace, model_name="=HYPERLINK(1)", created_at=_ny(2026, 3, 2))
        rows = _csv_rows(client.get(f"{STATEMENTS}/2026-03.csv").content)
        assert list(_section(rows, "By model")) == ["Model", "'=HYPERLINK(1)"]

    @pytest.mark.parametrize("suffix", ["", ".csv"])
    @pytest.mark.parametrize(
        ("month", "status", "message"),
        [
            ("2026-13", 400, "The month must be given as YYYY-MM, e.g. 2026-03."),
            ("2026-00", 400, "The month must be given as YYYY-MM, e.g. 2026-03."),
            ("abc", 400, "The month must be given as YYYY-MM, e.g. 2026-03."),
            ("2026-3", 400, "The month must be given as YYYY-MM, e.g. 2026-03."),
            ("1999-12", 400, "The month must be 2000-01 or later."),
        ],
    )
    def test_a_bad_month_names_the_field(self, client, workspace, suffix, month, status, message):
        response = client.get(f"{STATEMENTS}/{month}{suffix}")
        assert response.status_code == status
        expected_extra = {"code": "invalid_request", "fields": {"month": [message]}}
        assert response.json() == {"message": message, "extra": expected_extra}

    @pytest.mark.parametrize("suffix", ["", ".csv"])
    def test_a_month_that_has_not_begun_is_404(self, client, workspace, suffix):
        month = _future_month()
        response = client.get(f"{STATEMENTS}/{month}{suffix}")
        assert response.status_code == 404
        message = f"There is no statement for {month}: the month has not begun."
        assert response.json() == {"message": message, "extra": {"code": "not_found", "fields": {"month": [message]}}}

    def test_the_current_month_is_in_progress(self, client, workspace):
        current = f"{timezone.now().astimezone(NY):%Y-%m}"
        body = client.get(f"{STATEMENTS}/{current}").json()
        assert body["month"] == current and body["in_progress"] is True

    def test_the_months_with_activity(self, client, workspace):
        seed_march(workspace)
        response = client.get(STATEMENTS)
        assert response.status_code == 200
        assert response.json() == [
            {
                "month": month,
                "url": f"http://testserver{STATEMENTS}/{month}",
                "csv_url": f"http://testserver{STATEMENTS}/{month}.csv",
            }
            for month in ("2026-04", "2026-03", "2026-02", "2026-01")
        ]

    def test_no_credentials_get_401(self):
        for url in (STATEMENTS, f"{STATEMENTS}/2026-03", f"{STATEMENTS}/2026-03.csv"):
            response = APIClient().get(url)
            assert response.status_code == 401
            assert response.json()["extra"] == {"code": "not_authenticated"}

    def test_an_api_key_sees_its_own_workspace(self, workspace):
        seed_march(workspace)
        other = make_workspace(slug="other", name="Other")
        UsageRecordFactory(workspace=other, cost_usd=Decimal("2"), created_at=_ny(2026, 3, 3))
        _, secret = ApiKeyFactory.create_with_secret(workspace=other)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        body = client.get(f"{STATEMENTS}/2026-03").json()
        assert body["workspace"]["slug"] == "other"
        assert (body["totals"]["requests"], body["totals"]["cost_usd"]) == (1, "2.00")
        assert [m["month"] for m in client.get(STATEMENTS).json()] == ["2026-03"]
        assert client.get(f"{STATEMENTS}/2026-03", HTTP_X_SWITCHYARD_WORKSPACE="acme").status_code == 403

    def test_a_member_sees_another_workspace_only_if_theirs(self, client, workspace, member):
        seed_march(workspace)
        stranger = WorkspaceFactory(slug="stranger")
        UsageRecordFactory(workspace=stranger, created_at=_ny(2026, 3, 3))
        refused = client.get(f"{STATEMENTS}/2026-03", HTTP_X_SWITCHYARD_WORKSPACE="stranger")
        assert refused.status_code == 403
        assert refused.json()["message"] == "You are not a member of the workspace 'stranger'."
        assert client.get(f"{STATEMENTS}/2026-03.csv", HTTP_X_SWITCHYARD_WORKSPACE="stranger").status_code == 403

        MembershipFactory(workspace=stranger, user=member)
        mine_now = client.get(f"{STATEMENTS}/2026-03", HTTP_X_SWITCHYARD_WORKSPACE="stranger").json()
        assert mine_now["workspace"]["slug"] == "stranger" and mine_now["totals"]["requests"] == 1
        assert client.get(f"{STATEMENTS}/2026-03").json()["totals"]["requests"] == 4

    def test_the_openapi_schema_documents_them(self, client):
        paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
        assert paths["/api/billing/statements"]["get"]["operationId"] == "billing_statements_list"
        detail = paths["/api/billing/statements/{month}"]["get"]
        assert set(detail["responses"]) == {"200", "400", "401", "404"}
        assert "text/csv" in paths["/api/billing/statements/{month}.csv"]["get"]["responses"]["200"]["content"]


class TestStatementPage:
    @pytest.fixture
    def browser(self, member) -> APIClient:
        client = APIClient()
        client.force_login(member)
        return client

    def test_signing_in_is_required(self):
        response = APIClient().get("/billing/statements/2026-03/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/billing/statements/2026-03/"
        assert APIClient().get("/billing/statements/2026-03.csv").status_code == 302

    def test_the_login_form_signs_in_and_lands_on_the_statements(self, member):
        client = APIClient()
        page = client.get("/accounts/login/")
        assert page.status_code == 200
        html = page.content.decode()
        assert '<label for="id_username">Username</label>' in html
        assert '<label for="id_password">Password</label>' in html
        wrong = client.post("/accounts/login/", {"username": "ada", "password": "nope"})
        assert wrong.status_code == 200 and "enter a correct username and password" in wrong.content.decode()
        signed_in = client.post("/accounts/login/", {"username": "ada", "password": "correct-horse-battery"})
        assert signed_in.status_code == 302 and signed_in["Location"] == "/models/"
        signed_out = client.post("/accounts/logout/")
        assert signed_out.status_code == 302 and signed_out["Location"] == "/accounts/login/"
        assert client.get("/billing/statements/").status_code == 302

    def test_the_current_month_is_the_default(self, browser, workspace):
        response = browser.get("/billing/statements/")
        assert response.status_code == 302
        assert response["Location"] == f"/billing/statements/{timezone.now().astimezone(NY):%Y-%m}/"

    def test_the_month_picker_goes_to_the_month_chosen(self, browser, workspace):
        assert browser.get("/billing/statements/?month=2026-03")["Location"] == "/billing/statements/2026-03/"
        refused = browser.get("/billing/statements/?month=2026-13", follow=True)
        assert refused.redirect_chain[-1][0] == f"/billing/statements/{timezone.now().astimezone(NY):%Y-%m}/"
        assert "The month must be given as YYYY-MM, e.g. 2026-03." in refused.content.decode()

    def test_the_page_shows_the_statement(self, browser, workspace):
        seed_march(workspace)
        response = browser.get("/billing/statements/2026-03/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "<h1>Statement for March 2026</h1>" in html
        assert '<td class="num" data-figure="cost">$0.0118</td>' in html
        assert '<td class="num" data-figure="platform-tokens">5,510</td>' in html
        assert '<dd data-figure="quota-used">5,510</dd>' in html
        assert '<td class="num" data-figure="closing-balance">$123.9882</td>' in html
        assert 'href="/billing/statements/2026-02/" rel="prev"' in html
        assert 'href="/billing/statements/2026-04/" rel="next"' in html
        assert 'href="/billing/statements/2026-03.csv" download' in html

    def test_the_page_csv_is_the_api_csv(self, browser, client, workspace):
        seed_march(workspace)
        page_csv = browser.get("/billing/statements/2026-03.csv")
        assert page_csv.status_code == 200
        assert page_csv["Content-Disposition"] == 'attachment; filename="switchyard-statement-acme-2026-03.csv"'
        assert page_csv.content == client.get(f"{STATEMENTS}/2026-03.csv").content

    def test_a_member_of_several_workspaces_picks_among_theirs_only(self, browser, workspace, member):
        seed_march(workspace)
        side = WorkspaceFactory(slug="side", name="Side project")
        MembershipFactory(workspace=side, user=member)
        UsageRecordFactory(workspace=side, cost_usd=Decimal("2"), created_at=_ny(2026, 3, 3))
        stranger = WorkspaceFactory(slug="stranger")

        page = browser.get("/billing/statements/2026-03/?workspace=side")
        assert page.status_code == 200
        html = page.content.decode()
        assert '<td class="num" data-figure="cost">$2.00</td>' in html
        assert '<option value="side" selected>Side project</option>' in html
        assert 'href="/billing/statements/2026-03.csv?workspace=side"' in html
        assert 'href="/billing/statements/2026-02/?workspace=side" rel="prev"' in html
        csv_rows = _csv_rows(browser.get("/billing/statements/2026-03.csv?workspace=side").content)
        assert _section(csv_rows, "Statement")["Workspace"] == ["side"]
        assert browser.get("/billing/statements/?workspace=side")["Location"].endswith("/?workspace=side")

        for url in ("/billing/statements/", "/billing/statements/2026-03/", "/billing/statements/2026-03.csv"):
            assert browser.get(f"{url}?workspace={stranger.slug}").status_code == 404

    def test_a_month_without_a_statement_is_404(self, browser, workspace):
        assert browser.get(f"/billing/statements/{_future_month()}/").status_code == 404
        assert browser.get("/billing/statements/2026-13/").status_code == 404
        assert browser.get("/billing/statements/1999-12.csv").status_code == 404
        assert browser.get("/billing/statements/abc/").status_code == 404

    def test_a_user_without_a_workspace_is_refused(self):
        client = APIClient()
        client.force_login(UserFactory())
        assert client.get("/billing/statements/").status_code == 403
