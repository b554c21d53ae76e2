"""Budget alerts: each threshold once per window, by email and webhook; the checker's task, command and beat entry."""

import io
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from apps.billing import alerts
from apps.billing.alerts import budget_alerts_check
from apps.billing.models import BudgetAction, BudgetAlert, BudgetPeriod, BudgetScope
from apps.billing.selectors import budget_window
from apps.billing.tasks import budget_alerts_check_task
from config.celery import app as celery_app
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import BudgetFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=NEW_YORK)


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def spend(workspace, cost: str, at: datetime = NOW, **kwargs) -> None:
    UsageRecordFactory(workspace=workspace, cost_usd=Decimal(cost), created_at=at, **kwargs)


@pytest.fixture
def workspace():
    return WorkspaceFactory(name="Acme", slug="acme", timezone="America/New_York", alert_emails=["ops@acme.test"])


@pytest.fixture
def budget(workspace):
    return BudgetFactory(workspace=workspace, limit_usd=Decimal("10"), period=BudgetPeriod.MONTHLY)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records each POST and answers with the next queued status (200 after)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(
                {"path": self.path, "content_type": self.headers["Content-Type"], "body": body.decode()}
            )
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/budget?token=hook-secret-123"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _no_retry_wait(monkeypatch):
    monkeypatch.setattr(alerts, "WEBHOOK_RETRY_DELAY_SECONDS", 0)


class TestOncePerThreshold:
    def test_50_then_80_then_100_each_once(self, workspace, budget):
        spend(workspace, "5")
        assert budget_alerts_check(now=NOW) == 1
        assert budget_alerts_check(now=NOW) == 0
        spend(workspace, "3")
        assert budget_alerts_check(now=NOW + timedelta(hours=1)) == 1
        assert budget_alerts_check(now=NOW + timedelta(hours=1)) == 0
        spend(workspace, "2.5")
        assert budget_alerts_check(now=NOW + timedelta(hours=2)) == 1
        assert budget_alerts_check(now=NOW + timedelta(hours=3)) == 0

        assert [m.subject for m in mail.outbox] == [
            "Switchyard: Acme workspace budget at 50% ($5.00 of $10.00, monthly)",
            "Switchyard: Acme workspace budget at 80% ($8.00 of $10.00, monthly)",
            "Switchyard: Acme workspace budget at 100% ($10.50 of $10.00, monthly)",
        ]
        assert all(m.to == ["ops@acme.test"] for m in mail.outbox)
        assert mail.outbox[0].from_email == settings.DEFAULT_FROM_EMAIL
        assert "Spent: $5.00 of $10.00 (50.00%), $5.00 left." in mail.outbox[0].body
        assert "Action at the limit: Block requests (429)." in mail.outbox[0].body
        rows = BudgetAlert.objects.order_by("threshold")
        assert [(a.threshold, a.spent_usd, a.window_start) for a in rows] == [
            (50, Decimal("5"), ny(2026, 1, 1)),
            (80, Decimal("8"), ny(2026, 1, 1)),
            (100, Decimal("10.5"), ny(2026, 1, 1)),
        ]

    def test_thresholds_crossed_at_once_send_one_message_for_the_highest_and_never_fire_later(self, workspace, budget):
        spend(workspace, "9")
        assert budget_alerts_check(now=NOW) == 1
        assert [m.subject for m in mail.outbox] == [
            "Switchyard: Acme workspace budget at 80% ($9.00 of $10.00, monthly)"
        ]
        assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 80]
        spend(workspace, "1")
        assert budget_alerts_check(now=NOW) == 1
        assert mail.outbox[-1].subject.startswith("Switchyard: Acme workspace budget at 100%")
        assert budget_alerts_check(now=NOW) == 0
        assert len(mail.outbox) == 2

    def test_custom_thresholds_are_used(self, workspace):
        BudgetFactory(workspace=workspace, limit_usd=Decimal("100"), alert_thresholds=[25, 90])
        spend(workspace, "30")
        budget_alerts_check(now=NOW)
        spend(workspace, "55")
        budget_alerts_check(now=NOW)
        spend(workspace, "5")
        budget_alerts_check(now=NOW)
        assert [m.subject.split(" budget at ")[1][:3] for m in mail.outbox] == ["25%", "90%"]

    def test_below_the_first_threshold_or_with_no_spend_nothing_is_sent(self, workspace, budget):
        BudgetFactory(workspace=workspace, limit_usd=Decimal("0"))  # used up from the start, but nothing spent yet
        spend(workspace, "4.99")
        spend(workspace, "0", at=NOW - timedelta(minutes=1))
        assert budget_alerts_check(now=NOW) == 1  # the $0 budget, now that something was spent
        assert [m.subject for m in mail.outbox] == [
            "Switchyard: Acme workspace budget at 100% ($4.99 of $0.00, monthly)"
        ]
        assert not BudgetAlert.objects.filter(budget=budget).exists()

    def test_a_rival_checker_that_claimed_the_threshold_first_sends_it_instead(self, workspace, budget, monkeypatch):
        spend(workspace, "6")
        real_spend_map = alerts.budget_spend_map

        def rival_claims_after_our_snapshot(**kwargs):
            snapshot = real_spend_map(**kwargs)
            BudgetAlert.objects.create(budget=budget, window_start=ny(2026, 1, 1), threshold=50, spent_usd=Decimal("6"))
            return snapshot

        monkeypatch.setattr(alerts, "budget_spend_map", rival_claims_after_our_snapshot)
        assert budget_alerts_check(now=NOW) == 0
        assert mail.outbox == []
        assert BudgetAlert.objects.count() == 1


