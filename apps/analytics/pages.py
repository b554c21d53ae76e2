"""The usage dashboard, its CSV export and the workspace's audit page, for the member's current workspace
(apps/workspaces/pages.py: the header's switcher, or `?workspace=<slug>` among their own only).

The dashboard reads the hourly rollups through the analytics API's selectors (apps/analytics/rollup_selectors.py:
usage_overview is usage_series per day and model, with usage_summary's and usage_costs' figures summed from it)
with the hours not rolled up yet read from their raw records (`with_unrolled`), so a request made a moment ago
shows at once; its tips are the recommendations API's (apps/analytics/recommendations.py). The audit page reads
the audit API's selector.
"""

import csv
import hashlib
import io
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.core.cache import cache
from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.analytics.analytics_apis import AnalyticsCostRowSerializer, analytics_cost_row
from apps.analytics.audit_selectors import audit_action_list, audit_actor_list, audit_event_list
from apps.analytics.models import UsageRollupMark
from apps.analytics.recommendations import usage_recommendations
from apps.analytics.rollup_selectors import (
    DEFAULT_PERIOD,
    PERIOD_DAYS,
    AnalyticsPeriod,
    analytics_period,
    usage_costs,
    usage_group_labels,
    usage_overview,
)
from apps.analytics.rollups import MARK_NAME
from apps.analytics.usage_chart import NO_MODEL, usage_chart
from apps.billing.selectors import workspace_zone
from apps.workspaces.models import InstalledModel
from apps.workspaces.pages import workspace_page

RANGE_LABELS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days"}
AUDIT_PAGE_SIZE = 50
TIPS_CACHE_SECONDS = 300
CSV_COLUMNS = (
    "model",
    "requests",
    "errors",
    "error_rate",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "average_latency_ms",
)


def _slug(request: HttpRequest) -> str:
    """The `?workspace=` that picked the workspace, kept in the page's own links."""
    return request.GET.get("workspace", "").strip()


def _url(name: str, slug: str, **params) -> str:
    query = {**({"workspace": slug} if slug else {}), **{k: v for k, v in params.items() if v not in (None, "")}}
    return f"{reverse(name)}?{urlencode(query)}" if query else reverse(name)


def _range(request: HttpRequest) -> tuple[str, str]:
    """The range asked for (7d, 30d or 90d; 30d when none is), and an error when it is not one of them."""
    wanted = request.GET.get("range", "").strip()
    if not wanted:
        return DEFAULT_PERIOD, ""
    if wanted not in PERIOD_DAYS:
        return DEFAULT_PERIOD, f"Unknown range “{wanted[:20]}”: choose 7, 30 or 90 days. Showing the last 30 days."
    return wanted, ""


def _cost_rows(rows, *, workspace, group_by: str) -> list[dict]:
    """The API's cost rows (/api/analytics/llm/costs), with the error rate in % for the page."""
    labels = usage_group_labels(workspace=workspace, group_by=group_by, keys={row["key"] for row in rows})
    shown = []
    for row in rows:
        data = dict(AnalyticsCostRowSerializer(analytics_cost_row(row, labels)).data)
        data["error_percent"] = (Decimal(data["error_rate"]) * 100).quantize(Decimal("0.1"))
        shown.append(data)
    return shown


def _breakdown(*, workspace, period: AnalyticsPeriod, group_by: str) -> list[dict]:
    rows = usage_costs(workspace=workspace, period=period, group_by=group_by, with_unrolled=True)
    return _cost_rows(list(rows), workspace=workspace, group_by=group_by)


def _tips(*, workspace, days: int) -> list:
    """The recommendations API's results, kept until the rollup job moves on, the workspace's plan or installed
    models change, or TIPS_CACHE_SECONDS pass: working them out is the page's dearest query (a scan of the period's
    rollups per agent and model), and advice about weeks of traffic does not change between two views."""
    installed = sorted(InstalledModel.objects.filter(workspace=workspace).values_list("model_id", flat=True))
    mark = UsageRollupMark.objects.filter(name=MARK_NAME).values_list("last_record_id", flat=True).first()
    state = hashlib.sha256(f"{workspace.plan_id}:{days}:{mark}:{installed}".encode()).hexdigest()[:16]
    return cache.get_or_set(
        f"usage-dashboard-tips:{workspace.pk}:{state}",
        lambda: usage_recommendations(workspace=workspace, days=days).results,
        TIPS_CACHE_SECONDS,
    )


