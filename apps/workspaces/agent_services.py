"""Agents: a workspace's named model configurations (primary model, ordered fallbacks, routing policy, power level,
weights, task rules, privacy mode, sampling defaults and budgets), as the gateway routes for them."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from apps.analytics.services import audit_event_record
from apps.billing.models import BudgetPeriod, BudgetScope
from apps.billing.services import budget_create, budget_delete, budget_update
from apps.catalog.models import PowerLevel
from apps.core.errors import ApplicationError
from apps.workspaces.models import (
    Agent,
    AgentFallback,
    PrivacyMode,
    RoutingPolicy,
    ServiceCategory,
    Workspace,
    default_routing_weights,
)
from apps.workspaces.routing_config import (
    FieldErrors,
    model_refs_in,
    power_level_clean,
    routable_models_resolve,
    routing_weights_clean,
    task_rules_clean,
)

AGENT_DEFAULTS = {
    "description": "",
    "kind": ServiceCategory.CHAT,
    "is_active": True,
    "primary_model": None,
    "fallback_models": [],
    "routing_policy": RoutingPolicy.EXPLICIT,
    "power_level": PowerLevel.BALANCED,
    "routing_weights": default_routing_weights(),
    "task_rules": {},
    "privacy_mode": PrivacyMode.DETECT,
    "temperature": None,
    "max_tokens": None,
}
AGENT_FIELDS = frozenset({"name", "slug", *AGENT_DEFAULTS, "budgets"})
AGENT_BUDGET_FIELDS = frozenset({"limit_usd", "period", "action", "alert_thresholds", "is_active"})
MAX_FALLBACKS = 10
AGENT_NAME_MAX_LENGTH = Agent._meta.get_field("name").max_length
AGENT_SLUG_MAX_LENGTH = Agent._meta.get_field("slug").max_length
AGENT_DESCRIPTION_MAX_LENGTH = 2000
MAX_TOKENS_LIMIT = 2**31 - 1  # the column's range


def _agent_state(agent: Agent) -> dict:
    """The agent's configuration as plain values, for the audit log and for rules that compare fields."""
    return {
        "name": agent.name,
        "slug": agent.slug,
        "description": agent.description,
        "kind": agent.kind,
        "is_active": agent.is_active,
        "primary_model": agent.primary_model.model_id if agent.primary_model_id else None,
        "fallback_models": [fallback.model.model_id for fallback in agent.fallbacks.all()],
        "routing_policy": agent.routing_policy,
        "power_level": agent.power_level,
        "routing_weights": agent.routing_weights,
        "task_rules": agent.task_rules,
        "privacy_mode": agent.privacy_mode,
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens,
    }


def _unique_agent_slug(workspace: Workspace, name) -> str:
    base = slugify(name if isinstance(name, str) else "")[: AGENT_SLUG_MAX_LENGTH - 8] or "agent"
    slug, n = base, 1
    while Agent.objects.filter(workspace=workspace, slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _choice_clean(data: dict, field: str, choices, errors: FieldErrors, cleaned: dict) -> None:
    if field in data:
        if data[field] in choices.values:
            cleaned[field] = data[field]
        else:
            errors.add(field, f"Unknown {field} {data[field]!r}; use {', '.join(choices.values)}.")


def _temperature_clean(value, errors: FieldErrors) -> Decimal | None:
    if value is None:
        return None
    try:
        temperature = Decimal(str(value)) if isinstance(value, int | float | str | Decimal) else None
    except InvalidOperation:
        temperature = None
    if isinstance(value, bool) or temperature is None or not temperature.is_finite() or not 0 <= temperature <= 2:
        errors.add("temperature", "The temperature is a number from 0 to 2, or null.")
        return None
    if temperature != temperature.quantize(Decimal("0.01")):
        errors.add("temperature", "The temperature has at most 2 decimal places.")
        return None
    return temperature


def _agent_plain_fields_clean(*, workspace, data: dict, agent: Agent | None, errors: FieldErrors) -> dict:
    cleaned = {}
    if "name" in data:
        name = data["name"].strip() if isinstance(data["name"], str) else ""
        if not name or len(name) > AGENT_NAME_MAX_LENGTH:
            errors.add("name", f"An agent needs a name of at most {AGENT_NAME_MAX_LENGTH} characters.")
        cleaned["name"] = name
    if "slug" in data:
        slug = data["slug"]
        try:
            if not isinstance(slug, str) or len(slug) > AGENT_SLUG_MAX_LENGTH:
                raise DjangoValidationError("not a slug")
            validate_slug(slug)
        except DjangoValidationError:
            errors.add("slug", f"A slug is 1 to {AGENT_SLUG_MAX_LENGTH} letters, digits, hyphens or underscores.")
        else:
            others = Agent.objects.filter(workspace=workspace, slug=slug)
            if agent is not None:
                others = others.exclude(pk=agent.pk)
            if others.exists():
                errors.add("slug", f"Another agent of this workspace has the slug '{slug}'.")
            cleaned["slug"] = slug
    if "description" in data:
        if isinstance(data["description"], str) and len(data["description"]) <= AGENT_DESCRIPTION_MAX_LENGTH:
            cleaned["description"] = data["description"]
        else:
            errors.add("description", f"A description is text of at most {AGENT_DESCRIPTION_MAX_LENGTH} characters.")
    if "is_active" in data:
        if isinstance(data["is_active"], bool):
            cleaned["is_active"] = data["is_active"]
        else:
            errors.add("is_active", "is_active is true or false.")
    _choice_clean(data, "kind", ServiceCategory, errors, cleaned)
    _choice_clean(data, "routing_policy", RoutingPolicy, errors, cleaned)
    _choice_clean(data, "privacy_mode", PrivacyMode, errors, cleaned)
    if "power_level" in data:
        cleaned["power_level"] = power_level_clean(data["power_level"], field="power_level", errors=errors)
    if "routing_weights" in data:
        weights = routing_weights_clean(data["routing_weights"], field="routing_weights", errors=errors)
        cleaned["routing_weights"] = weights
    if "temperature" in data:
        cleaned["temperature"] = _temperature_clean(data["temperature"], errors)
    if "max_tokens" in data:
        max_tokens = data["max_tokens"]
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_TOKENS_LIMIT
        ):
            errors.add("max_tokens", "max_tokens is a whole number of at least 1, or null.")
        cleaned["max_tokens"] = max_tokens
    return cleaned


