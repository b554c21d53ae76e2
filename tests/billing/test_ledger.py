"""The credits ledger end to end: usage charges from the usage ingest, refunds in the admin, and a month of mixed
operations replayed through the public surfaces whose balance must come out exact."""

import datetime
import random
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
from django.db.models import Sum
from django.test import Client
from rest_framework.test import APIClient

from apps.analytics import usage
from apps.analytics.models import AuditEvent, UsageRecord
from apps.analytics.usage import usage_records_ingest
from apps.billing.models import LedgerEntry, LedgerKind
from apps.billing.selectors import ledger_balance
from apps.billing.services import credit_transfer, ledger_topup, ledger_usage_charges_record
from apps.workspaces.models import BillingMode
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import SpoolRecordFactory
from tests.core.admin_checks import admin_url, changeform_data
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")


@contextmanager
def at(moment: datetime.datetime):
    """What happens inside is dated `moment` (created_at is set from timezone.now)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def cost_text(tenth_nanos: int) -> str:
    """A cost in units of $0.0000000001 as the spool writes it: 10 decimals."""
    return f"{tenth_nanos // 10**10}.{tenth_nanos % 10**10:010d}"


def dollars(hundred_millionths: int) -> Decimal:
    return Decimal(hundred_millionths).scaleb(-8)


class TestUsageCharges:
    def test_only_priced_platform_calls_of_prepaid_workspaces_are_charged_half_up(self):
        prepaid = WorkspaceFactory(billing_mode=BillingMode.PREPAID)
        invoiced = WorkspaceFactory(billing_mode=BillingMode.INVOICE)
        records = [
            SpoolRecordFactory(workspace_id=prepaid.pk, generation_id="gen-plain", cost_usd="0.0123456789"),
            SpoolRecordFactory(workspace_id=prepaid.pk, generation_id="gen-half", cost_usd="0.0000000050"),
            SpoolRecordFactory(workspace_id=prepaid.pk, generation_id="gen-half-2", cost_usd="0.0000000250"),
            SpoolRecordFactory(workspace_id=prepaid.pk, generation_id="gen-below", cost_usd="0.0000000049"),
            SpoolRecordFactory(workspace_id=prepaid.pk, generation_id="gen-free", cost_usd="0.0000000000"),
            SpoolRecordFactory(workspace_id=prepaid.pk, generation_id="gen-byok", cost_usd="1.5", is_byok=True),
            SpoolRecordFactory(workspace_id=prepaid.pk, generation_id="gen-unpriced", cost_usd=None),
            SpoolRecordFactory(workspace_id=invoiced.pk, generation_id="gen-invoiced", cost_usd="2"),
        ]

        assert usage_records_ingest(records=records) == 8

        charges = {e.generation_id: e for e in LedgerEntry.objects.filter(kind=LedgerKind.CHARGE)}
        assert {gen: entry.amount_usd for gen, entry in charges.items()} == {
            "gen-plain": Decimal("-0.01234568"),
            "gen-half": Decimal("-0.00000001"),  # half-up: to even would make it 0
            "gen-half-2": Decimal("-0.00000003"),  # half-up: to even would make it 0.00000002
        }
        plain = charges["gen-plain"]
        assert (plain.workspace, plain.idempotency_key, plain.description) == (
            prepaid,
            "charge:gen-plain",
            "Usage: openai/gpt-4o-mini",
        )
        assert ledger_balance(workspace=prepaid) == Decimal("-0.01234572")
        assert not LedgerEntry.objects.filter(workspace=invoiced).exists()

    def test_ingesting_a_batch_again_charges_nothing_more(self):
        workspace = WorkspaceFactory(billing_mode=BillingMode.PREPAID)
        records = SpoolRecordFactory.create_batch(5, workspace_id=workspace.pk, cost_usd="0.1")
        usage_records_ingest(records=[dict(r) for r in records])
        assert usage_records_ingest(records=[dict(r) for r in records]) == 0
        assert ledger_usage_charges_record(records=records) == 0
        assert LedgerEntry.objects.filter(kind=LedgerKind.CHARGE).count() == 5
        assert ledger_balance(workspace=workspace) == Decimal("-0.5")

    def test_returns_how_many_charges_were_new(self):
        workspace = WorkspaceFactory(billing_mode=BillingMode.PREPAID)
        first = SpoolRecordFactory.create_batch(2, workspace_id=workspace.pk)
        assert ledger_usage_charges_record(records=first) == 2
        assert ledger_usage_charges_record(records=[*first, SpoolRecordFactory(workspace_id=workspace.pk)]) == 1

    def test_a_charge_that_fails_takes_its_usage_with_it(self, monkeypatch):
        """Charges are written in the ingest's transaction: never usage without its charge, so a retry charges it."""
        workspace = WorkspaceFactory(billing_mode=BillingMode.PREPAID)

        def broken(**kwargs):
            raise RuntimeError("database went away")

        monkeypatch.setattr(usage, "ledger_usage_charges_record", broken)
        with pytest.raises(RuntimeError):
            usage_records_ingest(records=[SpoolRecordFactory(workspace_id=workspace.pk)])
        assert not UsageRecord.objects.exists()
        assert not LedgerEntry.objects.exists()


