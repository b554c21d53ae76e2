import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.utils.html import format_html, format_html_join

from apps.billing.models import Budget, BudgetAlert, LedgerEntry, LedgerKind, OverageRecord, Reservation, SpendCounter
from apps.billing.selectors import BudgetSpend, budget_spend_map
from apps.billing.services import (
    budget_thresholds_normalize,
    budget_validate_target,
    ledger_amount_parse,
    ledger_correction,
    ledger_refund,
    ledger_refund_generation_validate,
    ledger_topup,
)
from apps.core.admin import AuditedAdminMixin, ReadOnlyAdminMixin, copy_saved_instance, run_validator
from apps.core.errors import ApplicationError

RECENT_ALERTS_SHOWN = 20
CENT = Decimal("0.01")


class BudgetForm(forms.ModelForm):
    class Meta:
        model = Budget
        fields = (
            "workspace",
            "scope",
            "agent",
            "api_key",
            "period",
            "limit_usd",
            "action",
            "alert_thresholds",
            "is_active",
        )

    def clean_alert_thresholds(self):
        try:
            return budget_thresholds_normalize(self.cleaned_data.get("alert_thresholds"))
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("workspace") is not None:
            run_validator(
                self,
                budget_validate_target,
                workspace=cleaned["workspace"],
                agent=cleaned.get("agent"),
                api_key=cleaned.get("api_key"),
            )
        return cleaned


class BudgetChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # The page's spend in one aggregate (and its alerts in one query), not a query per row.
        spend = budget_spend_map(budgets=list(self.result_list))
        for budget in self.result_list:
            budget.current_spend = spend[budget.pk]


@admin.register(Budget)
class BudgetAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_action = "budget"
    form = BudgetForm
    list_display = (
        "workspace",
        "scope",
        "target",
        "period",
        "limit_usd",
        "spent_this_window",
        "remaining",
        "used_percent",
        "action",
        "is_active",
        "created_at",
    )
    list_filter = ("scope", "period", "action", "is_active")
    list_select_related = ("workspace", "agent", "api_key")
    search_fields = ("workspace__name", "workspace__slug", "agent__name", "api_key__name")
    autocomplete_fields = ("workspace", "agent", "api_key")
    readonly_fields = ("current_window", "spent_this_window", "remaining", "used_percent", "alerts_sent")

    def get_changelist(self, request, **kwargs):
        return BudgetChangeList

    def _spend(self, obj: Budget) -> BudgetSpend | None:
        if obj is None or obj.pk is None:
            return None
        if getattr(obj, "current_spend", None) is None:
            obj.current_spend = budget_spend_map(budgets=[obj])[obj.pk]
        return obj.current_spend

    @admin.display(description="target")
    def target(self, obj: Budget) -> str:
        return str(obj.agent or obj.api_key or obj.workspace)

    @admin.display(description="spent this window")
    def spent_this_window(self, obj: Budget) -> str:
        spend = self._spend(obj)
        return "—" if spend is None else f"${spend.spent_usd.quantize(CENT):,}"

    @admin.display(description="remaining")
    def remaining(self, obj: Budget) -> str:
        spend = self._spend(obj)
        return "—" if spend is None else f"${spend.remaining_usd.quantize(CENT):,}"

    @admin.display(description="% used")
    def used_percent(self, obj: Budget) -> str:
        spend = self._spend(obj)
        return "—" if spend is None else f"{spend.used_percent}%"

    @admin.display(description="current window")
    def current_window(self, obj: Budget) -> str:
        spend = self._spend(obj)
        if spend is None:
            return "—"
        return f"{spend.window_start:%Y-%m-%d %H:%M} to {spend.window_end:%Y-%m-%d %H:%M} ({spend.window_start.tzinfo})"

    @admin.display(description="alerts sent")
    def alerts_sent(self, obj: Budget) -> str:
        """The latest alerts, every window (each threshold fires once per window)."""
        if obj is None or obj.pk is None:
            return "—"
        alerts = list(obj.alerts.order_by("-sent_at", "-pk")[:RECENT_ALERTS_SHOWN])
        if not alerts:
            return "None yet."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}%: ${} spent, window from {}, sent {}</li>",
                (
                    (
                        alert.threshold,
                        f"{alert.spent_usd.quantize(CENT):,}",
                        f"{alert.window_start:%Y-%m-%d %H:%M %Z}",
                        f"{alert.sent_at:%Y-%m-%d %H:%M %Z}",
                    )
                    for alert in alerts
                ),
            ),
        )


