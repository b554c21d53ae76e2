"""The Agents pages: the workspace's agents, and a form to create, edit or delete one.

They read and write through what /api/agents uses: its selectors, its input serializer and the agent services (which
validate against the workspace's installed models and plan, replace the agent's budgets through billing's budget
services, and write the audit events). A bad value re-renders the form with the serializer's or the service's
messages, by field, with status 400, and nothing is saved.

The model picker offers the models the workspace can route to now (installed, enabled, allowed by its plan), grouped:
- Recommended: the top picks of the catalog's recommendation for the agent's kind, complexity and budget preference
  (apps/catalog/insights.py), among the installed models;
- Direct providers: served by the model maker's own API with the platform's key;
- OpenRouter: served through OpenRouter with the platform's key;
- BYOK: served with a key of the workspace's own (its provider has a workspace key, or one of the member's or of this
  agent's, that has not failed its test).
"""

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.billing.models import BudgetAction, BudgetPeriod
from apps.billing.selectors import budget_spend_map
from apps.catalog.insights import RecommendQuery, model_recommend, price_known
from apps.catalog.models import Model, PowerLevel
from apps.core.errors import ApplicationError
from apps.keys.models import ProviderKeyStatus
from apps.keys.selectors import provider_key_list
from apps.workspaces.agent_apis import AgentInputSerializer
from apps.workspaces.agent_services import MAX_FALLBACKS, agent_create, agent_delete, agent_update
from apps.workspaces.models import Agent, PrivacyMode, RoutingPolicy, ServiceCategory, default_routing_weights
from apps.workspaces.pages import workspace_page
from apps.workspaces.routing_config import routing_weights_stored
from apps.workspaces.selectors import agent_get_with_config, agent_list, installed_model_available_list

FALLBACK_SLOTS = 3  # empty fallback selects on the form; an agent with more fallbacks gets one more than it has
OPENROUTER_PROVIDER = "openrouter"
RECOMMENDED_PICKS = 3
LEVELS = (("low", "Low"), ("medium", "Medium"), ("high", "High"))
WEIGHTS = ("cost", "latency", "quality")
BUDGET_PERIODS = (BudgetPeriod.MONTHLY, BudgetPeriod.DAILY)
# The catalog's recommendation ranks models for a task; an agent's kind names the task it mostly does.
KIND_TASKS = {
    ServiceCategory.CHAT: "chat",
    ServiceCategory.CODE: "code",
    ServiceCategory.DOCUMENTS: "summarization",
    ServiceCategory.RAG: "extraction",
    ServiceCategory.ORCHESTRATION: "reasoning",
}


# --- the model picker ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PickerOption:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class PickerGroup:
    label: str
    options: list[PickerOption]


def usd_text(amount: Decimal) -> str:
    """$2.50, $0.075, $100.00: cents always, more decimals only where the amount has them."""
    amount = amount.normalize()
    text = f"{amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else f"{amount:f}"
    return f"${text}"


def _money_per_million(price: Decimal) -> str:
    return usd_text(price * 1_000_000)


def _context_label(tokens: int | None) -> str:
    if not tokens:
        return "context unknown"
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:.1f}".removesuffix(".0") + "M ctx"
    if tokens >= 1_000:
        return f"{round(tokens / 1_000)}K ctx"
    return f"{tokens} ctx"


def model_option_label(model: Model) -> str:
    """ "GPT-4o (OpenAI) — $2.50 / $10.00 per 1M · 128K ctx": prices in / out per 1M tokens, and the context."""
    prices = (
        f"{_money_per_million(model.input_price)} / {_money_per_million(model.output_price)} per 1M"
        if price_known(model)
        else "price unknown"
    )
    return f"{model.display_name} ({model.provider.name}) — {prices} · {_context_label(model.context_window)}"


def _byok_provider_ids(*, workspace, user, agent: Agent | None) -> set[int]:
    """Providers the workspace's calls reach with its own key: a workspace key, the member's, or this agent's."""
    keys = provider_key_list(workspace=workspace).exclude(status=ProviderKeyStatus.INVALID)
    return {
        key.provider_id
        for key in keys
        if (key.member_id is None and key.agent_id is None)
        or key.member_id == user.pk
        or (agent is not None and key.agent_id == agent.pk)
    }


