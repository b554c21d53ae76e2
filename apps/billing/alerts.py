"""Budget alerts: when a budget's window spend reaches one of its thresholds (50, 80 and 100 % by default), its
workspace hears about it once per threshold per window, by email and, if the workspace set one, by a webhook.

Every active budget alerts, whatever its action: a blocking or downgrading budget's thresholds matter as much.

Each threshold reached is claimed by inserting its BudgetAlert row before anything is sent; the row's unique
constraint (budget, window start, threshold) makes two checkers running at once send it only once. When one check
finds several thresholds newly reached (spend jumped from 40 % to 85 %), every one of them gets its row, so none
fires later in the window, and one message goes out, for the highest. Delivery is at most once: a failed email or
webhook is logged, never retried by a later check, and never stops the other budgets.
"""

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.billing.models import Budget, BudgetAlert, BudgetScope
from apps.billing.selectors import BudgetSpend, budget_active_list, budget_spend_map
from apps.workspaces.models import Role
from apps.workspaces.selectors import membership_list

logger = logging.getLogger(__name__)

CHECK_BATCH_SIZE = 200  # budgets whose spend is summed in one query
WEBHOOK_RETRY_DELAY_SECONDS = 0.5  # times the attempt number, between webhook attempts
CENT = Decimal("0.01")
MONEY_PLACES = Decimal("0.00000001")  # money in the webhook's JSON: decimal strings with 8 places, like /api


def budget_alerts_check(*, workspace_ids: Iterable[int] | None = None, now: datetime | None = None) -> int:
    """Send the alerts of every threshold that active budgets have newly reached in their current window.

    Returns how many alert messages went out (one per budget that reached new thresholds). Safe to run often and
    concurrently: three queries per batch of budgets, and nothing more unless an alert fires.
    """
    now = now or timezone.now()
    workspace_ids = None if workspace_ids is None else list(workspace_ids)
    recipients: dict[int, list[str]] = {}
    sent = 0
    after_id = 0
    while True:
        budgets = list(budget_active_list(workspace_ids=workspace_ids, after_id=after_id)[:CHECK_BATCH_SIZE])
        if not budgets:
            return sent
        after_id = budgets[-1].pk
        spend_by_budget = budget_spend_map(budgets=budgets, now=now)
        for budget in budgets:
            spend = spend_by_budget[budget.pk]
            claimed = _thresholds_claim(budget=budget, spend=spend)
            if claimed:
                if budget.workspace_id not in recipients:
                    recipients[budget.workspace_id] = _alert_recipients(budget.workspace)
                _alert_send(
                    budget=budget,
                    spend=spend,
                    threshold=max(claimed),
                    recipients=recipients[budget.workspace_id],
                    now=now,
                )
                sent += 1


def _thresholds_claim(*, budget: Budget, spend: BudgetSpend) -> list[int]:
    """Insert the rows of the thresholds newly reached; returns those this checker inserted (not a rival one)."""
    claimed = []
    for threshold in spend.thresholds_reached:
        if threshold in spend.thresholds_alerted:
            continue
        try:
            with transaction.atomic():
                BudgetAlert.objects.create(
                    budget=budget, window_start=spend.window_start, threshold=threshold, spent_usd=spend.spent_usd
                )
        except IntegrityError:
            continue  # another checker claimed it, and sends it
        claimed.append(threshold)
    return claimed


def _alert_recipients(workspace) -> list[str]:
    """The workspace's alert addresses, else the emails of its owners and admins."""
    addresses = workspace.alert_emails if isinstance(workspace.alert_emails, list) else []
    listed = [address.strip() for address in addresses if isinstance(address, str)]
    if any(listed):
        return [address for address in listed if address]
    return [
        membership.user.email
        for membership in membership_list(workspace=workspace)
        if membership.role in (Role.OWNER, Role.ADMIN) and membership.user.is_active and membership.user.email
    ]


def _one_line(text: str) -> str:
    # Names go into an email subject, where a line break would be refused as header injection.
    return " ".join(str(text).split())


def _scope_label(budget: Budget) -> str:
    if budget.scope == BudgetScope.AGENT:
        return f"agent '{_one_line(budget.agent.slug)}'"
    if budget.scope == BudgetScope.API_KEY:
        return f"API key '{_one_line(budget.api_key.name)}'"
    return "workspace"


def _usd(amount: Decimal) -> str:
    return f"${amount.quantize(CENT):,}"