class TestCreditTransferService:
    def test_the_payee_may_be_named_by_id(self):
        payer, payee = WorkspaceFactory(), WorkspaceFactory()
        ledger_topup(workspace=payer, amount_usd=Decimal("5"))
        transfer = credit_transfer(payer=payer, payee_slug_or_id=payee.pk, amount_usd="2", idempotency_key="k")
        assert (transfer.incoming.workspace, transfer.payer_balance) == (payee, Decimal("3"))
        assert ledger_balance(workspace=payee) == Decimal("2")


class TestLedgerAdminRefunds:
    def _add(self, client, **fields):
        data = changeform_data(client.get(admin_url(LedgerEntry, "add")))
        data.update(fields)
        return client.post(admin_url(LedgerEntry, "add"), data)

    def test_a_refund_of_one_request_through_the_add_form(self, admin_client):
        workspace = WorkspaceFactory()
        UsageRecordFactory(workspace=workspace, generation_id="gen-bad-answer")
        response = self._add(
            admin_client,
            workspace=workspace.pk,
            kind=LedgerKind.REFUND,
            amount_usd="0.4",
            description="",
            generation_id="gen-bad-answer",
        )
        assert response.status_code == 302
        entry = LedgerEntry.objects.get()
        assert (entry.kind, entry.amount_usd, entry.generation_id, entry.description) == (
            LedgerKind.REFUND,
            Decimal("0.4"),
            "gen-bad-answer",
            "Refund of gen-bad-answer",
        )
        assert entry.created_by.username == "admin"
        assert AuditEvent.objects.filter(action="ledger.refund", workspace=workspace).exists()

    @pytest.mark.parametrize(
        ("kind", "amount", "generation_id", "field"),
        [
            (LedgerKind.REFUND, "-1", "", "amount_usd"),
            (LedgerKind.REFUND, "1", "gen-of-another-workspace", "generation_id"),
            (LedgerKind.REFUND, "1", "gen-unknown", "generation_id"),
            (LedgerKind.TOPUP, "1", "gen-mine", "generation_id"),
        ],
    )
    def test_bad_refunds_are_refused(self, admin_client, kind, amount, generation_id, field):
        workspace = WorkspaceFactory()
        UsageRecordFactory(workspace=workspace, generation_id="gen-mine")
        UsageRecordFactory(generation_id="gen-of-another-workspace")
        response = self._add(
            admin_client, workspace=workspace.pk, kind=kind, amount_usd=amount, generation_id=generation_id
        )
        assert response.status_code == 200
        assert field in response.context["adminform"].form.errors
        assert not LedgerEntry.objects.exists()

    def test_a_form_sent_again_with_other_values_is_refused_not_written(self, admin_client):
        workspace = WorkspaceFactory()
        data = changeform_data(admin_client.get(admin_url(LedgerEntry, "add")))
        data.update(workspace=workspace.pk, kind=LedgerKind.REFUND, amount_usd="5", description="Goodwill")
        assert admin_client.post(admin_url(LedgerEntry, "add"), data).status_code == 302

        data["amount_usd"] = "50"
        response = admin_client.post(admin_url(LedgerEntry, "add"), data)

        assert response.status_code == 200
        assert "already saved" in str(response.context["adminform"].form.non_field_errors())
        assert ledger_balance(workspace=workspace) == Decimal("5")


