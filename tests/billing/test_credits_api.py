"""/api/credits through DRF's test client: balance, entries, transfers between workspaces, staff top-ups and refunds,
bad input, workspace scoping, idempotency, and concurrent transfers on a real database."""

import datetime
import json
import threading
import uuid
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.analytics.models import AuditEvent
from apps.billing import admission
from apps.billing.models import LedgerEntry, LedgerKind
from apps.billing.selectors import ledger_balance
from apps.billing.services import ledger_correction, ledger_topup, ledger_usage_charges_record
from apps.workspaces.models import BillingMode
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import SpoolRecordFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

BALANCE = "/api/credits/"
ENTRIES = "/api/credits/entries"
TRANSFERS = "/api/credits/transfers"
TOPUPS = "/api/credits/topups"
REFUNDS = "/api/credits/refunds"


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme", billing_mode=BillingMode.PREPAID)


@pytest.fixture
def partner():
    return WorkspaceFactory(slug="globex")


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user


@pytest.fixture
def client(member) -> APIClient:
    client = APIClient()
    client.force_login(member)
    return client


@pytest.fixture
def credits_changed(monkeypatch) -> list:
    """What the admission counters were told, once the transaction committed."""
    calls = []
    monkeypatch.setattr(admission, "credits_changed", lambda **kwargs: calls.append(kwargs))
    return calls


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def post(client: APIClient, url: str, data: dict, key: str | None = None):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(url, data, format="json", **headers)


def post_raw(client: APIClient, url: str, body: str, key: str | None = None):
    """A JSON body as written, so numbers arrive as JSON numbers (the test client would render Decimals as strings)."""
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.generic("POST", url, body, content_type="application/json", **headers)


