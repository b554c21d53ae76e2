from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from apps.workspaces.models import (
    Agent,
    AgentFallback,
    InstalledModel,
    Membership,
    ModelAccess,
    Plan,
    ServiceCategory,
)


def plan_get_default() -> Plan | None:
    """The plan new workspaces get: the one marked default, else the first offered."""
    return Plan.objects.filter(is_default=True).first() or Plan.objects.order_by("sort_order", "slug").first()


def _plan_access_allows(plan: Plan, model) -> bool:
    """The plan's model access rule alone, without its explicitly allowed models."""
    if plan.model_access == ModelAccess.ALL:
        return True
    if plan.model_access == ModelAccess.DEFAULT and model.default_installed:
        return True
    return plan.model_access == ModelAccess.TIERS and model.plan_tier in (plan.allowed_tiers or [])


def plan_allows_model(*, plan: Plan, model) -> bool:
    return _plan_access_allows(plan, model) or plan.allowed_models.filter(pk=model.pk).exists()


def plan_unlocking_model(*, model, current: Plan) -> Plan | None:
    """The plan to move to for a model the current plan does not include: the first plan offered after it that
    includes the model, else the first other plan that does. Two queries."""
    explicit = set(Plan.allowed_models.through.objects.filter(model=model).values_list("plan_id", flat=True))
    unlocking = [
        plan
        for plan in Plan.objects.exclude(pk=current.pk).order_by("sort_order", "slug")
        if plan.pk in explicit or _plan_access_allows(plan, model)
    ]
    later = [plan for plan in unlocking if plan.sort_order > current.sort_order]
    return (later or unlocking or [None])[0]


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


def workspace_default_models(*, workspace) -> dict[str, str]:
    """Service category → the canonical id of its default model, for the categories that have one."""
    stored = workspace.default_models if isinstance(workspace.default_models, dict) else {}
    return {c: stored[c] for c in ServiceCategory.values if isinstance(stored.get(c), str) and stored[c]}


def agent_get(*, workspace, agent_id: int) -> Agent | None:
    return Agent.objects.filter(workspace=workspace, pk=agent_id).first()


def _agents_with_config(*, workspace) -> QuerySet[Agent]:
    """The workspace's agents with what their configuration names: primary model, ordered fallbacks and budgets
    (three queries for any number of agents)."""
    return (
        Agent.objects.filter(workspace=workspace)
        .select_related("primary_model")
        .prefetch_related(
            Prefetch("fallbacks", queryset=AgentFallback.objects.select_related("model").order_by("position")),
            "budgets",
        )
        .order_by("name", "pk")
    )


def agent_list(
    *, workspace, is_active: bool | None = None, kind: str | None = None, search: str | None = None
) -> QuerySet[Agent]:
    agents = _agents_with_config(workspace=workspace)
    if is_active is not None:
        agents = agents.filter(is_active=is_active)
    if kind:
        agents = agents.filter(kind=kind)
    if search:
        agents = agents.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    return agents


def agent_get_with_config(*, workspace, agent_id: int) -> Agent | None:
    return _agents_with_config(workspace=workspace).filter(pk=agent_id).first()


def installed_model_catalog_list(
    *, workspace, search: str | None = None, provider: str | None = None, available: bool | None = None
) -> QuerySet[InstalledModel]:
    """The workspace's installations with their catalog model, its provider and who installed it, each annotated
    `plan_allows` (the workspace's plan includes the model). Two queries per page with the count."""
    from apps.catalog.models import Model

    installed = (
        InstalledModel.objects.filter(workspace=workspace)
        .select_related("model__provider", "installed_by")
        .annotate(
            plan_allows=Exists(
                Model.objects.filter(pk=OuterRef("model_id")).filter(plan_model_filter(plan=workspace.plan))
            )
        )
        .order_by("model__model_id")
    )
    if search:
        installed = installed.filter(Q(model__model_id__icontains=search) | Q(model__display_name__icontains=search))
    if provider:
        installed = installed.filter(model__provider__slug=provider)
    if available is not None:
        usable = Q(plan_allows=True, model__enabled=True, model__provider__enabled=True)
        installed = installed.filter(usable if available else ~usable)
    return installed


def installed_model_catalog_get(*, workspace, model_id: str) -> InstalledModel | None:
    """One installation by its model's canonical id, as `installed_model_catalog_list` gives it."""
    return installed_model_catalog_list(workspace=workspace).filter(model__model_id=model_id).first()


def agents_naming_model(*, workspace, model) -> dict[str, list[str]]:
    """Agent slug → where its configuration names the model (primary, fallback, task rule). Two queries."""
    named: dict[str, list[str]] = {}
    fallbacks = Prefetch("fallbacks", queryset=AgentFallback.objects.only("agent_id", "model_id"))
    agents = Agent.objects.filter(workspace=workspace).only("slug", "primary_model_id", "task_rules")
    for agent in agents.prefetch_related(fallbacks):
        uses = []
        if agent.primary_model_id == model.pk:
            uses.append("primary model")
        if any(fallback.model_id == model.pk for fallback in agent.fallbacks.all()):
            uses.append("fallback")
        rules = agent.task_rules if isinstance(agent.task_rules, dict) else {}
        uses += [f"task rule {task}" for task, model_id in rules.items() if model_id == model.model_id]
        if uses:
            named[agent.slug] = uses
    return named


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
    return (
        Agent.objects.filter(workspace=workspace, is_active=True)
        .select_related("primary_model")
        .prefetch_related(
            Prefetch("fallbacks", queryset=AgentFallback.objects.select_related("model").order_by("position"))
        )
    )
