"""Catalog reads."""

from .models import Model, ModelAlias


def catalog_model_count() -> int:
    return Model.objects.count()


def plan_choices() -> list[tuple[int, str]]:
    """Plans a model can be installed for (admin "install for a plan" form)."""
    from apps.workspaces.models import Plan

    return list(Plan.objects.order_by("sort_order", "slug").values_list("pk", "name"))


def model_route_get(*, name: str) -> Model | None:
    """The model named by its canonical id or an alias, with its provider."""
    model = Model.objects.select_related("provider").filter(model_id=name).first()
    if model is None:
        alias = ModelAlias.objects.select_related("model__provider").filter(alias=name).first()
        model = alias.model if alias else None
    return model
