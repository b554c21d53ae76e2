"""The marketplace's catalog pages: browse the models, one model's page (with its cost calculator and the install
and uninstall buttons), and two to four models side by side.

They read through the catalog API's selectors and FilterSet (apps/catalog/selectors.py, filters.py) and the insights
(insights.py), and write through the workspace services (apps/workspaces/services.py, which audit), always for the
member's current workspace (`request.workspace`, set by `workspace_page`).
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.analytics.model_usage_selectors import workspace_model_usage
from apps.core.errors import ApplicationError
from apps.workspaces.pages import workspace_page
from apps.workspaces.services import model_install, model_uninstall, model_uninstall_check

from .apis import price_text
from .filters import CAPABILITIES, CatalogModelFilter
from .insights import (
    COMPARE_MAX_MODELS,
    COMPARE_MIN_MODELS,
    Volume,
    model_access_map,
    model_compare,
    volume_cost,
)
from .models import Category, PlanTier
from .page_figures import capability_bars, capability_chart, recommended_uses
from .selectors import catalog_model_detail_get, catalog_model_list, provider_list

BROWSE_PAGE_SIZE = 12
SECTION_SIZE = 4
# Filters that take several values: a GET form sends one parameter per ticked box, the FilterSet reads them joined
# by commas (as /api/catalog/models takes them), so both spellings give the same list.
MULTI_VALUE_FILTERS = ("provider", "category", "power_level", "plan_tier", "capabilities")
PAGE_ONLY_PARAMETERS = ("workspace", "page")
SORT_OPTIONS = (
    ("-popularity", "Most used"),
    ("price", "Cheapest"),
    ("-context", "Largest context"),
    ("newest", "Newest"),
)
CONTEXT_OPTIONS = (
    (8_000, "8K tokens or more"),
    (32_000, "32K or more"),
    (128_000, "128K or more"),
    (200_000, "200K or more"),
    (1_000_000, "1M or more"),
)
FIELD_LABELS = {
    "search": "Search",
    "provider": "Provider",
    "category": "Category",
    "capabilities": "Capabilities",
    "input_price_min": "Input price from",
    "input_price_max": "Input price up to",
    "output_price_max": "Output price up to",
    "context_min": "Context window",
    "available": "Available on my plan",
    "sort": "Sort",
    "page": "Page",
}
DEFAULT_MONTHLY_TOKENS = {"input_tokens": 10_000_000, "output_tokens": 2_000_000}
MAX_MONTHLY_TOKENS = 10**13


def _workspace_query(request: HttpRequest) -> str:
    """`?workspace=<slug>` when the page was opened with one, so links and forms stay in that workspace."""
    slug = request.GET.get("workspace", "").strip()
    return f"?{urlencode({'workspace': slug})}" if slug else ""


def _filter_data(query: QueryDict) -> tuple[dict, list[str]]:
    """The FilterSet's data from the page's query, and the errors of parameters no filter knows."""
    known = set(CatalogModelFilter.base_filters)
    data, errors = {}, []
    for name in query:
        if name in PAGE_ONLY_PARAMETERS:
            continue
        if name not in known:
            errors.append(f"“{name}” is not a filter of this page.")
            continue
        values = [value.strip() for value in query.getlist(name) if value.strip()]
        if values:
            data[name] = ",".join(values) if name in MULTI_VALUE_FILTERS else values[-1]
    return data, errors


def _filter_errors(filterset: CatalogModelFilter) -> list[str]:
    return [
        f"{FIELD_LABELS.get(name, name.replace('_', ' ').capitalize())}: {' '.join(problems)}"
        for name, problems in filterset.errors.items()
    ]


@workspace_page
def model_browse(request: HttpRequest) -> HttpResponse:
    """The catalog as cards, filtered, searched, sorted and paged by the query (a GET form: shareable, no JS)."""
    workspace = request.workspace
    data, errors = _filter_data(request.GET)
    filterset = CatalogModelFilter(data=data, queryset=catalog_model_list(workspace=workspace), request=request)
    if not filterset.is_valid():
        errors += _filter_errors(filterset)
    status, page = 200, None
    if errors:
        status = 400
    else:
        paginator = Paginator(filterset.qs, BROWSE_PAGE_SIZE)
        number = request.GET.get("page", "1").strip() or "1"
        if not number.isdigit() or int(number) < 1:
            errors.append(f"Page: “{number}” is not a page number.")
            status = 400
        elif int(number) > paginator.num_pages:
            errors.append(f"There is no page {number}: the last page is {paginator.num_pages}.")
            status = 404
        else:
            page = paginator.page(int(number))

    unfiltered_start = not data and request.GET.get("page", "1") in ("", "1") and not errors
    selected = {name: set(value.split(",")) for name, value in data.items() if name in MULTI_VALUE_FILTERS}
    context = {
        "workspace": workspace,
        "workspace_query": _workspace_query(request),
        "workspace_slug": request.GET.get("workspace", "").strip(),
        "errors": errors,
        "page": page,
        "page_links": _page_links(request, page) if page else {},
        "sections": _sections(workspace) if unfiltered_start else [],
        "values": data,
        "selected": selected,
        **_provider_choices(workspace, selected.get("provider", set())),
        "categories": Category.choices,
        "capabilities": list(CAPABILITIES),
        "sort_options": SORT_OPTIONS,
        "context_options": CONTEXT_OPTIONS,
        "filtered": bool(data),
        "compare_min": COMPARE_MIN_MODELS,
        "compare_max": COMPARE_MAX_MODELS,
    }
    return render(request, "catalog/browse.html", context, status=status)


def _provider_choices(workspace, chosen: set[str]) -> dict:
    """The providers Switchyard can call are listed; the catalog's other hundred or so fold away (a long list of
    checkboxes is a long walk for the keyboard), open when one of them is chosen."""
    listed = [provider for provider in provider_list(workspace=workspace) if provider.model_count]
    others = [provider for provider in listed if not provider.enabled]
    return {
        "providers": [provider for provider in listed if provider.enabled],
        "other_providers": others,
        "other_provider_chosen": any(provider.slug in chosen for provider in others),
    }


def _page_links(request: HttpRequest, page) -> dict:
    def link(number: int) -> str:
        query = request.GET.copy()
        query["page"] = str(number)
        return f"?{query.urlencode()}"

    return {
        "previous": link(page.previous_page_number()) if page.has_previous() else "",
        "next": link(page.next_page_number()) if page.has_next() else "",
    }


def _sections(workspace) -> list[dict]:
    """The first page's shelves: the most used models of each category, each linking to its filtered list."""
    models = catalog_model_list(workspace=workspace).filter(deprecated_at__isnull=True)
    return [
        {"key": key, "label": label, "models": list(models.filter(category=key)[:SECTION_SIZE])}
        for key, label in Category.choices
    ]


