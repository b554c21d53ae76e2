from django.contrib import admin

from apps.core.admin import ReadOnlyAdminMixin
from apps.routing.models import BenchmarkResult, BenchmarkRun


class BenchmarkResultInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BenchmarkResult
    fields = ("model", "task", "prompt_key", "latency_ms", "cost_usd", "quality", "error")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("model")


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "prompt_set", "status", "started_at", "finished_at")
    list_filter = ("status", "prompt_set")
    inlines = [BenchmarkResultInline]


@admin.register(BenchmarkResult)
class BenchmarkResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("run", "model", "task", "prompt_key", "latency_ms", "cost_usd", "quality", "error")
    list_filter = ("task",)
    list_select_related = ("run", "model")
    search_fields = ("model__model_id", "prompt_key")