def _money(amount: Decimal) -> str:
    return str(amount.quantize(MONEY_PLACES))


def alert_subject(*, budget: Budget, spend: BudgetSpend, threshold: int) -> str:
    return (
        f"Switchyard: {_one_line(budget.workspace.name)} {_scope_label(budget)} budget at {threshold}% "
        f"({_usd(spend.spent_usd)} of {_usd(spend.limit_usd)}, {budget.period})"
    )


def _alert_body(*, budget: Budget, spend: BudgetSpend, threshold: int) -> str:
    return "\n".join(
        [
            f"The {_scope_label(budget)} budget of the workspace {_one_line(budget.workspace.name)} has reached "
            f"{threshold}% of its limit.",
            "",
            f"Spent: {_usd(spend.spent_usd)} of {_usd(spend.limit_usd)} ({spend.used_percent}%), "
            f"{_usd(spend.remaining_usd)} left.",
            f"Window ({budget.period}): {spend.window_start.isoformat()} to {spend.window_end.isoformat()}.",
            f"Action at the limit: {budget.get_action_display()}.",
            "",
            f"Budget id {budget.pk}: change it with PATCH /api/budgets/{budget.pk} or in the admin.",
        ]
    )


def alert_payload(*, budget: Budget, spend: BudgetSpend, threshold: int, now: datetime) -> dict:
    """The webhook's JSON: names and ids only, never a key's secret, hash or mask."""
    workspace = budget.workspace
    return {
        "event": "budget.threshold_reached",
        "workspace": {"id": workspace.pk, "slug": workspace.slug, "name": workspace.name},
        "budget": {
            "id": budget.pk,
            "scope": budget.scope,
            "agent": {"id": budget.agent.pk, "slug": budget.agent.slug} if budget.agent_id else None,
            "api_key": {"id": budget.api_key.pk, "name": budget.api_key.name} if budget.api_key_id else None,
            "period": budget.period,
            "action": budget.action,
            "limit_usd": _money(spend.limit_usd),
        },
        "threshold": threshold,
        "thresholds_reached": list(spend.thresholds_reached),
        "spent_usd": _money(spend.spent_usd),
        "remaining_usd": _money(spend.remaining_usd),
        "used_percent": str(spend.used_percent),
        "window_start": spend.window_start.isoformat(),
        "window_end": spend.window_end.isoformat(),
        "sent_at": now.isoformat(),
    }


def _alert_send(*, budget: Budget, spend: BudgetSpend, threshold: int, recipients: list[str], now: datetime) -> None:
    if recipients:
        _email_send(
            budget=budget,
            subject=alert_subject(budget=budget, spend=spend, threshold=threshold),
            body=_alert_body(budget=budget, spend=spend, threshold=threshold),
            recipients=recipients,
        )
    else:
        logger.warning("Budget %s reached %s%% but its workspace has no one to email.", budget.pk, threshold)
    if budget.workspace.alert_webhook_url:
        webhook_post(
            url=budget.workspace.alert_webhook_url,
            payload=alert_payload(budget=budget, spend=spend, threshold=threshold, now=now),
            budget_id=budget.pk,
        )


def _email_send(*, budget: Budget, subject: str, body: str, recipients: list[str]) -> bool:
    try:
        EmailMessage(subject=subject, body=body, to=recipients).send()
    except Exception:  # smtplib, socket and ssl errors alike: one failed email must not stop the checker
        logger.exception("Budget alert email for budget %s failed.", budget.pk)
        return False
    return True


def webhook_post(*, url: str, payload: dict, budget_id: int) -> bool:
    """POST the JSON, retrying connection errors, timeouts, 429 and 5xx a few times; False when it never got through.

    The URL is never logged: webhook URLs often carry a token (Slack's, for one).
    """
    attempts = settings.BUDGET_ALERT_WEBHOOK_RETRIES + 1
    problem = ""
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.post(
                url,
                json=payload,
                timeout=settings.BUDGET_ALERT_WEBHOOK_TIMEOUT,
                headers={"User-Agent": "Switchyard budget alerts"},
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            problem = type(exc).__name__
        else:
            if response.is_success:
                return True
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # the receiver refused the call itself: sending it again would not help
        if attempt < attempts:
            time.sleep(WEBHOOK_RETRY_DELAY_SECONDS * attempt)
    logger.warning("Budget alert webhook for budget %s failed after %s attempt(s): %s", budget_id, attempt, problem)
    return False
