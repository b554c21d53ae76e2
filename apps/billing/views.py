"""The marketplace's statement page: a signed-in member's workspace statement of one month, and its CSV download.

The page shows what the API returns (the same selector and serializer), for the member's current workspace
(apps/workspaces/pages.py: the header's switcher, or `?workspace=<slug>` among their own only).
"""

from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.billing.statement_apis import StatementOutputSerializer, statement_csv_response
from apps.billing.statements import (
    EARLIEST_MONTH,
    monthly_statement,
    statement_current_month,
    statement_month_parse,
)
from apps.core.errors import ApplicationError
from apps.workspaces.models import Workspace
from apps.workspaces.pages import workspace_page


def _member_workspace(request: HttpRequest) -> tuple[Workspace, str]:
    """The workspace the page is about and the `?workspace=` slug that picked it, kept in the page's links."""
    return request.workspace, request.GET.get("workspace", "").strip()


def _statement_month(value: str, workspace: Workspace) -> date:
    try:
        return statement_month_parse(value=value, workspace=workspace)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def _page_url(name: str, month: date, slug: str) -> str:
    url = reverse(name, args=[f"{month:%Y-%m}"])
    return f"{url}?{urlencode({'workspace': slug})}" if slug else url


@workspace_page
def statement_current(request: HttpRequest) -> HttpResponse:
    """To the current month's statement, or to the month (and workspace) the pickers chose."""
    workspace, slug = _member_workspace(request)
    month = statement_current_month(workspace=workspace)
    if picked := request.GET.get("month", "").strip():
        try:
            month = statement_month_parse(value=picked, workspace=workspace)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect(_page_url("billing_pages:statement", month, slug))


@workspace_page
def statement_page(request: HttpRequest, month: str) -> HttpResponse:
    workspace, slug = _member_workspace(request)
    shown = _statement_month(month, workspace)
    current = statement_current_month(workspace=workspace)
    previous = (shown - timedelta(days=1)).replace(day=1)
    following = (shown + timedelta(days=31)).replace(day=1)
    context = {
        "workspace": workspace,
        "workspace_slug": slug,
        "statement": StatementOutputSerializer(monthly_statement(workspace=workspace, month=shown)).data,
        "month": shown,
        "current_month": current,
        "previous_url": _page_url("billing_pages:statement", previous, slug) if previous >= EARLIEST_MONTH else "",
        "next_url": _page_url("billing_pages:statement", following, slug) if following <= current else "",
        "csv_url": _page_url("billing_pages:statement-csv", shown, slug),
    }
    return render(request, "billing/statement.html", context)


@workspace_page
def statement_csv_download(request: HttpRequest, month: str) -> HttpResponse:
    workspace, _ = _member_workspace(request)
    return statement_csv_response(monthly_statement(workspace=workspace, month=_statement_month(month, workspace)))