@workspace_page
def usage_dashboard(request: HttpRequest) -> HttpResponse:
    workspace, slug = request.workspace, _slug(request)
    range_key, error = _range(request)
    period = analytics_period(workspace=workspace, period=range_key)
    overview = usage_overview(workspace=workspace, period=period, with_unrolled=True)
    summary, totals = overview.summary, overview.summary.totals
    context = {
        "workspace": workspace,
        "period": period,
        "range_key": range_key,
        "ranges": [
            {"key": key, "label": label, "url": _url("analytics_pages:usage", slug, range=key)}
            for key, label in RANGE_LABELS.items()
        ],
        "range_label": RANGE_LABELS[range_key],
        "error": error,
        "totals": {
            "requests": totals["n_requests"],
            "errors": totals["n_errors"],
            "tokens": totals["n_prompt_tokens"] + totals["n_completion_tokens"],
            "cost_usd": totals["total_cost_usd"],
        },
        "previous_cost_usd": summary.previous_cost_usd,
        "trend_percent": summary.trend_percent,
        "top_models": [analytics_cost_row(row, {}) for row in summary.top_models],
        "chart": usage_chart(period=period, rows=overview.series),
        "models": _cost_rows(overview.models, workspace=workspace, group_by="model"),
        "agents": _cost_rows(overview.agents, workspace=workspace, group_by="agent"),
        "tips": _tips(workspace=workspace, days=period.days),
        "no_model": NO_MODEL,
        "csv_url": _url("analytics_pages:usage-csv", slug, range=range_key),
        "workspace_slug": slug,
    }
    return render(request, "analytics/usage.html", context, status=400 if error else 200)


@workspace_page
def usage_csv_download(request: HttpRequest) -> HttpResponse:
    """The dashboard's breakdown by model for the range, as CSV: the figures of /api/analytics/llm/costs."""
    workspace = request.workspace
    range_key, error = _range(request)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    period = analytics_period(workspace=workspace, period=range_key)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in _breakdown(workspace=workspace, period=period, group_by="model"):
        writer.writerow([row["key"] or "", *(row[column] for column in CSV_COLUMNS[1:])])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"switchyard-usage-{workspace.slug}-{period.start:%Y-%m-%d}-{period.end:%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False, label="Action")
    actor = forms.TypedChoiceField(required=False, label="Member", coerce=int, empty_value=None)

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "All actions")] + [
            (action, action) for action in audit_action_list(workspace=workspace)
        ]
        self.fields["actor"].choices = [("", "Anyone")] + [
            (str(pk), username) for pk, username in audit_actor_list(workspace=workspace)
        ]


@workspace_page
def audit_page(request: HttpRequest) -> HttpResponse:
    """The workspace's audit events, newest first, 50 a page, filtered by action and member."""
    workspace, slug = request.workspace, _slug(request)
    form = AuditFilterForm(request.GET or None, workspace=workspace)
    wanted = form.cleaned_data if form.is_bound and form.is_valid() else {}
    events = audit_event_list(workspace=workspace, action=wanted.get("action") or None, actor_id=wanted.get("actor"))
    paginator = Paginator(events, AUDIT_PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except InvalidPage as exc:
        raise Http404("No such page of audit events.") from exc
    filters = {"action": wanted.get("action"), "actor": wanted.get("actor")}
    context = {
        "workspace": workspace,
        "workspace_slug": slug,
        "form": form,
        "page": page,
        "zone": workspace_zone(workspace.timezone),
        "filtered": any(filters.values()),
        "clear_url": _url("analytics_pages:audit", slug),
        "newer_url": _url("analytics_pages:audit", slug, **filters, page=page.previous_page_number())
        if page.has_previous()
        else "",
        "older_url": _url("analytics_pages:audit", slug, **filters, page=page.next_page_number())
        if page.has_next()
        else "",
    }
    return render(request, "analytics/audit.html", context, status=400 if form.is_bound and form.errors else 200)
