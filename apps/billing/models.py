import uuid

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel

MONEY = {"max_digits": 18, "decimal_places": 8}


def default_thresholds() -> list:
    return [50, 80, 100]


class BudgetScope(models.TextChoices):
    WORKSPACE = "workspace"
    AGENT = "agent"
    API_KEY = "api_key"


class BudgetPeriod(models.TextChoices):
    DAILY = "daily"
    MONTHLY = "monthly"


class BudgetAction(models.TextChoices):
    BLOCK = "block", "Block requests (429)"
    DOWNGRADE = "downgrade", "Prefer cheaper models"
    ALERT = "alert", "Alert only"


class Budget(TimeStampedModel):
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="budgets")
    scope = models.CharField(max_length=16, choices=BudgetScope.choices, default=BudgetScope.WORKSPACE)
    agent = models.ForeignKey(
        "workspaces.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    api_key = models.ForeignKey("keys.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets")
    period = models.CharField(max_length=16, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY)
    limit_usd = models.DecimalField(**MONEY)
    action = models.CharField(max_length=16, choices=BudgetAction.choices, default=BudgetAction.BLOCK)
    alert_thresholds = models.JSONField(default=default_thresholds, blank=True, help_text="Percentages of the limit.")
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(limit_usd__gte=0), name="budget_limit_gte_0"),
            models.CheckConstraint(
                condition=(
                    models.Q(scope="workspace", agent__isnull=True, api_key__isnull=True)
                    | models.Q(scope="agent", agent__isnull=False, api_key__isnull=True)
                    | models.Q(scope="api_key", agent__isnull=True, api_key__isnull=False)
                ),
                name="budget_scope_matches_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.period} ${self.limit_usd}"


class BudgetAlert(models.Model):
    """A threshold alert already sent in one budget window, so each fires once per window."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    window_start = models.DateTimeField()
    threshold = models.PositiveSmallIntegerField()
    spent_usd = models.DecimalField(**MONEY)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["budget", "window_start", "threshold"], name="budgetalert_once_per_window")
        ]

    def __str__(self) -> str:
        return f"budget {self.budget_id} {self.threshold}% @ {self.window_start:%Y-%m-%d}"


class SpendCounter(models.Model):
    """Spend and reservations of one budget or quota window, for the row-locked path of the embedded mode."""

    key = models.CharField(max_length=128, unique=True, help_text="e.g. budget:12:2026-11-01 or quota:3:2026-11")
    window_start = models.DateTimeField()
    spent_usd = models.DecimalField(default=0, **MONEY)
    reserved_usd = models.DecimalField(default=0, **MONEY)
    spent_tokens = models.BigIntegerField(default=0)
    reserved_tokens = models.BigIntegerField(default=0)
    credit_usd = models.DecimalField(default=0, help_text="Credit balances: the balance plus top-ups since.", **MONEY)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="The end of the counter's window.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key


class Reservation(models.Model):
    """Money and tokens held for one in-flight request until it settles; expires if its worker dies."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    counter_keys = models.JSONField(default=list)
    amount_usd = models.DecimalField(**MONEY)
    tokens = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"reservation {self.id} ${self.amount_usd}"


class LedgerKind(models.TextChoices):
    TOPUP = "topup", "Top-up"
    CHARGE = "charge", "Usage charge"
    REFUND = "refund", "Refund"
    TRANSFER_IN = "transfer_in", "Transfer in"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    ADJUSTMENT = "adjustment", "Correction"


class ImmutableRowError(Exception):
    pass


class LedgerEntry(models.Model):
    """One line of the credits ledger. Balance = sum of amounts. Rows are never changed or deleted."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=LedgerKind.choices)
    amount_usd = models.DecimalField(**MONEY, help_text="Positive adds credit, negative spends it.")
    description = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    counterparty = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    transfer_id = models.UUIDField(null=True, blank=True, db_index=True)
    generation_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["workspace", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="ledger_idempotency_unique",
            ),
            models.CheckConstraint(condition=~models.Q(amount_usd=0), name="ledger_amount_nonzero"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_usd}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableRowError("Ledger entries are immutable; add a correcting entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRowError("Ledger entries are never deleted; add a correcting entry instead.")


class OverageRecord(models.Model):
    """Tokens used past the plan's monthly quota, at the plan's overage price."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="overages")
    plan = models.ForeignKey("workspaces.Plan", on_delete=models.PROTECT, related_name="+")
    period_start = models.DateField(db_index=True)
    tokens = models.BigIntegerField()
    amount_usd = models.DecimalField(**MONEY)
    generation_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "period_start"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(tokens__gte=0), name="overage_tokens_gte_0"),
            # One per call: ingesting the same usage twice writes it once.
            models.UniqueConstraint(
                fields=["generation_id"], condition=~models.Q(generation_id=""), name="overage_once_per_call"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tokens} tokens ${self.amount_usd} ({self.period_start:%Y-%m})"