def _agent_models_clean(*, workspace, data: dict, errors: FieldErrors) -> dict:
    """The model references among the changes, resolved together: the primary, the fallbacks and the task rules."""
    primary = data.get("primary_model")
    fallbacks = data.get("fallback_models", [])
    if not isinstance(fallbacks, list | tuple) or not all(isinstance(ref, str) and ref for ref in fallbacks):
        errors.add("fallback_models", "Give the fallback models as a list of model ids.")
        fallbacks = []
    elif len(fallbacks) > MAX_FALLBACKS:
        errors.add("fallback_models", f"An agent has at most {MAX_FALLBACKS} fallback models.")
    if primary is not None and (not isinstance(primary, str) or not primary):
        errors.add("primary_model", "Give the primary model's id, or null.")
        primary = None
    refs = [*([primary] if primary else []), *fallbacks, *model_refs_in(data.get("task_rules"))]
    resolved = routable_models_resolve(workspace=workspace, refs=refs)

    cleaned = {}
    if "primary_model" in data:
        cleaned["primary_model"] = primary and resolved.check(primary, field="primary_model", errors=errors)
    if "fallback_models" in data:
        chain = [resolved.check(ref, field="fallback_models", errors=errors) for ref in fallbacks]
        chain = [model for model in chain if model is not None]
        repeated = sorted({m.model_id for m in chain if sum(other.pk == m.pk for other in chain) > 1})
        if repeated:
            errors.add("fallback_models", f"Each fallback appears once; repeated: {', '.join(repeated)}.")
        cleaned["fallback_models"] = chain
    if "task_rules" in data:
        rules = task_rules_clean(data["task_rules"], field="task_rules", errors=errors, resolved=resolved)
        cleaned["task_rules"] = rules
    return cleaned


def _agent_rules_check(*, changed: dict, agent: Agent | None, current: dict, errors: FieldErrors) -> None:
    """The rules between fields, on the configuration as it will be; each only when one of its fields changes, so an
    unrelated edit (renaming, deactivating) is never refused for a problem that came from elsewhere."""
    if errors.fields:
        return  # the fields' own problems first: these rules read the fields' values
    policy = changed.get("routing_policy", current.get("routing_policy"))
    primary = changed.get("primary_model", agent.primary_model if agent else None)
    if "fallback_models" in changed:
        fallback_ids = [model.model_id for model in changed["fallback_models"]]
    else:
        fallback_ids = current.get("fallback_models", [])
    max_tokens = changed.get("max_tokens", current.get("max_tokens"))
    if {"primary_model", "routing_policy"} & changed.keys() and policy == RoutingPolicy.EXPLICIT and primary is None:
        errors.add(
            "primary_model",
            "The explicit routing policy needs a primary model; name one, or use the routing policy 'auto'.",
        )
    if {"primary_model", "fallback_models"} & changed.keys() and primary and primary.model_id in fallback_ids:
        errors.add("fallback_models", f"'{primary.model_id}' is the primary model; a fallback is another model.")
    limit = primary.max_output_tokens if primary else None
    if {"primary_model", "max_tokens"} & changed.keys() and limit and max_tokens and max_tokens > limit:
        errors.add("max_tokens", f"max_tokens is above the {limit:,} output tokens of '{primary.model_id}'.")