def model_picker_groups(*, workspace, user, agent: Agent | None, recommended: list[str]) -> list[PickerGroup]:
    """The routable models in the picker's groups (each model once); a model the agent names that is no longer
    routable is listed last, so the form shows the configuration as it is."""
    available = list(installed_model_available_list(workspace=workspace))
    byok = _byok_provider_ids(workspace=workspace, user=user, agent=agent)
    by_id = {model.model_id: model for model in available}
    groups = {"Recommended": [], "Direct providers": [], "OpenRouter": [], "BYOK": []}
    for model_id in recommended:
        if model_id in by_id:
            groups["Recommended"].append(by_id.pop(model_id))
    for model in by_id.values():
        if model.provider_id in byok:
            groups["BYOK"].append(model)
        elif model.provider.slug == OPENROUTER_PROVIDER:
            groups["OpenRouter"].append(model)
        else:
            groups["Direct providers"].append(model)
    picker = [
        PickerGroup(label, [PickerOption(m.model_id, model_option_label(m)) for m in models])
        for label, models in groups.items()
        if models
    ]
    if agent is not None:
        routable = {model.model_id for model in available}
        named = [agent.primary_model] if agent.primary_model_id else []
        named += [fallback.model for fallback in agent.fallbacks.all()]
        stale = [model for model in named if model.model_id not in routable]
        if stale:
            options = [PickerOption(m.model_id, f"{m.display_name} — no longer available") for m in stale]
            picker.append(PickerGroup("Set on this agent, no longer available", options))
    return picker


# --- the recommendation --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecommendationAsked:
    kind: str
    complexity: str
    budget: str


def _choice(value, allowed, default: str) -> str:
    return value if value in allowed else default


def _recommendation_asked(query: QueryDict, agent: Agent | None) -> RecommendationAsked:
    return RecommendationAsked(
        kind=_choice(query.get("kind"), ServiceCategory.values, agent.kind if agent else ServiceCategory.CHAT),
        complexity=_choice(query.get("complexity"), dict(LEVELS), "medium"),
        budget=_choice(query.get("budget"), dict(LEVELS), "medium"),
    )


def _recommendation(workspace, asked: RecommendationAsked):
    """The catalog's top picks for the agent among the installed models; None for a kind it does not rank (the
    recommendation covers models that generate text)."""
    task = KIND_TASKS.get(asked.kind)
    if task is None:
        return None
    query = RecommendQuery(
        task=task, complexity=asked.complexity, budget=asked.budget, installed=True, limit=RECOMMENDED_PICKS
    )
    return model_recommend(workspace=workspace, query=query)


# --- the form's values ---------------------------------------------------------------------------------------------


def _weight_text(value: float) -> str:
    return f"{value:g}"


def _form_values_of(agent: Agent | None, budgets: dict) -> dict:
    """What the form shows for an agent (or a new one): strings, and the fallbacks as a list."""
    if agent is None:
        weights = default_routing_weights()
        return {
            "name": "",
            "slug": "",
            "description": "",
            "kind": ServiceCategory.CHAT,
            "is_active": True,
            "primary_model": "",
            "fallbacks": [],
            "routing_policy": RoutingPolicy.EXPLICIT,
            "power_level": PowerLevel.BALANCED,
            **{f"weight_{name}": _weight_text(weights[name]) for name in WEIGHTS},
            "privacy_mode": PrivacyMode.DETECT,
            "temperature": "",
            "max_tokens": "",
            **{f"{period}_budget": "" for period in BUDGET_PERIODS},
            **{f"{period}_action": BudgetAction.BLOCK for period in BUDGET_PERIODS},
        }
    weights = routing_weights_stored(agent.routing_weights)
    values = {
        "name": agent.name,
        "slug": agent.slug,
        "description": agent.description,
        "kind": agent.kind,
        "is_active": agent.is_active,
        "primary_model": agent.primary_model.model_id if agent.primary_model_id else "",
        "fallbacks": [fallback.model.model_id for fallback in agent.fallbacks.all()],
        "routing_policy": agent.routing_policy,
        "power_level": agent.power_level,
        **{f"weight_{name}": _weight_text(weights[name]) for name in WEIGHTS},
        "privacy_mode": agent.privacy_mode,
        "temperature": "" if agent.temperature is None else str(agent.temperature),
        "max_tokens": "" if agent.max_tokens is None else str(agent.max_tokens),
    }
    for period in BUDGET_PERIODS:
        budget = budgets.get(period)
        values[f"{period}_budget"] = "" if budget is None else f"{budget.limit_usd.normalize():f}"
        values[f"{period}_action"] = budget.action if budget else BudgetAction.BLOCK
    return values


def _fallback_fields(count: int) -> list[str]:
    return [f"fallback_{position}" for position in range(1, count + 1)]