class TestWindows:
    def test_the_next_month_fires_again(self, workspace, budget):
        spend(workspace, "6")
        budget_alerts_check(now=NOW)
        spend(workspace, "6", at=ny(2026, 2, 3, 9, 0))
        assert budget_alerts_check(now=ny(2026, 2, 3, 10, 0)) == 1
        assert mail.outbox[-1].subject == "Switchyard: Acme workspace budget at 50% ($6.00 of $10.00, monthly)"
        assert sorted(BudgetAlert.objects.values_list("window_start", flat=True)) == [
            ny(2026, 1, 1),
            ny(2026, 2, 1),
        ]

    def test_a_new_york_daily_budget_resets_at_local_midnight_not_utc_midnight(self, workspace):
        daily = BudgetFactory(workspace=workspace, period=BudgetPeriod.DAILY, limit_usd=Decimal("2"))
        spend(workspace, "1", at=ny(2026, 1, 15, 18, 0))
        assert budget_alerts_check(now=ny(2026, 1, 15, 18, 5)) == 1

        # 20:00 in New York is 01:00 UTC the next day: still the same local day, so no second 50% alert.
        spend(workspace, "0.5", at=ny(2026, 1, 15, 20, 0))
        assert datetime(2026, 1, 16, 1, 0, tzinfo=UTC) == ny(2026, 1, 15, 20, 0)
        assert budget_alerts_check(now=ny(2026, 1, 15, 20, 5)) == 0

        # Local midnight: the spend before it belongs to yesterday.
        spend(workspace, "1.2", at=ny(2026, 1, 16, 0, 10))
        assert budget_alerts_check(now=ny(2026, 1, 15, 23, 59)) == 0
        assert budget_alerts_check(now=ny(2026, 1, 16, 0, 15)) == 1
        alerts_by_window = sorted(BudgetAlert.objects.filter(budget=daily).values_list("window_start", "threshold"))
        assert alerts_by_window == [(ny(2026, 1, 15), 50), (ny(2026, 1, 16), 50)]
        assert ny(2026, 1, 16) == datetime(2026, 1, 16, 5, 0, tzinfo=UTC)
        assert [m.subject for m in mail.outbox][-1] == (
            "Switchyard: Acme workspace budget at 50% ($1.20 of $2.00, daily)"
        )


