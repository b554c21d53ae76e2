from django.db.models import Q, QuerySet

from apps.workspaces.models import InstalledModel, Membership, ModelAccess, Plan


def plan_get_default() -> Plan | None:
    """The plan new workspaces get: the one marked default, else the first offered."""
    return Plan.objects.filter(is_default=True).first() or Plan.objects.order_by("sort_order", "slug").first()


def plan_allows_model(*, plan: Plan, model) -> bool:
    if plan.model_access == ModelAccess.ALL:
        return True
    if plan.model_access == ModelAccess.DEFAULT and model.default_installed:
        return True
    if plan.model_access == ModelAccess.TIERS and model.plan_tier in (plan.allowed_tiers or []):
        return True
    return plan.allowed_models.filter(pk=model.pk).exists()


def plan_model_filter(*, plan: Plan) -> Q:
    """The same rule as `plan_allows_model`, as a filter on catalog models."""
    if plan.model_access == ModelAccess.ALL:
        return Q()
    allowed = Q(pk__in=plan.allowed_models.values("pk"))
    if plan.model_access == ModelAccess.DEFAULT:
        return allowed | Q(default_installed=True)
    if plan.model_access == ModelAccess.TIERS:
        return allowed | Q(plan_tier__in=list(plan.allowed_tiers or []))
    return allowed


def membership_list(*, workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__username")


def installed_model_list(*, workspace) -> QuerySet[InstalledModel]:
    return (
        InstalledModel.objects.filter(workspace=workspace)
        .select_related("model", "model__provider")
        .order_by("model__model_id")
    )


def installed_model_ids(*, workspace) -> list[str]:
    """Canonical ids of the models installed in the workspace."""
    return list(InstalledModel.objects.filter(workspace=workspace).values_list("model__model_id", flat=True))


def plan_allowed_model_ids(*, plan: Plan) -> tuple[bool, set[str]]:
    """(every model allowed, else the canonical ids the plan allows), for callers that check many models fast."""
    if plan.model_access == ModelAccess.ALL:
        return True, set()
    from apps.catalog.models import Model

    return False, set(Model.objects.filter(plan_model_filter(plan=plan)).values_list("model_id", flat=True))
