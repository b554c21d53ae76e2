from django.db.models import Q, QuerySet

from apps.workspaces.models import Agent, InstalledModel, Membership, ModelAccess, Plan


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


def workspace_for_member(*, user, slug: str | None = None):
    """The workspace a signed-in member acts in: the one named by `slug` if they belong to it, else the one they
    joined first. None when they belong to none (or not to that one)."""
    memberships = Membership.objects.filter(user=user).select_related("workspace", "workspace__plan")
    if slug:
        memberships = memberships.filter(workspace__slug=slug)
    membership = memberships.order_by("created_at", "pk").first()
    return membership.workspace if membership else None


def agent_get(*, workspace, agent_id: int) -> Agent | None:
    return Agent.objects.filter(workspace=workspace, pk=agent_id).first()


def installed_model_available_list(*, workspace) -> QuerySet:
    """Catalog models installed in the workspace that it can call now: enabled, at an enabled provider, and allowed
    by its plan. One query, with the provider."""
    from apps.catalog.models import Model

    return (
        Model.objects.filter(installations__workspace=workspace, enabled=True, provider__enabled=True)
        .filter(plan_model_filter(plan=workspace.plan))
        .select_related("provider")
        .order_by("model_id")
    )


def agent_fallback_model_ids(*, agent) -> list[str]:
    """The agent's fallback chain, in order, as canonical model ids."""
    return list(agent.fallbacks.order_by("position").values_list("model__model_id", flat=True))


def active_agent_list(*, workspace) -> QuerySet[Agent]:
    """The workspace's active agents with their primary model and ordered fallbacks, in three queries."""
    from django.db.models import Prefetch

    from .models import AgentFallback

    return (
        Agent.objects.filter(workspace=workspace, is_active=True)
        .select_related("primary_model")
        .prefetch_related(
            Prefetch("fallbacks", queryset=AgentFallback.objects.select_related("model").order_by("position"))
        )
    )