class TestWhoIsAlerted:
    @pytest.mark.parametrize("listed", [[], ["", "  "], "ops@acme.test"], ids=["empty", "blank", "not-a-list"])
    def test_owners_and_admins_when_the_workspace_lists_no_addresses(self, workspace, budget, listed):
        workspace.alert_emails = listed
        workspace.save()
        MembershipFactory(workspace=workspace, user=UserFactory(username="owner"), role="owner")
        MembershipFactory(workspace=workspace, user=UserFactory(username="admin"), role="admin")
        MembershipFactory(workspace=workspace, user=UserFactory(username="member"), role="member")
        MembershipFactory(workspace=workspace, user=UserFactory(username="gone", is_active=False), role="owner")
        MembershipFactory(workspace=workspace, user=UserFactory(username="mute", email=""), role="admin")
        MembershipFactory(user=UserFactory(username="elsewhere"), role="owner")
        spend(workspace, "5")
        assert budget_alerts_check(now=NOW) == 1
        [message] = mail.outbox
        assert sorted(message.to) == ["admin@example.com", "owner@example.com"]

    def test_every_action_alerts_but_inactive_budgets_and_workspaces_do_not(self, workspace):
        for action in BudgetAction.values:
            BudgetFactory(workspace=workspace, action=action, limit_usd=Decimal("10"))
        BudgetFactory(workspace=workspace, is_active=False, limit_usd=Decimal("10"))
        closed = WorkspaceFactory(is_active=False, alert_emails=["closed@x.test"])
        BudgetFactory(workspace=closed, limit_usd=Decimal("1"))
        spend(workspace, "5")
        spend(closed, "5")
        assert budget_alerts_check(now=NOW) == 3
        assert BudgetAlert.objects.count() == 3
        assert {m.to[0] for m in mail.outbox} == {"ops@acme.test"}

    def test_agent_and_api_key_budgets_count_only_their_own_spend(self, workspace):
        agent = AgentFactory(workspace=workspace, slug="support-bot")
        api_key = ApiKeyFactory(workspace=workspace, name="CI")
        BudgetFactory(workspace=workspace, scope=BudgetScope.AGENT, agent=agent, limit_usd=Decimal("4"))
        BudgetFactory(workspace=workspace, scope=BudgetScope.API_KEY, api_key=api_key, limit_usd=Decimal("4"))
        spend(workspace, "2", agent=agent)
        spend(workspace, "1", api_key=api_key)
        spend(workspace, "50")
        assert budget_alerts_check(now=NOW) == 1
        assert [m.subject for m in mail.outbox] == [
            "Switchyard: Acme agent 'support-bot' budget at 50% ($2.00 of $4.00, monthly)"
        ]
        spend(workspace, "1", api_key=api_key)
        assert budget_alerts_check(now=NOW) == 1
        assert mail.outbox[-1].subject == "Switchyard: Acme API key 'CI' budget at 50% ($2.00 of $4.00, monthly)"

    def test_only_the_workspaces_asked_for(self, workspace, budget):
        other = WorkspaceFactory(alert_emails=["other@x.test"])
        BudgetFactory(workspace=other, limit_usd=Decimal("1"))
        spend(workspace, "5")
        spend(other, "1")
        assert budget_alerts_check(workspace_ids=[other.pk], now=NOW) == 1
        assert [m.to for m in mail.outbox] == [["other@x.test"]]
        assert budget_alerts_check(now=NOW) == 1
        assert [m.to for m in mail.outbox][-1] == ["ops@acme.test"]


