from django.contrib import admin

from apps.analytics.models import AuditEvent, CircuitState, ModelHealth, UsageRecord, UsageRollup
from apps.core.admin import ReadOnlyAdminMixin


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "generation_id",
        "workspace",
        "model_name",
        "provider",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "latency_ms",
        "streamed",
        "is_byok",
    )
    list_filter = ("status", "streamed", "is_byok", "provider")
    list_select_related = ("workspace", "model", "provider")
    # Exact id and name prefix keep searches on the biggest table cheap.
    search_fields = ("=generation_id", "^model_name")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "hour",
        "workspace",
        "agent",
        "model_name",
        "provider_slug",
        "is_byok",
        "requests",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    )
    list_filter = ("is_byok",)
    list_select_related = ("workspace", "agent")
    search_fields = ("^model_name", "workspace__slug")
    date_hierarchy = "hour"
    show_full_result_count = False


class OpenCircuitFilter(admin.SimpleListFilter):
    """Models the gateway is skipping or probing right now: open and half-open circuits together."""

    title = "open circuits"
    parameter_name = "circuit"

    def lookups(self, request, model_admin):
        return [("open", "Open or probing")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.exclude(circuit_state=CircuitState.CLOSED)
        return queryset


@admin.register(ModelHealth)
class ModelHealthAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "model",
        "provider",
        "circuit_state",
        "circuit_opened_at",
        "error_rate_percent",
        "requests",
        "successes",
        "latency_p50_ms",
        "latency_p95_ms",
        "ttft_p50_ms",
        "updated_at",
    )
    list_filter = (OpenCircuitFilter, "circuit_state", ("model__provider", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("model__provider",)
    search_fields = ("model__model_id",)
    # The worst first: that is what staff come here for.
    ordering = ("-error_rate", "model__model_id")

    @admin.display(description="provider", ordering="model__provider__slug")
    def provider(self, health: ModelHealth) -> str:
        return health.model.provider.slug

    @admin.display(description="error rate", ordering="error_rate")
    def error_rate_percent(self, health: ModelHealth) -> str:
        return f"{health.error_rate * 100:.1f}%"


class AuditActionFilter(admin.SimpleListFilter):
    """Filters by event family (the part before the first dot) without a DISTINCT scan of the audit table."""

    title = "action"
    parameter_name = "family"
    families = ("admin", "api_key", "budget", "ledger", "membership", "model", "plan", "provider_key", "workspace")

    def lookups(self, request, model_admin):
        return [(family, family) for family in self.families]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__startswith=f"{self.value()}.")
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "action", "workspace", "actor", "target_type", "target_repr", "ip_address")
    list_filter = (AuditActionFilter,)
    list_select_related = ("workspace", "actor")
    search_fields = ("^action", "target_repr", "=target_id")
    show_full_result_count = False