@contextmanager
def at(moment: datetime.datetime):
    """Entries written inside are dated `moment` (created_at is set by the database layer from timezone.now)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def snapshot() -> tuple:
    return (
        list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount_usd")),
        AuditEvent.objects.count(),
    )


class TestBalance:
    def test_balance_credits_usage_and_mode_of_the_callers_workspace_only(self, client, workspace, partner):
        ledger_topup(workspace=workspace, amount_usd=Decimal("20"))
        ledger_correction(workspace=workspace, amount_usd=Decimal("-0.5"), description="Double top-up")
        ledger_usage_charges_record(
            records=[SpoolRecordFactory(workspace_id=workspace.pk, cost_usd="1.2345678949")]
        )  # charged 1.23456789 (half-up at 8 places)
        UsageRecordFactory(workspace=workspace, cost_usd=Decimal("1.2345678949"))
        UsageRecordFactory(workspace=workspace, cost_usd=None, price_unknown=True)
        ledger_topup(workspace=partner, amount_usd=Decimal("999"))
        UsageRecordFactory(workspace=partner, cost_usd=Decimal("5"))

        response = client.get(BALANCE)

        assert response.status_code == 200
        assert response.json() == {
            "balance": "18.26543211",
            "total_credits": "20.00000000",
            "total_usage": "1.2345678949",
            "billing_mode": "prepaid",
        }

    def test_a_new_workspace_has_nothing(self, client):
        assert client.get(BALANCE).json()["balance"] == "0.00000000"
        without_slash = client.get("/api/credits", follow=True)
        assert without_slash.redirect_chain == [("/api/credits/", 301)]
        assert without_slash.json()["balance"] == "0.00000000"

    def test_needs_credentials(self):
        response = APIClient().get(BALANCE)
        assert response.status_code == 401
        assert response.json()["extra"]["code"] == "not_authenticated"


class TestEntries:
    def test_newest_first_with_counterparty_and_generation_never_another_workspaces(self, client, workspace, partner):
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"), description="Wire 1")
        ledger_usage_charges_record(
            records=[SpoolRecordFactory(workspace_id=workspace.pk, generation_id="gen-abc", cost_usd="0.25")]
        )
        response = post(client, TRANSFERS, {"to": "globex", "amount_usd": "2", "description": "Job 7"}, key="t-1")
        assert response.status_code == 201
        ledger_topup(workspace=partner, amount_usd=Decimal("50"), description="Partner's own")

        listed = client.get(ENTRIES)

        assert listed.status_code == 200
        body = listed.json()
        assert body["count"] == 3
        out, charge, topup = body["results"]
        assert out == {
            "id": response.json()["outgoing_entry_id"],
            "kind": "transfer_out",
            "amount_usd": "-2.00000000",
            "description": "Job 7",
            "counterparty": "globex",
            "transfer_id": response.json()["transfer_id"],
            "generation_id": None,
            "created_at": out["created_at"],
        }
        assert (charge["kind"], charge["amount_usd"], charge["generation_id"]) == ("charge", "-0.25000000", "gen-abc")
        assert (topup["kind"], topup["description"], topup["counterparty"]) == ("topup", "Wire 1", None)
        assert "Partner's own" not in listed.content.decode()

    def test_filters_by_kind_and_date_range(self, client, workspace):
        day = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)
        for offset, amount in [(0, "1"), (5, "2"), (10, "4"), (20, "8")]:
            with at(day + datetime.timedelta(days=offset)):
                ledger_topup(workspace=workspace, amount_usd=Decimal(amount))
        with at(day + datetime.timedelta(days=6)):
            ledger_correction(workspace=workspace, amount_usd=Decimal("-0.5"), description="Fix")

        # `since` is inclusive (the day-5 top-up at 12:00 is in), `before` exclusive (the day-10 one is out).
        in_range = client.get(ENTRIES, {"since": "2026-03-06T12:00:00Z", "before": "2026-03-11T12:00:00Z"}).json()
        assert [e["amount_usd"] for e in in_range["results"]] == ["-0.50000000", "2.00000000"]
        topups_since = client.get(ENTRIES, {"kind": "topup", "since": "2026-03-06T12:00:00Z"}).json()
        assert [e["amount_usd"] for e in topups_since["results"]] == ["8.00000000", "4.00000000", "2.00000000"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"kind": "gift"}, "kind"),
            ({"since": "yesterday"}, "since"),
            ({"since": "2026-03-02T00:00:00Z", "before": "2026-03-01T00:00:00Z"}, "before"),
        ],
    )
    def test_bad_filters_are_400_naming_the_field(self, client, params, field):
        response = client.get(ENTRIES, params)
        assert response.status_code == 400
        assert field in response.json()["extra"]["fields"]

    def test_queries_do_not_grow_with_the_entries(self, client, workspace, partner, django_assert_num_queries):
        ledger_topup(workspace=workspace, amount_usd=Decimal("100"))
        for number in range(2):
            post(client, TRANSFERS, {"to": "globex", "amount_usd": "1"}, key=f"few-{number}")
        with django_assert_num_queries(5):  # session, user, membership, count, page with its counterparties
            client.get(ENTRIES)
        for number in range(20):
            post(client, TRANSFERS, {"to": "globex", "amount_usd": "1"}, key=f"many-{number}")
        with django_assert_num_queries(5):
            assert len(client.get(ENTRIES).json()["results"]) == 23

    def test_pages(self, client, workspace):
        for amount in range(1, 6):
            ledger_topup(workspace=workspace, amount_usd=Decimal(amount))
        first = client.get(ENTRIES, {"page_size": 2}).json()
        assert first["count"] == 5
        assert [e["amount_usd"] for e in first["results"]] == ["5.00000000", "4.00000000"]
        last = client.get(ENTRIES, {"page_size": 2, "page": 3}).json()
        assert [e["amount_usd"] for e in last["results"]] == ["1.00000000"]
        assert last["next"] is None
        assert client.get(ENTRIES, {"page_size": 2, "page": 4}).status_code == 404


class TestTransfers:
    def test_both_sides_are_written_with_one_transfer_id(
        self, workspace, partner, member, credits_changed, django_capture_on_commit_callbacks
    ):
        ledger_topup(workspace=workspace, amount_usd=Decimal("30"))
        agent = AgentFactory(workspace=workspace, slug="buyer-bot")
        api_key, secret = ApiKeyFactory.create_with_secret(workspace=workspace, agent=agent, created_by=member)

        with django_capture_on_commit_callbacks(execute=True):
            response = post(
                bearer(secret), TRANSFERS, {"to": "globex", "amount_usd": "12.5", "description": " Job 42 "}, "k-1"
            )

        assert response.status_code == 201
        body = response.json()
        out = LedgerEntry.objects.get(workspace=workspace, kind=LedgerKind.TRANSFER_OUT)
        into = LedgerEntry.objects.get(workspace=partner, kind=LedgerKind.TRANSFER_IN)
        assert body == {
            "transfer_id": str(out.transfer_id),
            "payer": "acme",
            "payee": "globex",
            "amount_usd": "12.50000000",
            "description": "Job 42",
            "outgoing_entry_id": out.pk,
            "incoming_entry_id": into.pk,
            "payer_balance": "17.50000000",
            "created_at": body["created_at"],
        }
        assert out.transfer_id == into.transfer_id
        assert (out.amount_usd, out.counterparty, out.created_by) == (Decimal("-12.5"), partner, member)
        assert (into.amount_usd, into.counterparty) == (Decimal("12.5"), workspace)
        assert ledger_balance(workspace=workspace) == Decimal("17.5")
        assert ledger_balance(workspace=partner) == Decimal("12.5")
        paid = AuditEvent.objects.get(action="ledger.transfer_out")
        assert (paid.workspace, paid.actor, paid.actor_api_key) == (workspace, member, api_key)
        assert paid.data == {
            "amount_usd": "12.5",
            "transfer_id": str(out.transfer_id),
            "description": "Job 42",
            "to": "globex",
            "agent": "buyer-bot",
        }
        received = AuditEvent.objects.get(action="ledger.transfer_in")
        assert (received.workspace, received.actor, received.actor_api_key) == (partner, None, None)
        assert received.data["from"] == "acme"
        assert secret not in json.dumps([paid.data, received.data]) + response.content.decode()
        assert credits_changed == [
            {"workspace_id": workspace.pk, "amount_usd": Decimal("-12.5")},
            {"workspace_id": partner.pk, "amount_usd": Decimal("12.5")},
        ]

    def test_both_sides_can_look_the_transfer_up_nobody_else(self, client, workspace, partner):
        ledger_topup(workspace=workspace, amount_usd=Decimal("5"))
        transfer_id = post(client, TRANSFERS, {"to": "globex", "amount_usd": "1.25"}, key="k").json()["transfer_id"]

        mine = client.get(f"{TRANSFERS}/{transfer_id}")
        assert mine.status_code == 200
        assert mine.json()["direction"] == "out"
        assert (mine.json()["counterparty"], mine.json()["amount_usd"]) == ("globex", "1.25000000")

        _, partner_secret = ApiKeyFactory.create_with_secret(workspace=partner)
        theirs = bearer(partner_secret).get(f"{TRANSFERS}/{transfer_id}")
        assert theirs.status_code == 200
        assert (theirs.json()["direction"], theirs.json()["counterparty"]) == ("in", "acme")
        assert theirs.json()["entry_id"] == LedgerEntry.objects.get(workspace=partner).pk

        _, stranger_secret = ApiKeyFactory.create_with_secret(workspace=WorkspaceFactory())
        assert bearer(stranger_secret).get(f"{TRANSFERS}/{transfer_id}").status_code == 404
        assert client.get(f"{TRANSFERS}/{uuid.uuid4()}").status_code == 404

    def test_the_same_key_and_body_is_one_transfer(
        self, client, workspace, partner, credits_changed, django_capture_on_commit_callbacks
    ):
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"))
        body = {"to": "globex", "amount_usd": "4", "description": "Job"}
        first = post(client, TRANSFERS, body, key="job-1")
        with django_capture_on_commit_callbacks(execute=True):
            again = post(client, TRANSFERS, body, key="job-1")

        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json()["transfer_id"] == first.json()["transfer_id"]
        assert again.json()["outgoing_entry_id"] == first.json()["outgoing_entry_id"]
        assert LedgerEntry.objects.filter(transfer_id=first.json()["transfer_id"]).count() == 2
        assert ledger_balance(workspace=workspace) == Decimal("6")
        assert AuditEvent.objects.filter(action="ledger.transfer_out").count() == 1
        assert credits_changed == []

    @pytest.mark.parametrize(
        "changed",
        [{"amount_usd": "5"}, {"to": "initech"}, {"description": "Another job"}],
        ids=["amount", "payee", "description"],
    )
    def test_the_same_key_with_another_body_is_400_and_writes_nothing(self, client, workspace, partner, changed):
        WorkspaceFactory(slug="initech")
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"))
        body = {"to": "globex", "amount_usd": "4", "description": "Job"}
        assert post(client, TRANSFERS, body, key="job-1").status_code == 201
        before = snapshot()

        response = post(client, TRANSFERS, {**body, **changed}, key="job-1")

        assert response.status_code == 400
        assert response.json()["extra"]["code"] == "idempotency_key_reused"
        assert "idempotency_key" in response.json()["extra"]["fields"]
        assert snapshot() == before

    def test_a_key_is_the_callers_own(self, client, workspace, partner):
        """Another workspace using the same key makes its own transfer."""
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"))
        ledger_topup(workspace=partner, amount_usd=Decimal("10"))
        _, partner_secret = ApiKeyFactory.create_with_secret(workspace=partner)
        mine = post(client, TRANSFERS, {"to": "globex", "amount_usd": "1"}, key="same")
        theirs = post(bearer(partner_secret), TRANSFERS, {"to": "acme", "amount_usd": "3"}, key="same")
        assert (mine.status_code, theirs.status_code) == (201, 201)
        assert mine.json()["transfer_id"] != theirs.json()["transfer_id"]
        assert (ledger_balance(workspace=workspace), ledger_balance(workspace=partner)) == (12, 8)

    def test_a_balance_that_does_not_cover_it_is_402_and_writes_nothing(self, client, workspace, partner):
        ledger_topup(workspace=workspace, amount_usd=Decimal("3.99999999"))
        before = snapshot()

        response = post(client, TRANSFERS, {"to": "globex", "amount_usd": "4"}, key="k")

        assert response.status_code == 402
        assert response.json() == {
            "message": "The balance ($3.99999999) does not cover this transfer of $4.",
            "extra": {"code": "insufficient_credits", "balance_usd": "3.99999999", "amount_usd": "4"},
        }
        assert snapshot() == before
        # The refused key is not spent: the same request succeeds once the balance covers it.
        ledger_topup(workspace=workspace, amount_usd=Decimal("0.00000001"))
        assert post(client, TRANSFERS, {"to": "globex", "amount_usd": "4"}, key="k").status_code == 201
        assert ledger_balance(workspace=workspace) == 0

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ('{"to": "globex", "amount_usd": "-5"}', "amount_usd"),
            ('{"to": "globex", "amount_usd": -5}', "amount_usd"),
            ('{"to": "globex", "amount_usd": "abc"}', "amount_usd"),
            ('{"to": "globex", "amount_usd": "0"}', "amount_usd"),
            ('{"to": "globex", "amount_usd": 0}', "amount_usd"),
            ('{"to": "globex", "amount_usd": "1e-9"}', "amount_usd"),
            ('{"to": "globex", "amount_usd": 1e-9}', "amount_usd"),
            ('{"to": "globex", "amount_usd": "0.000000001"}', "amount_usd"),
            ('{"to": "globex", "amount_usd": 2.123456789}', "amount_usd"),
            ('{"to": "globex", "amount_usd": "NaN"}', "amount_usd"),
            ('{"to": "globex", "amount_usd": true}', "amount_usd"),
            ('{"to": "globex", "amount_usd": ["1"]}', "amount_usd"),
            ('{"to": "globex", "amount_usd": "1e20"}', "amount_usd"),
            ('{"to": "globex"}', "amount_usd"),
            ('{"to": "acme", "amount_usd": "1"}', "to"),
            ('{"to": "nowhere", "amount_usd": "1"}', "to"),
            ('{"to": "sleepy", "amount_usd": "1"}', "to"),
            ('{"to": "not a slug!", "amount_usd": "1"}', "to"),
            ('{"amount_usd": "1"}', "to"),
            ('{"to": "globex", "amount_usd": "1", "description": "' + "x" * 256 + '"}', "description"),
        ],
        ids=[
            "negative",
            "negative-number",
            "not-a-number",
            "zero",
            "zero-number",
            "1e-9",
            "1e-9-number",
            "nine-places",
            "nine-places-number",
            "nan",
            "boolean",
            "list",
            "too-large",
            "no-amount",
            "oneself",
            "missing-workspace",
            "inactive-workspace",
            "bad-slug",
            "no-payee",
            "long-description",
        ],
    )
    def test_bad_input_is_400_naming_the_field_and_writes_nothing(self, client, workspace, partner, body, field):
        WorkspaceFactory(slug="sleepy", is_active=False)
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"))
        before = snapshot()

        response = post_raw(client, TRANSFERS, body, key="k")

        assert response.status_code == 400, response.content
        assert field in response.json()["extra"]["fields"], response.json()
        assert response.json()["message"]
        assert snapshot() == before

    def test_a_missing_workspace_and_an_inactive_one_get_the_same_answer(self, client, workspace):
        WorkspaceFactory(slug="sleepy", is_active=False)
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"))
        missing = post(client, TRANSFERS, {"to": "nowhere", "amount_usd": "1"}, key="a").json()
        inactive = post(client, TRANSFERS, {"to": "sleepy", "amount_usd": "1"}, key="b").json()
        assert missing["message"] == "No active workspace 'nowhere' to pay."
        assert inactive["message"] == "No active workspace 'sleepy' to pay."

    @pytest.mark.parametrize("key", [None, "", "x" * 101, "has space", "naïve"])
    def test_an_idempotency_key_is_required_and_sane(self, client, workspace, partner, key):
        ledger_topup(workspace=workspace, amount_usd=Decimal("10"))
        before = snapshot()
        headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        response = client.post(TRANSFERS, {"to": "globex", "amount_usd": "1"}, format="json", **headers)
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["extra"]["fields"]["idempotency_key"][0]
        assert snapshot() == before

    def test_json_numbers_are_taken_exactly_as_written(self, client, workspace, partner):
        ledger_topup(workspace=workspace, amount_usd=Decimal("1"))
        response = post_raw(client, TRANSFERS, '{"to": "globex", "amount_usd": 0.1}', key="n1")
        assert response.status_code == 201
        response = post_raw(client, TRANSFERS, '{"to": "globex", "amount_usd": 0.20000001}', key="n2")
        assert response.status_code == 201
        assert ledger_balance(workspace=partner) == Decimal("0.30000001")
        assert ledger_balance(workspace=workspace) == Decimal("0.69999999")

    def test_a_replay_is_answered_after_the_balance_is_spent_and_the_payee_deactivated(
        self, client, workspace, partner
    ):
        ledger_topup(workspace=workspace, amount_usd=Decimal("4"))
        first = post(client, TRANSFERS, {"to": "globex", "amount_usd": "4"}, key="k")
        partner.is_active = False
        partner.save(update_fields=["is_active"])
        again = post(client, TRANSFERS, {"to": "globex", "amount_usd": "4"}, key="k")
        assert again.status_code == 201
        assert again.json()["transfer_id"] == first.json()["transfer_id"]
        assert again.json()["payer_balance"] == "0.00000000"

    def test_a_member_of_two_workspaces_pays_from_the_one_named(self, client, workspace, member, partner):
        other = WorkspaceFactory(slug="side-project")
        MembershipFactory(workspace=other, user=member)
        ledger_topup(workspace=other, amount_usd=Decimal("2"))
        response = client.post(
            TRANSFERS,
            {"to": "globex", "amount_usd": "2"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
            HTTP_X_SWITCHYARD_WORKSPACE="side-project",
        )
        assert response.status_code == 201
        assert ledger_balance(workspace=other) == 0
        assert ledger_balance(workspace=workspace) == 0
        # A workspace the member does not belong to cannot be made to pay.
        refused = client.post(
            TRANSFERS,
            {"to": "acme", "amount_usd": "1"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k2",
            HTTP_X_SWITCHYARD_WORKSPACE="globex",
        )
        assert refused.status_code == 403
        assert LedgerEntry.objects.filter(workspace=partner, kind=LedgerKind.TRANSFER_OUT).count() == 0


@pytest.fixture
def staff_client() -> APIClient:
    staff = UserFactory(username="staffer", staff=True)
    MembershipFactory(workspace=WorkspaceFactory(slug="platform"), user=staff)
    client = APIClient()
    client.force_login(staff)
    return client


class TestStaffTopupsAndRefunds:
    def test_staff_top_up_any_workspace(
        self, staff_client, workspace, credits_changed, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = post(
                staff_client, TOPUPS, {"workspace": "acme", "amount_usd": "100.5", "description": "PO 9"}, key="po-9"
            )

        assert response.status_code == 201
        entry = LedgerEntry.objects.get()
        assert response.json() == {
            "id": entry.pk,
            "kind": "topup",
            "amount_usd": "100.50000000",
            "description": "PO 9",
            "counterparty": None,
            "transfer_id": None,
            "generation_id": None,
            "created_at": response.json()["created_at"],
            "workspace": "acme",
            "balance": "100.50000000",
        }
        assert (entry.workspace, entry.created_by.username) == (workspace, "staffer")
        event = AuditEvent.objects.get(action="ledger.topup")
        assert (event.workspace, event.actor.username, event.data["amount_usd"]) == (workspace, "staffer", "100.5")
        assert credits_changed == [{"workspace_id": workspace.pk, "amount_usd": Decimal("100.5")}]

    def test_an_api_key_made_by_staff_tops_up(self, workspace):
        staff = UserFactory(staff=True)
        _, secret = ApiKeyFactory.create_with_secret(workspace=WorkspaceFactory(), created_by=staff)
        response = post_raw(bearer(secret), TOPUPS, '{"workspace": "acme", "amount_usd": 7.25}')
        assert response.status_code == 201
        assert ledger_balance(workspace=workspace) == Decimal("7.25")

    def test_everyone_else_is_403_and_nothing_is_written(self, client, workspace, member):
        _, secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=member)
        _, orphan_secret = ApiKeyFactory.create_with_secret(workspace=workspace)
        for caller in (client, bearer(secret), bearer(orphan_secret)):
            for url in (TOPUPS, REFUNDS):
                response = post(caller, url, {"workspace": "acme", "amount_usd": "1000"})
                assert response.status_code == 403
                assert response.json()["message"] == "Only staff can add credits to a workspace."
        assert APIClient().post(TOPUPS, {"workspace": "acme", "amount_usd": "1"}, format="json").status_code == 401
        assert not LedgerEntry.objects.exists()

    def test_a_topup_key_repeats_once_and_refuses_another_body(self, staff_client, workspace):
        body = {"workspace": "acme", "amount_usd": "10"}
        first = post(staff_client, TOPUPS, body, key="stripe-evt-1")
        again = post(staff_client, TOPUPS, body, key="stripe-evt-1")
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json()["id"] == first.json()["id"]
        before = snapshot()
        other = post(staff_client, TOPUPS, {**body, "amount_usd": "11"}, key="stripe-evt-1")
        assert other.status_code == 400
        assert other.json()["extra"]["code"] == "idempotency_key_reused"
        as_refund = post(staff_client, REFUNDS, body, key="stripe-evt-1")
        assert as_refund.status_code == 400
        assert snapshot() == before
        assert ledger_balance(workspace=workspace) == 10

    @pytest.mark.parametrize(
        ("url", "body", "field"),
        [
            (TOPUPS, {"workspace": "nowhere", "amount_usd": "1"}, "workspace"),
            (TOPUPS, {"amount_usd": "1"}, "workspace"),
            (TOPUPS, {"workspace": "acme", "amount_usd": "-1"}, "amount_usd"),
            (TOPUPS, {"workspace": "acme", "amount_usd": "ten"}, "amount_usd"),
            (REFUNDS, {"workspace": "acme", "amount_usd": "0"}, "amount_usd"),
            (REFUNDS, {"workspace": "acme", "amount_usd": "1", "generation_id": "gen-theirs"}, "generation_id"),
            (REFUNDS, {"workspace": "acme", "amount_usd": "1", "generation_id": "gen-unknown"}, "generation_id"),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, staff_client, workspace, url, body, field):
        UsageRecordFactory(generation_id="gen-theirs")
        response = post(staff_client, url, body)
        assert response.status_code == 400
        assert field in response.json()["extra"]["fields"]
        assert not LedgerEntry.objects.exists()
        assert not AuditEvent.objects.filter(action__startswith="ledger.").exists()

    def test_a_refund_of_one_request(
        self, staff_client, workspace, credits_changed, django_capture_on_commit_callbacks
    ):
        UsageRecordFactory(workspace=workspace, generation_id="gen-failed", cost_usd=Decimal("0.75"))
        with django_capture_on_commit_callbacks(execute=True):
            response = post(
                staff_client, REFUNDS, {"workspace": "acme", "amount_usd": "0.75", "generation_id": "gen-failed"}
            )
        assert response.status_code == 201
        assert response.json()["kind"] == "refund"
        assert response.json()["generation_id"] == "gen-failed"
        assert response.json()["description"] == "Refund of gen-failed"
        assert response.json()["balance"] == "0.75000000"
        event = AuditEvent.objects.get(action="ledger.refund")
        assert event.data == {
            "amount_usd": "0.75",
            "description": "Refund of gen-failed",
            "generation_id": "gen-failed",
        }
        assert credits_changed == [{"workspace_id": workspace.pk, "amount_usd": Decimal("0.75")}]


def test_the_openapi_schema_documents_the_credit_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    transfers = schema["paths"]["/api/credits/transfers"]["post"]
    assert transfers["operationId"] == "credits_transfers_create"
    assert {"402", "400", "201"} <= set(transfers["responses"])
    header = next(p for p in transfers["parameters"] if p["name"] == "Idempotency-Key")
    assert (header["in"], header["required"]) == ("header", True)
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "credits_balance",
        "credits_entries_list",
        "credits_transfers_get",
        "credits_topups_create",
        "credits_refunds_create",
    } <= operations


def _concurrently(count: int, request) -> list:
    """Run `request()` in `count` threads released together, each on its own database connection: on PostgreSQL
    the payer's row lock is what keeps them apart, on SQLite its one writer at a time."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = request()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_make_one_transfer():
    payer = WorkspaceFactory(slug="acme")
    WorkspaceFactory(slug="globex")
    ledger_topup(workspace=payer, amount_usd=Decimal("10"))
    _, secret = ApiKeyFactory.create_with_secret(workspace=payer)

    responses = _concurrently(
        6, lambda: post(bearer(secret), TRANSFERS, {"to": "globex", "amount_usd": "3"}, key="one-payment")
    )

    assert [r.status_code for r in responses] == [201] * 6
    assert len({r.json()["transfer_id"] for r in responses}) == 1
    assert LedgerEntry.objects.filter(kind=LedgerKind.TRANSFER_OUT).count() == 1
    assert ledger_balance(workspace=payer) == Decimal("7")


@pytest.mark.django_db(transaction=True)
def test_concurrent_transfers_cannot_overdraw_the_payer():
    payer = WorkspaceFactory(slug="acme")
    WorkspaceFactory(slug="globex")
    WorkspaceFactory(slug="initech")
    ledger_topup(workspace=payer, amount_usd=Decimal("10"))
    _, secret = ApiKeyFactory.create_with_secret(workspace=payer)
    payees = iter(["globex", "initech", "globex", "initech"])
    lock = threading.Lock()

    def pay():
        with lock:
            payee = next(payees)
        return post(bearer(secret), TRANSFERS, {"to": payee, "amount_usd": "7"}, key=str(uuid.uuid4()))

    responses = _concurrently(4, pay)

    assert sorted(r.status_code for r in responses) == [201, 402, 402, 402]
    assert ledger_balance(workspace=payer) == Decimal("3")
    paid = LedgerEntry.objects.get(kind=LedgerKind.TRANSFER_IN)
    assert ledger_balance(workspace=paid.workspace) == Decimal("7")