def _agent_budgets_clean(value, errors: FieldErrors) -> list[dict] | None:
    """The agent's budgets, one per period: {limit_usd, period?, action?, alert_thresholds?, is_active?} (billing's
    budget services check the values)."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, dict) and "limit_usd" in item and item.keys() <= AGENT_BUDGET_FIELDS for item in value
    ):
        errors.add("budgets", f"Give the budgets as a list of objects with {', '.join(sorted(AGENT_BUDGET_FIELDS))}.")
        return None
    periods = [item.get("period", BudgetPeriod.MONTHLY) for item in value]
    if len(set(periods)) != len(periods):
        errors.add("budgets", "One budget per period: daily and/or monthly.")
        return None
    return [{"period": period, **item} for period, item in zip(periods, value, strict=True)]


def _agent_budgets_replace(*, agent: Agent, budgets: list[dict], actor) -> None:
    """Make the agent's budgets these: the budget of each period is changed (or created), the others removed."""
    existing = {}
    for budget in agent.budgets.order_by("pk"):
        existing.setdefault(budget.period, []).append(budget)
    try:
        for item in budgets:
            current = existing.get(item["period"], [])
            if current:
                budget_update(budget=current.pop(0), data=item, updated_by=actor)
            else:
                budget_create(workspace=agent.workspace, scope=BudgetScope.AGENT, agent=agent, created_by=actor, **item)
    except ApplicationError as exc:
        raise DjangoValidationError({"budgets": [exc.message]}) from exc
    for leftover in existing.values():
        for budget in leftover:
            budget_delete(budget=budget, deleted_by=actor)


def _agent_clean(*, workspace, data: dict, agent: Agent | None, current: dict) -> dict:
    unknown = set(data) - AGENT_FIELDS
    if unknown:
        raise ApplicationError(f"Unknown agent fields: {', '.join(sorted(unknown))}.")
    errors = FieldErrors()
    cleaned = _agent_plain_fields_clean(workspace=workspace, data=data, agent=agent, errors=errors)
    cleaned |= _agent_models_clean(workspace=workspace, data=data, errors=errors)
    if "budgets" in data:
        cleaned["budgets"] = _agent_budgets_clean(data["budgets"], errors)
    _agent_rules_check(changed=cleaned, agent=agent, current=current, errors=errors)
    errors.raise_if_any()
    return cleaned


def _agent_save(*, agent: Agent, cleaned: dict, actor) -> None:
    for field, value in cleaned.items():
        if field not in ("fallback_models", "budgets"):
            setattr(agent, field, value)
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError as exc:
        # Another request took the slug between the check and the save.
        raise ApplicationError(
            f"Another agent of this workspace has the slug '{agent.slug}'.",
            extra={"field": "slug"},
            status=409,
            code="conflict",
        ) from exc
    if "fallback_models" in cleaned:
        agent.fallbacks.all().delete()
        AgentFallback.objects.bulk_create(
            AgentFallback(agent=agent, model=model, position=position)
            for position, model in enumerate(cleaned["fallback_models"], start=1)
        )
    if "budgets" in cleaned:
        _agent_budgets_replace(agent=agent, budgets=cleaned["budgets"], actor=actor)


@transaction.atomic
def agent_create(*, workspace: Workspace, name: str, created_by=None, **config) -> Agent:
    """A new agent. `config` holds any of AGENT_FIELDS (defaults: AGENT_DEFAULTS; the slug comes from the name);
    models are canonical ids or aliases of models installed in the workspace and allowed by its plan. Every problem is
    reported at once, by field (a Django ValidationError); nothing is saved then."""
    data = {**AGENT_DEFAULTS, "name": name, **config}
    if not data.get("slug"):
        data["slug"] = _unique_agent_slug(workspace, name)
    cleaned = _agent_clean(workspace=workspace, data=data, agent=None, current={})
    agent = Agent(workspace=workspace, created_by=created_by)
    _agent_save(agent=agent, cleaned=cleaned, actor=created_by)
    audit_event_record(
        action="agent.created", workspace=workspace, actor=created_by, target=agent, data=_agent_state(agent)
    )
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, data: dict, updated_by=None) -> Agent:
    """Change some of an agent's configuration (any of AGENT_FIELDS). `budgets`, when given, replaces the agent's
    budgets: one per period, each kept (with its spend) when its period stays."""
    locked = Agent.objects.select_for_update(of=("self",))
    agent = locked.select_related("workspace__plan", "primary_model").get(pk=agent.pk)
    before = _agent_state(agent)
    cleaned = _agent_clean(workspace=agent.workspace, data=data, agent=agent, current=before)
    _agent_save(agent=agent, cleaned=cleaned, actor=updated_by)
    after = _agent_state(agent)
    changes = {field: {"from": before[field], "to": after[field]} for field in after if before[field] != after[field]}
    if changes:
        audit_event_record(
            action="agent.updated", workspace=agent.workspace, actor=updated_by, target=agent, data={"changes": changes}
        )
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent, deleted_by=None) -> None:
    """Delete an agent with its budgets and its own provider keys. Refused (409) while API keys bound to it are
    unrevoked: they would stop working without anyone having revoked them."""
    live_keys = agent.api_keys.filter(revoked_at__isnull=True).count()
    if live_keys:
        raise ApplicationError(
            f"{live_keys} API key(s) act as agent '{agent.slug}'; revoke them first, or deactivate the agent.",
            extra={"api_keys": live_keys},
            status=409,
            code="agent_has_api_keys",
        )
    audit_event_record(
        action="agent.deleted", workspace=agent.workspace, actor=deleted_by, target=agent, data=_agent_state(agent)
    )
    agent.delete()