class TestWebhook:
    def test_the_webhook_gets_the_alert_as_json_without_secrets(self, workspace, receiver):
        api_key, secret = ApiKeyFactory.create_with_secret(workspace=workspace, name="CI")
        budget = BudgetFactory(
            workspace=workspace,
            scope=BudgetScope.API_KEY,
            api_key=api_key,
            limit_usd=Decimal("10"),
            action=BudgetAction.DOWNGRADE,
        )
        workspace.alert_webhook_url = receiver.url
        workspace.save()
        spend(workspace, "8.25", api_key=api_key)

        assert budget_alerts_check(now=NOW) == 1

        [call] = receiver.received
        assert call["path"] == "/hooks/budget?token=hook-secret-123"
        assert call["content_type"] == "application/json"
        assert json.loads(call["body"]) == {
            "event": "budget.threshold_reached",
            "workspace": {"id": workspace.pk, "slug": "acme", "name": "Acme"},
            "budget": {
                "id": budget.pk,
                "scope": "api_key",
                "agent": None,
                "api_key": {"id": api_key.pk, "name": "CI"},
                "period": "monthly",
                "action": "downgrade",
                "limit_usd": "10.00000000",
            },
            "threshold": 80,
            "thresholds_reached": [50, 80],
            "spent_usd": "8.25000000",
            "remaining_usd": "1.75000000",
            "used_percent": "82.50",
            "window_start": "2026-01-01T00:00:00-05:00",
            "window_end": "2026-02-01T00:00:00-05:00",
            "sent_at": NOW.isoformat(),
        }
        for secret_value in (secret, api_key.key_hash, api_key.mask):
            assert secret_value not in call["body"]
        assert len(mail.outbox) == 1

    def test_a_failing_webhook_is_retried_then_logged_and_stops_neither_the_email_nor_other_budgets(
        self, workspace, receiver, caplog
    ):
        BudgetFactory(workspace=workspace, limit_usd=Decimal("10"))
        BudgetFactory(workspace=workspace, limit_usd=Decimal("20"))
        workspace.alert_webhook_url = receiver.url
        workspace.save()
        receiver.statuses = [500, 502, 503]  # the first budget's three attempts all fail
        spend(workspace, "10")

        with caplog.at_level(logging.WARNING, logger="apps.billing.alerts"):
            assert budget_alerts_check(now=NOW) == 2

        assert len(receiver.received) == 4
        assert json.loads(receiver.received[-1]["body"])["threshold"] == 50
        assert [m.subject.split(" budget at ")[1][:4] for m in mail.outbox] == ["100%", "50% "]
        assert "failed after 3 attempt(s): HTTP 503" in caplog.text
        assert "hook-secret-123" not in caplog.text and "127.0.0.1" not in caplog.text

    def test_a_refusal_is_not_retried(self, workspace, budget, receiver):
        workspace.alert_webhook_url = receiver.url
        workspace.save()
        receiver.statuses = [410]
        spend(workspace, "5")
        assert budget_alerts_check(now=NOW) == 1
        assert len(receiver.received) == 1
        assert len(mail.outbox) == 1

    def test_an_unreachable_webhook_is_logged(self, workspace, budget, caplog):
        workspace.alert_webhook_url = "http://127.0.0.1:9/unreachable"
        workspace.save()
        spend(workspace, "5")
        with caplog.at_level(logging.WARNING, logger="apps.billing.alerts"):
            assert budget_alerts_check(now=NOW) == 1
        assert "failed after 3 attempt(s): ConnectError" in caplog.text
        assert len(mail.outbox) == 1

    def test_a_failing_email_does_not_stop_the_webhook_or_other_budgets(self, workspace, receiver, caplog, monkeypatch):
        BudgetFactory(workspace=workspace, limit_usd=Decimal("10"))
        other = WorkspaceFactory(alert_emails=["other@x.test"])
        BudgetFactory(workspace=other, limit_usd=Decimal("10"))
        workspace.alert_webhook_url = receiver.url
        workspace.save()
        spend(workspace, "5")
        spend(other, "5")
        real_send = mail.EmailMessage.send

        def send(message, *args, **kwargs):
            if "ops@acme.test" in message.to:
                raise ConnectionRefusedError("smtp down")
            return real_send(message, *args, **kwargs)

        monkeypatch.setattr(mail.EmailMessage, "send", send)
        with caplog.at_level(logging.ERROR, logger="apps.billing.alerts"):
            assert budget_alerts_check(now=NOW) == 2
        assert "Budget alert email for budget" in caplog.text
        assert len(receiver.received) == 1
        assert [m.to for m in mail.outbox] == [["other@x.test"]]
        assert BudgetAlert.objects.count() == 2  # at most once: a failed email is not sent again
        assert budget_alerts_check(now=NOW) == 0


class TestTaskAndCommand:
    @staticmethod
    def _spend_now(workspace, cost: str) -> None:
        start, _ = budget_window(period="monthly", now=timezone.now(), zone=NEW_YORK)
        spend(workspace, cost, at=start + timedelta(seconds=1))

    def test_the_command_sends_and_says_how_many(self, workspace, budget):
        other = WorkspaceFactory(alert_emails=["other@x.test"])
        BudgetFactory(workspace=other, limit_usd=Decimal("1"))
        self._spend_now(workspace, "5")
        self._spend_now(other, "1")

        out = io.StringIO()
        call_command("check_budget_alerts", "--workspace", str(other.pk), stdout=out)
        assert out.getvalue().strip() == "Sent 1 budget alert."
        call_command("check_budget_alerts", stdout=out)
        call_command("check_budget_alerts", stdout=out)
        assert out.getvalue().splitlines() == ["Sent 1 budget alert.", "Sent 1 budget alert.", "Sent 0 budget alerts."]
        assert len(mail.outbox) == 2

    def test_the_task_runs_through_celery(self, workspace, budget):
        self._spend_now(workspace, "8")
        assert settings.CELERY_TASK_ALWAYS_EAGER
        assert budget_alerts_check_task.delay().get() == 1
        assert budget_alerts_check_task.delay().get() == 0
        assert len(mail.outbox) == 1 and "at 80%" in mail.outbox[0].subject

    def test_beat_runs_it_every_budget_alert_check_seconds(self):
        entry = settings.CELERY_BEAT_SCHEDULE["budget-alerts"]
        assert entry["task"] == budget_alerts_check_task.name
        assert entry["task"] in celery_app.tasks
        assert entry["schedule"] == float(settings.BUDGET_ALERT_CHECK_SECONDS) == 60.0
        assert budget_alerts_check_task.time_limit and budget_alerts_check_task.soft_time_limit