class CalculatorForm(forms.Form):
    input_tokens = forms.IntegerField(label="Input tokens per month", min_value=0, max_value=MAX_MONTHLY_TOKENS)
    output_tokens = forms.IntegerField(label="Output tokens per month", min_value=0, max_value=MAX_MONTHLY_TOKENS)


@workspace_page
@require_http_methods(["GET", "POST"])
def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    """One model; a POST installs or uninstalls it in the current workspace (the services refuse what the plan or
    the workspace's agents forbid, and then nothing changes)."""
    workspace = request.workspace
    model = catalog_model_detail_get(workspace=workspace, model_id=model_id)
    if model is None:
        raise Http404(f"No model “{model_id}” in the catalog.")
    if model.model_id != model_id:  # found by an alias: the page lives at the canonical id
        return redirect(reverse("catalog_pages:detail", args=[model.model_id]) + _workspace_query(request))

    status = 200
    if request.method == "POST":
        try:
            done = _install_or_uninstall(request, model)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = exc.status
        else:
            messages.success(request, done)
            return redirect(request.get_full_path())

    calculator = CalculatorForm(request.GET if "input_tokens" in request.GET else DEFAULT_MONTHLY_TOKENS)
    monthly = None
    if calculator.is_valid():
        tokens = calculator.cleaned_data
        volume = Volume(input_tokens=tokens["input_tokens"], output_tokens=tokens["output_tokens"])
        monthly = volume_cost(model=model, volume=volume)
    elif status == 200:
        status = 400

    access = model_access_map(workspace=workspace, models=[model])[model.pk]
    health = model.health_summary
    context = {
        "workspace": workspace,
        "workspace_query": _workspace_query(request),
        "workspace_slug": request.GET.get("workspace", "").strip(),
        "model": model,
        "access": access,
        "plan_tier_label": PlanTier(model.plan_tier).label,
        "bars": capability_bars(model=model, task_quality=model.task_quality, health=health),
        "recommended": recommended_uses(model=model, task_quality=model.task_quality),
        "health": health,
        "usage": workspace_model_usage(workspace=workspace, model_id=model.model_id),
        "calculator": calculator,
        "monthly": monthly,
        # Exact decimal strings (a Decimal renders in exponent form) for the calculator's script.
        "input_price_text": price_text(model.input_price, per_million=False) if model.input_price is not None else "",
        "output_price_text": price_text(model.output_price, per_million=False)
        if model.output_price is not None
        else "",
    }
    return render(request, "catalog/detail.html", context, status=status)


