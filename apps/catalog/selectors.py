"""Catalog reads."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce, Round

from apps.workspaces.selectors import plan_model_filter

from .models import Model, ModelAlias, Provider
from .task_scores import task_quality_map


def catalog_model_count() -> int:
    return Model.objects.count()


def plan_choices() -> list[tuple[int, str]]:
    """Plans a model can be installed for (admin "install for a plan" form)."""
    from apps.workspaces.models import Plan

    return list(Plan.objects.order_by("sort_order", "slug").values_list("pk", "name"))


def model_route_get(*, name: str) -> Model | None:
    """The model named by its canonical id or an alias, with its provider."""
    if "\x00" in name:  # in no model id, and PostgreSQL refuses it in a query
        return None
    model = Model.objects.select_related("provider").filter(model_id=name).first()
    if model is None:
        alias = ModelAlias.objects.select_related("model__provider").filter(alias=name).first()
        model = alias.model if alias else None
    return model


# The marketplace catalog (/api/catalog and the marketplace pages) ---------------------------------------------

SIMILAR_MODELS = 5
PRICE_HISTORY_LIMIT = 100
BLENDED_FIELD = DecimalField(max_digits=30, decimal_places=17)


def _blended_price() -> Case:
    """(input + 3 x output) / 4 per token, as classify.py ranks models; NULL when a price is unknown. For sorting
    and comparing: rounded to the 17 places the exact value has, so that SQLite's float arithmetic gives equal
    prices equal values (ties then fall to the next sort key, as on PostgreSQL)."""
    blended = Round((F("input_price") + 3 * F("output_price")) / 4, precision=17, output_field=BLENDED_FIELD)
    return Case(When(price_unknown=True, then=Value(None)), default=blended, output_field=BLENDED_FIELD)


def catalog_model_blended_price(model: Model) -> Decimal | None:
    """The exact blended price per token of a model (the annotation is for ordering only)."""
    if model.price_unknown or model.input_price is None or model.output_price is None:
        return None
    return (model.input_price + 3 * model.output_price) / 4


def _available_on_plan(plan) -> Expression:
    rule = plan_model_filter(plan=plan)
    if not rule:  # the plan allows every model
        return Value(True)
    return ExpressionWrapper(rule, output_field=BooleanField())


def catalog_model_list(*, workspace) -> QuerySet[Model]:
    """The catalog as the workspace's members see it: every model staff have not disabled (deprecated ones too,
    flagged), with its provider, `blended_price` (to sort by), `released_at` (the source's release date, else when
    it was added), and whether the workspace has it installed (`is_installed`) and its plan allows it
    (`is_available`). Most popular first."""
    installed = Model.objects.filter(pk=OuterRef("pk"), installations__workspace=workspace)
    return (
        Model.objects.filter(enabled=True)
        .select_related("provider")
        .annotate(
            blended_price=_blended_price(),
            released_at=Coalesce("source_created_at", "created_at"),
            is_installed=Exists(installed),
            is_available=_available_on_plan(workspace.plan),
        )
        .order_by("-popularity", "model_id")
    )


def catalog_model_get(*, workspace, model_id: str) -> Model | None:
    """One catalog model (as in `catalog_model_list`) by its canonical id or an alias, with its health row."""
    if "\x00" in model_id:  # never an id, and PostgreSQL refuses it in a query
        return None
    models = catalog_model_list(workspace=workspace).select_related("health")
    model = models.filter(model_id=model_id).first()
    if model is None:
        model = models.filter(aliases__alias=model_id).first()
    return model


def catalog_model_detail_get(*, workspace, model_id: str) -> Model | None:
    """`catalog_model_get` plus, as attributes (like a Prefetch `to_attr`): `alias_names`, `price_history` (newest
    first), `task_quality` ({task: score}, as the router reads it), `health_summary` (the ModelHealth row or None)
    and `similar` (see `catalog_model_similar_list`). Five queries (six when found by an alias)."""
    model = catalog_model_get(workspace=workspace, model_id=model_id)
    if model is None:
        return None
    model.alias_names = list(model.aliases.order_by("alias").values_list("alias", flat=True))
    model.price_history = list(model.price_changes.order_by("-changed_at", "-pk")[:PRICE_HISTORY_LIMIT])
    model.task_quality = task_quality_map(model_ids=[model.model_id]).get(model.model_id, {})
    model.health_summary = getattr(model, "health", None)  # select_related: None when no row, without a query
    model.similar = catalog_model_similar_list(workspace=workspace, model=model)
    return model


def catalog_model_similar_list(*, workspace, model: Model, limit: int = SIMILAR_MODELS) -> list[Model]:
    """Alternatives to `model`: current (not deprecated) models of the same mode and category, closest in blended
    price first (most popular first when its price is unknown)."""
    candidates = (
        catalog_model_list(workspace=workspace)
        .filter(mode=model.mode, category=model.category, deprecated_at__isnull=True)
        .exclude(pk=model.pk)
    )
    blended = catalog_model_blended_price(model)
    if blended is None:
        return list(candidates.order_by("-popularity", "model_id")[:limit])
    distance = Abs(F("blended_price") - Value(blended, output_field=BLENDED_FIELD))
    return list(
        candidates.filter(blended_price__isnull=False)
        .annotate(price_distance=distance)
        .order_by("price_distance", "-popularity", "model_id")[:limit]
    )


# Providers -----------------------------------------------------------------------------------------------------


class ProviderHealthStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"  # a circuit open or half open, or the error rate at the gateway's threshold
    DOWN = "down"  # every reporting model has its circuit open
    UNKNOWN = "unknown"  # no traffic in the health window and every circuit closed


@dataclass(frozen=True)
class ProviderHealth:
    status: ProviderHealthStatus
    requests: int
    error_rate: Decimal | None
    models_reporting: int
    open_circuits: int
    updated_at: datetime | None


def provider_list(*, workspace) -> QuerySet[Provider]:
    """Every provider (enabled first, then by name) with its catalog model counts (`model_count` excludes models
    staff disabled; `deprecated_model_count`; `installed_model_count` in the workspace) and the sums its health
    summary is made of (see `provider_health`), in one query."""
    from apps.analytics.models import CircuitState

    visible = Q(models__enabled=True)
    unsettled = Q(models__health__circuit_state__in=[CircuitState.OPEN, CircuitState.HALF_OPEN])
    installed = (
        Model.objects.filter(provider=OuterRef("pk"), enabled=True, installations__workspace=workspace)
        .order_by()
        .values("provider")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Provider.objects.annotate(
        model_count=Count("models", filter=visible),
        deprecated_model_count=Count("models", filter=visible & Q(models__deprecated_at__isnull=False)),
        installed_model_count=Coalesce(Subquery(installed), 0),
        health_requests=Coalesce(Sum("models__health__requests"), 0),
        health_failures=Sum(
            F("models__health__requests") * F("models__health__error_rate"),
            output_field=DecimalField(max_digits=20, decimal_places=4),
        ),
        # An open circuit gets no traffic, so a model counts as reporting with requests or with a circuit not closed.
        health_models_reporting=Count("models", filter=Q(models__health__requests__gt=0) | unsettled),
        health_open_circuits=Count("models", filter=Q(models__health__circuit_state=CircuitState.OPEN)),
        health_unsettled_circuits=Count("models", filter=unsettled),
        health_updated_at=Max("models__health__updated_at"),
    ).order_by("-enabled", "name", "slug")


def provider_health(provider: Provider) -> ProviderHealth:
    """The health summary of a provider annotated by `provider_list`: over its models' last rolled-up windows."""
    requests = provider.health_requests
    error_rate = (provider.health_failures / requests).quantize(Decimal("0.0001")) if requests else None
    # Like the gateway's circuit breaker, an error rate counts only over enough requests.
    failing = (
        error_rate is not None
        and requests >= settings.HEALTH_MIN_REQUESTS
        and error_rate >= Decimal(str(settings.HEALTH_ERROR_RATE_THRESHOLD))
    )
    if not provider.health_models_reporting:
        status = ProviderHealthStatus.UNKNOWN
    elif provider.health_open_circuits == provider.health_models_reporting:
        status = ProviderHealthStatus.DOWN
    elif provider.health_unsettled_circuits or failing:
        status = ProviderHealthStatus.DEGRADED
    else:
        status = ProviderHealthStatus.OPERATIONAL
    return ProviderHealth(
        status=status,
        requests=requests,
        error_rate=error_rate,
        models_reporting=provider.health_models_reporting,
        open_circuits=provider.health_open_circuits,
        updated_at=provider.health_updated_at,
    )
