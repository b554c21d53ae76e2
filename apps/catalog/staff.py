"""Staff management of providers, models and plan gating (/api/staff): the reads and writes the admin offers.

Writes reuse the admin's services (`model_staff_save`, `models_set_field`, `models_set_enabled`,
`provider_set_platform_key`, `models_install_for_plan`) and add an audit event naming the staff member and the API key
that acted. Providers, models and plans are platform-wide, so nothing here is scoped to a workspace.
"""

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.analytics.services import audit_event_record
from apps.core.errors import ApplicationError
from apps.workspaces.models import ModelAccess, Plan

from .models import Model, Provider
from .services import (
    BULK_SETTABLE,
    model_staff_save,
    models_install_for_plan,
    models_set_enabled,
    models_set_field,
    provider_set_platform_key,
)

# Provider fields staff change over the API (the platform key is handled apart: it is write-only).
PROVIDER_EDITABLE = ("name", "base_url", "enabled", "priority", "privacy_class", "env_key_name")
MODEL_EDITABLE = (
    "display_name",
    "description",
    "enabled",
    "context_window",
    "max_output_tokens",
    "input_price",
    "output_price",
    "cache_read_price",
    "cache_write_price",
    "price_unknown",
    "supports_tools",
    "supports_vision",
    "supports_json",
    "supports_streaming",
    "supports_reasoning",
    "category",
    "power_level",
    "quality_score",
    "plan_tier",
    "default_installed",
    "popularity",
    "deprecated_at",
    "hand_edited_fields",
)
# What a bulk edit may set: the admin's bulk actions (enable/disable, set tier, category, power level).
MODEL_BULK_EDITABLE = ("enabled", *BULK_SETTABLE)
PLAN_GATING_FIELDS = ("model_access", "allowed_tiers")


# Reads ----------------------------------------------------------------------------------------------------------


def staff_provider_list() -> QuerySet[Provider]:
    """Every provider with its model counts; the platform key stays in the database (only its mask is read)."""
    return (
        Provider.objects.defer("platform_key")
        .annotate(model_count=Count("models"), enabled_model_count=Count("models", filter=Q(models__enabled=True)))
        .order_by("priority", "slug")
    )


def staff_provider_get(*, slug: str) -> Provider | None:
    return staff_provider_list().filter(slug=slug).first()


def staff_model_list() -> QuerySet[Model]:
    """Every model with its provider's slug, the heavy columns deferred (as in the admin's list)."""
    return Model.objects.select_related("provider").defer(
        "description", "pricing_extra", "provider__platform_key", "provider__extra_headers", "provider__adapter_options"
    )


def staff_model_get(*, model_id: str) -> Model | None:
    return Model.objects.select_related("provider").defer("provider__platform_key").filter(model_id=model_id).first()


def staff_models_find(*, model_ids: Iterable[str]) -> tuple[QuerySet[Model], list[str]]:
    """(the models with these canonical ids, the ids that name no model)."""
    wanted = list(dict.fromkeys(model_ids))
    models = Model.objects.filter(model_id__in=wanted)
    found = set(models.values_list("model_id", flat=True))
    return models, [model_id for model_id in wanted if model_id not in found]


def model_plan_slugs(*, model: Model) -> list[str]:
    """The plans whose rules let a workspace use this model, cheapest first (two queries, whatever the plan count)."""
    plans = list(Plan.objects.order_by("sort_order", "slug"))
    listing = set(Plan.allowed_models.through.objects.filter(model_id=model.pk).values_list("plan_id", flat=True))
    return [plan.slug for plan in plans if plan.pk in listing or plan_allows_rule(plan=plan, model=model)]


def plan_allows_rule(*, plan: Plan, model: Model) -> bool:
    """The access rule of `apps.workspaces.selectors.plan_allows_model` without its query of the plan's listed
    models, so that many plans can be checked at once (the caller reads the listings in one query)."""
    if plan.model_access == ModelAccess.ALL:
        return True
    if plan.model_access == ModelAccess.DEFAULT:
        return model.default_installed
    return plan.model_access == ModelAccess.TIERS and model.plan_tier in (plan.allowed_tiers or [])