def _install_or_uninstall(request: HttpRequest, model) -> str:
    workspace, action = request.workspace, request.POST.get("action", "")
    if action == "install":
        if model.is_installed:
            return f"{model.display_name} is already installed in {workspace.name}."
        model_install(workspace=workspace, model=model, installed_by=request.user)
        return f"Installed {model.display_name} in {workspace.name}."
    if action == "uninstall":
        if not model.is_installed:
            return f"{model.display_name} is not installed in {workspace.name}."
        model_uninstall_check(workspace=workspace, model=model)
        model_uninstall(workspace=workspace, model=model, uninstalled_by=request.user)
        return f"Uninstalled {model.display_name} from {workspace.name}."
    raise ApplicationError("Choose Install or Uninstall.")


@workspace_page
def model_comparison(request: HttpRequest) -> HttpResponse:
    """2 to 4 models side by side (`?models=a&models=b`, as the browse page's compare boxes send them)."""
    workspace = request.workspace
    names = [name.strip() for name in request.GET.getlist("models") if name.strip()]
    context = {
        "workspace": workspace,
        "workspace_query": _workspace_query(request),
        "names": names,
        "compare_min": COMPARE_MIN_MODELS,
        "compare_max": COMPARE_MAX_MODELS,
    }
    try:
        comparison = model_compare(workspace=workspace, names=names)
    except ApplicationError as exc:
        context["error"] = exc.message
        return render(request, "catalog/compare.html", context, status=404 if exc.code == "unknown_model" else 400)

    columns = []
    for insight in comparison.models:
        bars = capability_bars(model=insight.model, task_quality=insight.task_quality, health=insight.health)
        columns.append({"insight": insight, "model": insight.model, "bars": bars})
    context.update(
        comparison=comparison,
        columns=columns,
        chart=capability_chart(named_bars=[(c["model"].display_name, c["bars"]) for c in columns]),
        bar_rows=[
            {"label": bar.label, "cells": [c["bars"][position] for c in columns]}
            for position, bar in enumerate(columns[0]["bars"])
        ],
        workload_rows=[
            {
                "workload": row.workload,
                "cells": [(cost.model_id in row.cheapest, cost.cost) for cost in row.costs],
            }
            for row in comparison.workloads
        ],
    )
    return render(request, "catalog/compare.html", context)