class LedgerEntryAddForm(forms.ModelForm):
    """Staff add credit (a top-up), give it back (a refund, optionally of one request) or correct a mistake (a
    signed correction); nothing else is written by hand."""

    kind = forms.ChoiceField(
        choices=[
            (LedgerKind.TOPUP, "Top-up"),
            (LedgerKind.REFUND, "Refund"),
            (LedgerKind.ADJUSTMENT, "Correction (signed amount)"),
        ],
        initial=LedgerKind.TOPUP,
    )
    # One key per rendered form: submitting the same form twice cannot add the credit twice.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = LedgerEntry
        fields = ("workspace", "kind", "amount_usd", "description", "generation_id", "idempotency_key")
        help_texts = {"generation_id": "Refunds only: the request refunded (optional)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["idempotency_key"].initial = uuid.uuid4().hex

    def clean(self):
        cleaned = super().clean()
        kind, workspace = cleaned.get("kind"), cleaned.get("workspace")
        amount = cleaned.get("amount_usd")
        if amount is not None:
            allow_negative = kind == LedgerKind.ADJUSTMENT
            run_validator(self, ledger_amount_parse, value=amount, allow_negative=allow_negative)
        if kind == LedgerKind.ADJUSTMENT and not (cleaned.get("description") or "").strip():
            self.add_error("description", "A correction needs a description saying why.")
        generation_id = (cleaned.get("generation_id") or "").strip()
        if generation_id and kind != LedgerKind.REFUND:
            self.add_error("generation_id", "Only a refund names a request.")
        elif generation_id and workspace is not None:
            run_validator(self, ledger_refund_generation_validate, workspace=workspace, generation_id=generation_id)
        key = cleaned.get("idempotency_key")
        if key and workspace is not None:
            # The form was sent before (a double click, or Back and send again): say so rather than write again.
            saved = LedgerEntry.objects.filter(workspace=workspace, idempotency_key=key).first()
            if saved is not None:
                raise forms.ValidationError(
                    f"This form was already saved (entry {saved.pk}); open a new form to add another entry."
                )
        return cleaned


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The credits ledger is append-only: staff add top-ups, refunds and corrections through the billing services;
    usage charges and transfers are written by the platform."""

    form = LedgerEntryAddForm
    list_display = ("created_at", "workspace", "kind", "amount_usd", "description", "counterparty", "created_by")
    list_filter = ("kind",)
    list_select_related = ("workspace", "counterparty", "created_by")
    search_fields = ("workspace__name", "workspace__slug", "description", "=generation_id")
    autocomplete_fields = ("workspace",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = None

    def get_fields(self, request, obj=None):
        return LedgerEntryAddForm.Meta.fields if obj is None else super().get_fields(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        kind = form.cleaned_data["kind"]
        common = {
            "workspace": obj.workspace,
            "amount_usd": obj.amount_usd,
            "description": obj.description,
            "created_by": request.user,
            "idempotency_key": form.cleaned_data.get("idempotency_key") or None,
        }
        if kind == LedgerKind.TOPUP:
            entry = ledger_topup(**common)
        elif kind == LedgerKind.REFUND:
            entry = ledger_refund(**common, generation_id=obj.generation_id)
        else:
            entry = ledger_correction(**common)
        copy_saved_instance(target=obj, saved=entry)


@admin.register(OverageRecord)
class OverageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "workspace", "plan", "period_start", "tokens", "amount_usd", "generation_id")
    list_filter = ("plan",)
    list_select_related = ("workspace", "plan")
    search_fields = ("workspace__name", "workspace__slug", "=generation_id")
    date_hierarchy = "period_start"
    show_full_result_count = False


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("sent_at", "workspace", "budget", "threshold", "spent_usd", "window_start")
    list_filter = ("threshold",)
    list_select_related = ("budget__workspace",)
    search_fields = ("budget__workspace__name", "budget__workspace__slug")

    @admin.display(description="workspace", ordering="budget__workspace__name")
    def workspace(self, obj: BudgetAlert) -> str:
        return str(obj.budget.workspace)


@admin.register(SpendCounter)
class SpendCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "spent_usd", "reserved_usd", "credit_usd", "spent_tokens", "reserved_tokens", "expires_at")
    search_fields = ("key",)


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "workspace", "amount_usd", "tokens", "created_at", "expires_at")
    list_select_related = ("workspace",)
    search_fields = ("=id", "workspace__name", "workspace__slug")
    show_full_result_count = False