def staff_plan_list() -> QuerySet[Plan]:
    """Plans with how many models they list and how many workspaces are on them (subqueries: no join fan-out)."""
    listed = (
        Plan.allowed_models.through.objects.filter(plan_id=OuterRef("pk"))
        .order_by()
        .values("plan_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Plan.objects.annotate(
        allowed_model_count=Coalesce(Subquery(listed, output_field=IntegerField()), 0),
        workspace_count=Count("workspaces"),
    ).order_by("sort_order", "slug")


def staff_plan_get(*, slug: str) -> Plan | None:
    return staff_plan_list().filter(slug=slug).first()


def plan_listed_model_list(*, plan: Plan) -> QuerySet[Model]:
    """The models a plan always allows (its list), whatever its access rule; one query with the providers."""
    return (
        Model.objects.filter(pk__in=plan.allowed_models.values("pk"))
        .select_related("provider")
        .defer("description", "pricing_extra", "provider__platform_key")
        .order_by("model_id")
    )


# Writes ---------------------------------------------------------------------------------------------------------


def _change(old: Any, new: Any) -> dict:
    return {"from": old, "to": new}


@transaction.atomic
def provider_staff_update(
    *, provider: Provider, changes: dict[str, Any], actor=None, api_key=None, platform_key: str | None = None
) -> Provider:
    """Change a provider's editable fields, and set (or clear, with "") its platform key when one is given."""
    unknown = set(changes) - set(PROVIDER_EDITABLE)
    if unknown:
        raise ApplicationError(f"Cannot change {', '.join(sorted(unknown))} here.", extra={"field": min(unknown)})
    recorded = {}
    for name, value in changes.items():
        old = getattr(provider, name)
        if old != value:
            recorded[name] = _change(old, value)
            setattr(provider, name, value)
    if recorded:
        provider.save(update_fields=[*recorded, "updated_at"])
    if platform_key is not None:
        old_mask = provider.platform_key_mask
        provider_set_platform_key(provider=provider, key=platform_key)
        recorded["platform_key_mask"] = _change(old_mask, provider.platform_key_mask)
    if recorded:
        audit_event_record(
            action="provider.changed", actor=actor, actor_api_key=api_key, target=provider, data={"changes": recorded}
        )
    return provider


@transaction.atomic
def model_staff_update(*, model: Model, changes: dict[str, Any], actor=None, api_key=None) -> Model:
    """Change a model as the admin's form does: synced fields staff change are pinned against the next sync.

    A `hand_edited_fields` given replaces the pinned list first (removing a name hands that field back to the sync),
    then every synced field changed here is added to it.
    """
    unknown = set(changes) - set(MODEL_EDITABLE)
    if unknown:
        raise ApplicationError(f"Cannot change {', '.join(sorted(unknown))} here.", extra={"field": min(unknown)})
    old_pinned = list(model.hand_edited_fields or ())
    recorded = {}
    for name, value in changes.items():
        old = getattr(model, name)
        if old != value:
            recorded[name] = _change(old, value)
            setattr(model, name, value)
    if not recorded:
        return model
    model_staff_save(model=model, changed_fields=[name for name in recorded if name != "hand_edited_fields"])
    recorded.pop("hand_edited_fields", None)
    if model.hand_edited_fields != old_pinned:
        recorded["hand_edited_fields"] = _change(old_pinned, model.hand_edited_fields)
    audit_event_record(
        action="model.changed", actor=actor, actor_api_key=api_key, target=model, data={"changes": recorded}
    )
    return model


@transaction.atomic
def models_staff_bulk_update(*, models: QuerySet[Model], changes: dict[str, Any], actor=None, api_key=None) -> int:
    """The admin's bulk actions on a selection: enable/disable, set plan tier, category or power level."""
    unknown = set(changes) - set(MODEL_BULK_EDITABLE)
    if unknown:
        raise ApplicationError(f"Cannot bulk-change {', '.join(sorted(unknown))}.", extra={"field": min(unknown)})
    if not changes:
        raise ApplicationError("Name at least one field to change.", extra={"field": "non_field_errors"})
    model_ids = sorted(models.values_list("model_id", flat=True))
    for name, value in changes.items():
        if name == "enabled":
            models_set_enabled(models=models, enabled=value)
        else:
            models_set_field(models=models, field_name=name, value=value)
    audit_event_record(
        action="models.bulk_changed",
        actor=actor,
        actor_api_key=api_key,
        data={"changes": changes, "models": model_ids, "count": len(model_ids)},
    )
    return len(model_ids)


@transaction.atomic
def plan_gating_update(*, plan: Plan, changes: dict[str, Any], actor=None, api_key=None) -> Plan:
    """Change which models a plan unlocks by rule: its model access and allowed tiers (audited as the admin does)."""
    unknown = set(changes) - set(PLAN_GATING_FIELDS)
    if unknown:
        raise ApplicationError(f"Cannot change {', '.join(sorted(unknown))} here.", extra={"field": min(unknown)})
    recorded = {}
    for name, value in changes.items():
        old = getattr(plan, name)
        if old != value:
            recorded[name] = _change(old, value)
            setattr(plan, name, value)
    if recorded:
        plan.save(update_fields=[*recorded, "updated_at"])
        audit_event_record(
            action="plan.changed", actor=actor, actor_api_key=api_key, target=plan, data={"changes": recorded}
        )
    return plan


@transaction.atomic
def plan_models_add(*, plan: Plan, models: QuerySet[Model], actor=None, api_key=None) -> list[str]:
    """Add models to the plan's always-allowed list; returns the ids newly added (those already listed are skipped)."""
    new = models.exclude(pk__in=plan.allowed_models.values("pk"))
    added = sorted(new.values_list("model_id", flat=True))
    if added:
        models_install_for_plan(plan_id=plan.pk, models=new)
        audit_event_record(
            action="plan.models_added", actor=actor, actor_api_key=api_key, target=plan, data={"models": added}
        )
    return added


@transaction.atomic
def plan_model_remove(*, plan: Plan, model: Model, actor=None, api_key=None) -> None:
    """Take a model off the plan's always-allowed list; it stays allowed where the plan's rule allows it."""
    if not plan.allowed_models.filter(pk=model.pk).exists():
        raise ApplicationError(f"{model.model_id} is not listed on the {plan.name} plan.", status=404, code="not_found")
    plan.allowed_models.remove(model)
    audit_event_record(
        action="plan.model_removed",
        actor=actor,
        actor_api_key=api_key,
        target=plan,
        data={"model": model.model_id},
    )