def _fallback_slots(values: dict) -> list[dict]:
    """The fallback selects: at least FALLBACK_SLOTS, and one empty after the chain (up to MAX_FALLBACKS)."""
    chain = values["fallbacks"]
    count = min(max(FALLBACK_SLOTS, len(chain) + 1), MAX_FALLBACKS)
    return [
        {"name": name, "label": f"Fallback {position}", "value": chain[position - 1] if position <= len(chain) else ""}
        for position, name in enumerate(_fallback_fields(count), start=1)
    ]


def _form_values_from_post(post: QueryDict) -> dict:
    values = {
        name: post.get(name, "").strip()
        for name in (
            "name",
            "slug",
            "kind",
            "primary_model",
            "routing_policy",
            "power_level",
            "privacy_mode",
            "temperature",
            "max_tokens",
            *(f"weight_{name}" for name in WEIGHTS),
            *(f"{period}_budget" for period in BUDGET_PERIODS),
            *(f"{period}_action" for period in BUDGET_PERIODS),
        )
    }
    values["description"] = post.get("description", "")
    values["is_active"] = post.get("is_active") == "on"
    # Empty fallback selects are skipped: the chain is the chosen ones, in the order of the selects.
    values["fallbacks"] = [ref for name in _fallback_fields(MAX_FALLBACKS) if (ref := post.get(name, "").strip())]
    return values


def _budget_items(values: dict, budgets: dict) -> list[dict]:
    """The budgets the form asks for, one per period with a limit; an existing budget keeps its alert thresholds and
    whether it is active (the form does not edit them)."""
    items = []
    for period in BUDGET_PERIODS:
        limit = values[f"{period}_budget"]
        if not limit:
            continue
        item = {"period": period, "limit_usd": limit, "action": values[f"{period}_action"]}
        if budget := budgets.get(period):
            item |= {"alert_thresholds": budget.alert_thresholds, "is_active": budget.is_active}
        items.append(item)
    return items


def _api_data(values: dict, *, agent: Agent | None, budgets: dict) -> dict:
    """The form's values in /api/agents' shape. When editing, the models are sent only if changed, so an edit
    elsewhere on the form is not refused for a model that has since stopped being routable."""
    data = {
        "name": values["name"],
        "description": values["description"],
        "kind": values["kind"],
        "is_active": values["is_active"],
        "routing_policy": values["routing_policy"],
        "power_level": values["power_level"],
        "routing_weights": {name: values[f"weight_{name}"] or "0" for name in WEIGHTS},
        "privacy_mode": values["privacy_mode"],
        "temperature": values["temperature"] or None,
        "max_tokens": values["max_tokens"] or None,
        "budgets": _budget_items(values, budgets),
    }
    if values["slug"] or agent is not None:
        data["slug"] = values["slug"]
    current = _form_values_of(agent, budgets) if agent else None
    if current is None or values["primary_model"] != current["primary_model"]:
        data["primary_model"] = values["primary_model"] or None
    if current is None or values["fallbacks"] != current["fallbacks"]:
        data["fallback_models"] = values["fallbacks"]
    return data


# Where an /api field's problems show on the form.
FORM_FIELD_OF = {
    "__all__": "form",
    "non_field_errors": "form",
    "fallback_models": "fallbacks",
    "routing_weights": "weights",
    "budgets": "budgets",
}


# Form field → (its label, the element its summary entry links to), for the list of problems above the form.
FORM_FIELD_LABELS = {
    "name": ("Name", "agent-name"),
    "slug": ("Slug", "agent-slug"),
    "description": ("Description", "agent-description"),
    "kind": ("Kind", "agent-kind"),
    "is_active": ("Active", "agent-active"),
    "primary_model": ("Primary model", "primary-model"),
    "fallbacks": ("Fallback models", "fallback_1"),
    "routing_policy": ("Routing policy", "policy-explicit"),
    "power_level": ("Power level", "power-level"),
    "weights": ("Weights", "weight_cost"),
    "budgets": ("Budget", "monthly-budget"),
    "privacy_mode": ("Privacy mode", "privacy-mode"),
    "temperature": ("Temperature", "temperature"),
    "max_tokens": ("Max tokens", "max-tokens"),
}


def _error_summary(errors: dict[str, list[str]]) -> list[dict]:
    summary = []
    for field, field_messages in errors.items():
        label, anchor = FORM_FIELD_LABELS.get(field, ("", ""))
        summary += [{"label": label, "anchor": anchor, "message": message} for message in field_messages]
    return summary


