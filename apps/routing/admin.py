from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.core.admin import ReadOnlyAdminMixin
from apps.routing.benchmarking import benchmark_summary
from apps.routing.models import BenchmarkResult, BenchmarkRun


class BenchmarkResultInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BenchmarkResult
    fields = ("model", "task", "prompt_key", "latency_ms", "cost_usd", "quality", "error")
    readonly_fields = fields
    ordering = ("model__model_id", "task", "prompt_key")
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("model")


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "prompt_set", "status", "started_at", "finished_at", "model_count", "results_link")
    list_filter = ("status", "prompt_set")
    date_hierarchy = "started_at"
    fields = ("status", "prompt_set", "started_at", "finished_at", "models_tested", "error", "task_summary")
    readonly_fields = fields
    inlines = [BenchmarkResultInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[BenchmarkRun]:
        return super().get_queryset(request).annotate(model_count=Count("models_tested", distinct=True))

    @admin.display(description="Models", ordering="model_count")
    def model_count(self, obj: BenchmarkRun) -> int:
        return obj.model_count

    @admin.display(description="Results")
    def results_link(self, obj: BenchmarkRun) -> str:
        url = reverse("admin:routing_benchmarkresult_changelist")
        return format_html('<a href="{}?run__id__exact={}">results</a>', url, obj.pk)

    @admin.display(description="Per model and task")
    def task_summary(self, obj: BenchmarkRun) -> str:
        rows = benchmark_summary(run=obj)
        if not rows:
            return "—"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    row.model_id,
                    row.task,
                    "—" if row.quality is None else f"{row.quality:.3f}",
                    row.graded,
                    row.prompts,
                    "—" if row.p50_latency_ms is None else row.p50_latency_ms,
                    "unknown" if row.cost_usd is None else f"{row.cost_usd:.6f}",
                )
                for row in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>Model</th><th>Task</th><th>Quality</th><th>Graded</th><th>p50 latency (ms)</th>"
            "<th>Cost (USD)</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )


@admin.register(BenchmarkResult)
class BenchmarkResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("run", "model", "task", "prompt_key", "latency_ms", "cost_usd", "quality", "error")
    list_filter = (
        "task",
        ("model", admin.RelatedOnlyFieldListFilter),
        ("run", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("run", "model")
    search_fields = ("model__model_id", "prompt_key")