class TestAMonthOfOperations:
    """Thirty-one days of top-ups (API and admin), hundreds of usage charges ingested from the spool (costs with
    10 decimals, BYOK and unpriced calls, half-cent boundaries, a batch ingested twice), refunds, corrections,
    transfers in and out (one repeated, one refused, one reusing a key), replayed through the public surfaces.

    The expected balance is computed independently, in integers of $0.00000001 (a charge of c tenths of a nano-dollar
    is (c + 50) // 100 of them: half-up), and must equal the ledger's to the cent and exactly to 8 decimals.
    """

    START = datetime.datetime(2026, 3, 1, 9, tzinfo=datetime.UTC)

    def test_the_balance_comes_out_exact(self, admin_client, admin_user):
        rng = random.Random(20260301)
        acme = WorkspaceFactory(slug="acme", billing_mode=BillingMode.PREPAID)
        globex = WorkspaceFactory(slug="globex", billing_mode=BillingMode.PREPAID)
        initech = WorkspaceFactory(slug="initech", billing_mode=BillingMode.INVOICE)
        member = MembershipFactory(workspace=acme).user
        acme_api = APIClient()
        acme_api.force_login(member)
        _, acme_secret = ApiKeyFactory.create_with_secret(workspace=acme)
        _, globex_secret = ApiKeyFactory.create_with_secret(workspace=globex)
        globex_api = APIClient()
        globex_api.credentials(HTTP_AUTHORIZATION=f"Bearer {globex_secret}")
        staff_api = APIClient()
        MembershipFactory(workspace=WorkspaceFactory(slug="platform"), user=admin_user)
        staff_api.force_login(admin_user)

        # Expected figures, in integers: balances and credits in $1e-8, usage in $1e-10.
        balance = {"acme": 0, "globex": 0}
        credits = {"acme": 0, "globex": 0}
        acme_usage = 0
        acme_charges = 0
        by_day: dict[int, int] = {}  # acme's balance change per day

        def move(slug: str, amount: int, day: int) -> None:
            balance[slug] += amount
            if amount > 0:
                credits[slug] += amount
            if slug == "acme":
                by_day[day] = by_day.get(day, 0) + amount

        def api_transfer(client, body: str, key: str):
            return client.generic("POST", "/api/credits/transfers", body, "application/json", HTTP_IDEMPOTENCY_KEY=key)

        def admin_add(**fields):
            data = changeform_data(admin_client.get(admin_url(LedgerEntry, "add")))
            data.update(fields)
            response = admin_client.post(admin_url(LedgerEntry, "add"), data)
            assert response.status_code == 302, response.content

        refundable = None
        for day in range(31):
            with at(self.START + datetime.timedelta(days=day)):
                created_at = (self.START + datetime.timedelta(days=day)).isoformat()
                records = []
                for workspace in (acme, acme, globex, initech):  # acme makes half the calls
                    for _ in range(rng.randint(4, 7)):
                        shape = rng.random()
                        cost, byok = rng.randint(1, 300_000_000), False
                        if shape < 0.06:
                            byok = True
                        elif shape < 0.12:
                            cost = rng.choice([0, 49, 50, 51, 149, 150, 250])  # boundaries of the rounding
                        unpriced = 0.12 <= shape < 0.17
                        records.append(
                            SpoolRecordFactory(
                                workspace_id=workspace.pk,
                                cost_usd=None if unpriced else cost_text(cost),
                                is_byok=byok,
                                created_at=created_at,
                            )
                        )
                        if unpriced:
                            continue
                        slug = workspace.slug
                        if slug == "acme":
                            acme_usage += cost
                        charge = (cost + 50) // 100
                        if slug in balance and not byok and charge:
                            move(slug, -charge, day)
                            acme_charges += slug == "acme"
                usage_records_ingest(records=records)
                if day == 3:
                    usage_records_ingest(records=[dict(r) for r in records])  # the ingest ran twice: no new charge
                if refundable is None:
                    refundable = next(r["generation_id"] for r in records if r["workspace_id"] == acme.pk)

                if day == 0:
                    topup = {"workspace": "acme", "amount_usd": "250", "description": "Wire 1"}
                    for _ in range(2):  # a retried request with its key
                        response = staff_api.post(
                            "/api/credits/topups", topup, format="json", HTTP_IDEMPOTENCY_KEY="w1"
                        )
                        assert response.status_code == 201
                    move("acme", 250_00000000, day)
                    globex_topup = {"workspace": "globex", "amount_usd": "40"}
                    assert staff_api.post("/api/credits/topups", globex_topup, format="json").status_code == 201
                    move("globex", 40_00000000, day)
                elif day == 2:
                    admin_add(workspace=acme.pk, kind=LedgerKind.TOPUP, amount_usd="100.12345678", description="PO 7")
                    move("acme", 100_12345678, day)
                elif day == 4:
                    body = '{"to": "globex", "amount_usd": "25.5", "description": "Job 1"}'
                    assert api_transfer(acme_api, body, "job-1").status_code == 201
                    move("acme", -25_50000000, day)
                    move("globex", 25_50000000, day)
                elif day == 5:
                    body = '{"to": "globex", "amount_usd": "25.5", "description": "Job 1"}'
                    assert api_transfer(acme_api, body, "job-1").status_code == 201  # repeated: nothing new
                elif day == 7:
                    body = '{"to": "acme", "amount_usd": 12.34567891, "description": "Change"}'
                    assert api_transfer(globex_api, body, "g-1").status_code == 201
                    move("globex", -12_34567891, day)
                    move("acme", 12_34567891, day)
                elif day == 9:
                    refund = {"workspace": "acme", "amount_usd": "0.75", "generation_id": refundable}
                    assert staff_api.post("/api/credits/refunds", refund, format="json").status_code == 201
                    move("acme", 75000000, day)
                elif day == 11:
                    admin_add(
                        workspace=acme.pk, kind=LedgerKind.ADJUSTMENT, amount_usd="-1.23456789", description="Fix"
                    )
                    move("acme", -1_23456789, day)
                elif day == 13:
                    too_much = format(dollars(balance["acme"] + 1), "f")
                    body = f'{{"to": "globex", "amount_usd": "{too_much}"}}'
                    response = api_transfer(acme_api, body, "job-2")
                    assert response.status_code == 402
                    assert response.json()["extra"]["balance_usd"] == format(dollars(balance["acme"]).normalize(), "f")
                elif day == 15:
                    body = '{"to": "globex", "amount_usd": "26", "description": "Job 1"}'
                    assert api_transfer(acme_api, body, "job-1").status_code == 400  # the key of another request
                elif day == 18:
                    assert api_transfer(acme_api, '{"to": "globex", "amount_usd": 3.3}', "job-3").status_code == 201
                    move("acme", -3_30000000, day)
                    move("globex", 3_30000000, day)
                elif day == 21:
                    admin_add(workspace=acme.pk, kind=LedgerKind.REFUND, amount_usd="2.5", description="Outage")
                    move("acme", 2_50000000, day)
                elif day == 25:
                    topup = {"workspace": "acme", "amount_usd": "100"}
                    response = staff_api.post("/api/credits/topups", topup, format="json", HTTP_IDEMPOTENCY_KEY="w2")
                    assert response.status_code == 201
                    move("acme", 100_00000000, day)
                elif day == 28:
                    body = '{"to": "acme", "amount_usd": "0.00000001"}'
                    assert api_transfer(globex_api, body, "g-2").status_code == 201
                    move("globex", -1, day)
                    move("acme", 1, day)

        expected = dollars(balance["acme"])
        assert acme_charges > 150
        assert LedgerEntry.objects.filter(workspace=acme, kind=LedgerKind.CHARGE).count() == acme_charges

        # The sum of the entries…
        stored = LedgerEntry.objects.filter(workspace=acme).aggregate(total=Sum("amount_usd"))["total"]
        assert stored.quantize(CENT) == expected.quantize(CENT)
        assert stored == expected
        # …the API's balance…
        answer = acme_api.get("/api/credits/").json()
        assert answer["balance"] == f"{expected:.8f}"
        assert answer["total_credits"] == f"{dollars(credits['acme']):.8f}"
        assert answer["total_usage"] == cost_text(acme_usage)
        # …and /v1/credits (JSON numbers: exact as long as they fit a double's 15 significant digits).
        v1 = Client(HTTP_AUTHORIZATION=f"Bearer {acme_secret}").get("/v1/credits").json()["data"]
        assert Decimal(str(v1["balance"])) == expected
        assert Decimal(str(v1["balance"])).quantize(CENT) == expected.quantize(CENT)
        assert Decimal(str(v1["total_credits"])) == dollars(credits["acme"])
        # SQLite sums decimals in floating point and keeps 15 significant digits: compare at the 10 decimals of a cost.
        assert Decimal(str(v1["total_usage"])).quantize(Decimal("1e-10")) == Decimal(cost_text(acme_usage))

        assert ledger_balance(workspace=globex) == dollars(balance["globex"])
        assert not LedgerEntry.objects.filter(workspace=initech).exists()

        # The entries of one week, through the list's date filters, add up to that week's movements.
        week = {"since": "2026-03-08T00:00:00Z", "before": "2026-03-15T00:00:00Z", "page_size": 200}
        listed = acme_api.get("/api/credits/entries", week).json()
        assert listed["next"] is None
        assert sum(Decimal(e["amount_usd"]) for e in listed["results"]) == dollars(
            sum(by_day.get(day, 0) for day in range(7, 14))
        )