def _messages_in(detail) -> list[str]:
    """Every message in a DRF error detail or a Django ValidationError's list, nested or not."""
    if isinstance(detail, dict):
        found = []
        for key, value in detail.items():
            found += [f"{key}: {message}" if key in WEIGHTS else message for message in _messages_in(value)]
        return found
    if isinstance(detail, list | tuple):
        return [message for item in detail for message in _messages_in(item)]
    return [str(detail)]


def _form_errors(fields: dict, data: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, detail in fields.items():
        if field == "budgets" and isinstance(detail, dict) and all(isinstance(key, int) for key in detail):
            # The problems of each budget sent, by its position: say which budget each message is about.
            found = []
            for position, problems in sorted(detail.items()):
                period = data["budgets"][position]["period"].title()
                found += [f"{period} budget: {message}" for message in _messages_in(problems)]
        else:
            found = _messages_in(detail)
        errors.setdefault(FORM_FIELD_OF.get(field, field), []).extend(found)
    return errors


def _agent_save(request: HttpRequest, values: dict, *, agent: Agent | None, budgets: dict):
    """Saves through the /api serializer and the agent services; (the agent, None) or (None, errors by form field)."""
    data = _api_data(values, agent=agent, budgets=budgets)
    serializer = AgentInputSerializer(data=data, partial=agent is not None)
    if not serializer.is_valid():
        return None, _form_errors(serializer.errors, data)
    try:
        if agent is None:
            saved = agent_create(workspace=request.workspace, created_by=request.user, **serializer.validated_data)
        else:
            saved = agent_update(agent=agent, data=serializer.validated_data, updated_by=request.user)
    except DjangoValidationError as exc:
        return None, _form_errors(exc.message_dict, data)
    except ApplicationError as exc:
        field = exc.extra.get("field") if isinstance(exc.extra, dict) else None
        return None, {FORM_FIELD_OF.get(field, field or "form"): [exc.message]}
    return saved, None


# --- pages ---------------------------------------------------------------------------------------------------------


def _with_workspace(request: HttpRequest, url: str, **params) -> str:
    """The URL with the page's `?workspace=` kept (a shared link keeps naming its workspace) and the given params."""
    query = {"workspace": slug} if (slug := request.GET.get("workspace", "").strip()) else {}
    query |= {name: value for name, value in params.items() if value}
    return f"{url}?{urlencode(query, doseq=True)}" if query else url


def _budgets_by_period(agent: Agent | None) -> dict:
    if agent is None:
        return {}
    found = {}
    for budget in sorted(agent.budgets.all(), key=lambda budget: budget.pk):
        found.setdefault(budget.period, budget)
    return found


def _agent_or_404(request: HttpRequest, agent_id: int) -> Agent:
    agent = agent_get_with_config(workspace=request.workspace, agent_id=agent_id)
    if agent is None:
        raise Http404("No such agent in this workspace.")
    return agent


def _budget_spend(request: HttpRequest, budgets: list) -> dict:
    """Budget id → its current window's spend (billing's selector: two queries for any number of budgets)."""
    for budget in budgets:
        budget.workspace = request.workspace  # budget windows are in the workspace's timezone
    return budget_spend_map(budgets=budgets)


def _budget_spend_by_period(request: HttpRequest, budgets: dict) -> dict:
    spend = _budget_spend(request, list(budgets.values()))
    return {
        period: {"spent": usd_text(spend[budget.pk].spent_usd), "used_percent": spend[budget.pk].used_percent}
        for period, budget in budgets.items()
    }


@workspace_page
def agent_list_page(request: HttpRequest) -> HttpResponse:
    agents = list(agent_list(workspace=request.workspace))
    spend = _budget_spend(request, [budget for agent in agents for budget in agent.budgets.all()])
    rows = [
        {
            "agent": agent,
            "url": _with_workspace(request, reverse("agent_pages:edit", args=[agent.pk])),
            "fallbacks": [fallback.model for fallback in agent.fallbacks.all()],
            "kind": ServiceCategory(agent.kind).label if agent.kind in ServiceCategory.values else agent.kind,
            "budgets": [
                {
                    "budget": budget,
                    "limit": usd_text(budget.limit_usd),
                    "spent": usd_text(spend[budget.pk].spent_usd),
                }
                for budget in sorted(agent.budgets.all(), key=lambda budget: (budget.period != "monthly", budget.pk))
            ],
        }
        for agent in agents
    ]
    context = {"rows": rows, "new_url": _with_workspace(request, reverse("agent_pages:create"))}
    return render(request, "agents/list.html", context)


def _form_page(request: HttpRequest, *, agent: Agent | None) -> HttpResponse:
    budgets = _budgets_by_period(agent)
    asked = _recommendation_asked(request.GET, agent)
    recommendation = _recommendation(request.workspace, asked)
    picks = [result.model.model_id for result in recommendation.results] if recommendation else []
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        values = _form_values_from_post(request.POST)
        saved, errors = _agent_save(request, values, agent=agent, budgets=budgets)
        if saved is not None:
            verb = "Created" if agent is None else "Saved"
            messages.success(request, f"{verb} agent “{saved.name}” (slug {saved.slug}).")
            return redirect(_with_workspace(request, reverse("agent_pages:list")))
        status = 400
    else:
        values = _form_values_of(agent, budgets)
        # A recommendation applied without JavaScript: its models arrive in the URL and fill the picker (not saved).
        if applied := request.GET.get("primary", "").strip():
            values["primary_model"] = applied
            values["fallbacks"] = [ref for ref in request.GET.getlist("fallback") if ref.strip()][:MAX_FALLBACKS]
            values["routing_policy"] = RoutingPolicy.EXPLICIT
        if agent is None and "kind" in request.GET:
            values["kind"] = asked.kind
    picker = model_picker_groups(workspace=request.workspace, user=request.user, agent=agent, recommended=picks)
    spend_by_period = _budget_spend_by_period(request, budgets)
    here = reverse("agent_pages:edit", args=[agent.pk]) if agent else reverse("agent_pages:create")
    asked_params = {"kind": asked.kind, "complexity": asked.complexity, "budget": asked.budget}
    context = {
        "agent": agent,
        "values": values,
        "errors": errors,
        "error_summary": _error_summary(errors),
        "picker": picker,
        "fallback_slots": _fallback_slots(values),
        "kinds": ServiceCategory.choices,
        "policies": RoutingPolicy.choices,
        "power_levels": PowerLevel.choices,
        "privacy_modes": PrivacyMode.choices,
        "budget_actions": BudgetAction.choices,
        "weights": [
            {"name": f"weight_{name}", "label": f"{name.title()} weight", "value": values[f"weight_{name}"]}
            for name in WEIGHTS
        ],
        "budget_rows": [
            {
                "period": period,
                "label": period.title(),
                "limit": values[f"{period}_budget"],
                "action": values[f"{period}_action"],
                "spend": spend_by_period.get(period),
            }
            for period in BUDGET_PERIODS
        ],
        "levels": LEVELS,
        "asked": asked,
        "recommendation": recommendation,
        "picks": [
            {
                "result": result,
                "cost": usd_text(result.cost.per_request_usd) if result.cost.per_request_usd is not None else "",
                "apply_url": _with_workspace(request, here, primary=result.model.model_id, **asked_params),
            }
            for result in (recommendation.results if recommendation else [])
        ],
        "apply_all_url": _with_workspace(request, here, primary=picks[0], fallback=picks[1:], **asked_params)
        if picks
        else "",
        "workspace_slug": request.GET.get("workspace", "").strip(),
        "list_url": _with_workspace(request, reverse("agent_pages:list")),
        "delete_url": _with_workspace(request, reverse("agent_pages:delete", args=[agent.pk])) if agent else "",
    }
    return render(request, "agents/form.html", context, status=status)


@workspace_page
def agent_create_page(request: HttpRequest) -> HttpResponse:
    return _form_page(request, agent=None)


@workspace_page
def agent_edit_page(request: HttpRequest, agent_id: int) -> HttpResponse:
    return _form_page(request, agent=_agent_or_404(request, agent_id))


@workspace_page
def agent_delete_page(request: HttpRequest, agent_id: int) -> HttpResponse:
    """GET asks to confirm; POST deletes (refused while API keys act as the agent: the page says so, 409)."""
    agent = _agent_or_404(request, agent_id)
    error, status = "", 200
    if request.method == "POST":
        try:
            agent_delete(agent=agent, deleted_by=request.user)
        except ApplicationError as exc:
            error, status = exc.message, exc.status
        else:
            messages.success(request, f"Deleted agent “{agent.name}” (slug {agent.slug}).")
            return redirect(_with_workspace(request, reverse("agent_pages:list")))
    context = {
        "agent": agent,
        "error": error,
        "edit_url": _with_workspace(request, reverse("agent_pages:edit", args=[agent.pk])),
    }
    return render(request, "agents/delete.html", context, status=status)
