"""What a workspace's settings and an agent's model configuration may hold, checked the same way wherever they are
edited (the API, the marketplace pages): model references the workspace can route to, power levels, routing weights,
task rules and a default model per service category.

Problems are collected per field and raised together as one Django ValidationError, so a caller sees every field's
problem at once (/api renders it as 400 with `extra.fields`).
"""

import functools
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from apps.catalog.models import Model, ModelAlias, ModelMode, PowerLevel, TaskType
from apps.routing.router import DEFAULT_WEIGHTS, InvalidPolicy, normalise_weights
from apps.workspaces.models import InstalledModel, ServiceCategory
from apps.workspaces.selectors import plan_model_filter


class FieldErrors:
    """Problems found so far, by field."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationError(self.fields)


@dataclass(frozen=True, slots=True)
class ResolvedModels:
    """Model references (canonical ids or aliases) checked against a workspace."""

    found: dict[str, Model]  # reference -> the model, when the workspace can route to it
    problems: dict[str, str]  # reference -> why it cannot

    def check(self, ref: str, *, field: str, errors: FieldErrors, prefix: str = "") -> Model | None:
        """The model a reference names, or None with its problem added to `field`."""
        if ref in self.problems:
            errors.add(field, f"{prefix}{self.problems[ref]}")
        return self.found.get(ref)


def routable_models_resolve(*, workspace, refs: Iterable[str]) -> ResolvedModels:
    """What each reference names, when the workspace can route to it: a catalog model, enabled, at an enabled
    provider, allowed by the workspace's plan and installed. Four queries whatever the number of references."""
    refs = {ref for ref in refs if ref}
    if not refs:
        return ResolvedModels({}, {})
    named = {m.model_id: m for m in Model.objects.filter(model_id__in=refs).select_related("provider")}
    if aliased := refs - named.keys():
        for alias in ModelAlias.objects.filter(alias__in=aliased).select_related("model__provider"):
            named[alias.alias] = alias.model
    pks = {model.pk for model in named.values()}
    allowed = set(
        Model.objects.filter(pk__in=pks).filter(plan_model_filter(plan=workspace.plan)).values_list("pk", flat=True)
    )
    installed = set(
        InstalledModel.objects.filter(workspace=workspace, model__in=pks).values_list("model_id", flat=True)
    )
    found, problems = {}, {}
    for ref in refs:
        model = named.get(ref)
        if model is None:
            problems[ref] = f"'{ref}' is not a model of the catalog."
        elif not model.enabled or not model.provider.enabled:
            problems[ref] = f"'{model.model_id}' is disabled."
        elif model.pk not in allowed:
            problems[ref] = f"The {workspace.plan.name} plan does not include '{model.model_id}'."
        elif model.pk not in installed:
            problems[ref] = f"'{model.model_id}' is not installed in this workspace; install it first."
        else:
            found[ref] = model
    return ResolvedModels(found, problems)


def power_level_clean(value, *, field: str, errors: FieldErrors) -> str | None:
    """ECO, BALANCED or PRECISION, in any case."""
    if isinstance(value, str) and value.upper() in PowerLevel.values:
        return value.upper()
    errors.add(field, f"Unknown power level {value!r}; use {', '.join(PowerLevel.values)}.")
    return None


def routing_weights_clean(value, *, field: str, errors: FieldErrors) -> dict[str, float] | None:
    """The weights as given, every one named (a missing weight counts as 0, as the router reads it)."""
    if not isinstance(value, Mapping) or not value:
        errors.add(field, "Give the routing weights as an object with cost, latency and quality.")
        return None
    try:
        normalise_weights(value)
    except InvalidPolicy as exc:
        errors.add(field, str(exc))
        return None
    return {name: float(value.get(name, 0)) for name in DEFAULT_WEIGHTS}


def routing_weights_stored(value) -> dict[str, float]:
    """Stored weights as they are shown: each of cost, latency and quality, a number (0 where missing or not one)."""
    stored = value if isinstance(value, Mapping) else {}
    return {
        name: float(weight) if isinstance(weight, int | float) and not isinstance(weight, bool) else 0.0
        for name in DEFAULT_WEIGHTS
        for weight in [stored.get(name)]
    }


def task_rules_clean(value, *, field: str, errors: FieldErrors, resolved: ResolvedModels) -> dict[str, str] | None:
    """Task → canonical model id; `resolved` holds the rules' model references (see `model_refs_in`)."""
    if not isinstance(value, Mapping):
        errors.add(field, "Give the task rules as an object: task → model id.")
        return None
    rules = {}
    for task, ref in value.items():
        if task not in TaskType.values:
            errors.add(field, f"Unknown task {task!r}; the tasks are {', '.join(TaskType.values)}.")
        elif not isinstance(ref, str) or not ref:
            errors.add(field, f"{task}: give a model id.")
        elif model := resolved.check(ref, field=field, errors=errors, prefix=f"{task}: "):
            rules[task] = model.model_id
    return rules


def default_models_clean(value, *, field: str, errors: FieldErrors, resolved: ResolvedModels) -> dict[str, str | None]:
    """Service category → canonical model id, or None to clear it. Embeddings take an embedding model; the other
    categories a model that generates text."""
    if not isinstance(value, Mapping):
        errors.add(field, "Give the default models as an object: service category → model id.")
        return {}
    defaults = {}
    for category, ref in value.items():
        if category not in ServiceCategory.values:
            errors.add(field, f"Unknown service category {category!r}; use {', '.join(ServiceCategory.values)}.")
        elif ref is None or ref == "":
            defaults[category] = None
        elif not isinstance(ref, str):
            errors.add(field, f"{category}: give a model id, or null.")
        elif model := resolved.check(ref, field=field, errors=errors, prefix=f"{category}: "):
            wants_embedding = category == ServiceCategory.EMBEDDINGS
            if wants_embedding != (model.mode == ModelMode.EMBEDDING):
                kind = "an embedding model" if wants_embedding else "a model that generates text, not embeddings"
                errors.add(field, f"{category}: '{model.model_id}' is a {model.mode} model; {category} needs {kind}.")
            else:
                defaults[category] = model.model_id
    return defaults


def model_refs_in(value) -> list[str]:
    """The model references among the values of a task-rule or default-model object (anything else is reported
    by its own check)."""
    if not isinstance(value, Mapping):
        return []
    return [ref for ref in value.values() if isinstance(ref, str) and ref]


@functools.cache
def _timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_clean(value, *, field: str, errors: FieldErrors) -> str | None:
    if not isinstance(value, str) or value not in _timezone_names():
        errors.add(field, f"Unknown time zone {value!r}; use an IANA name such as 'Europe/Paris' or 'UTC'.")
        return None
    return value
