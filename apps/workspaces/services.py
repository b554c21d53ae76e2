from django.db import IntegrityError, transaction
from django.utils.text import slugify

from apps.analytics.services import audit_event_record
from apps.catalog.models import Model
from apps.core.errors import ApplicationError
from apps.workspaces.models import InstalledModel, Membership, Plan, Role, Workspace
from apps.workspaces.selectors import plan_allows_model, plan_get_default, plan_model_filter


def _unique_workspace_slug(name: str) -> str:
    base = slugify(name)[:56] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def workspace_create(
    *,
    name: str,
    slug: str | None = None,
    plan: Plan | None = None,
    owner=None,
    timezone: str = "UTC",
    created_by=None,
) -> Workspace:
    """A new workspace on the default plan, its owner, and the default models its plan allows."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A workspace needs a name.", extra={"field": "name"})
    plan = plan or plan_get_default()
    if plan is None:
        raise ApplicationError("No plan exists yet; create one first.", extra={"field": "plan"})
    if slug:
        if Workspace.objects.filter(slug=slug).exists():
            raise ApplicationError("That slug is taken.", extra={"field": "slug"}, status=409, code="conflict")
    else:
        slug = _unique_workspace_slug(name)
    workspace = Workspace.objects.create(name=name, slug=slug, plan=plan, timezone=timezone)
    if owner is not None:
        membership_add(workspace=workspace, user=owner, role=Role.OWNER)
    default_models = Model.objects.filter(default_installed=True, enabled=True).filter(plan_model_filter(plan=plan))
    InstalledModel.objects.bulk_create(
        [InstalledModel(workspace=workspace, model=model, installed_by=owner) for model in default_models],
        ignore_conflicts=True,
    )
    audit_event_record(
        action="workspace.created",
        workspace=workspace,
        actor=created_by or owner,
        target=workspace,
        data={"plan": plan.slug},
    )
    return workspace


def membership_add(*, workspace: Workspace, user, role: str = Role.MEMBER, added_by=None) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", extra={"field": "role"})
    try:
        with transaction.atomic():
            membership = Membership.objects.create(workspace=workspace, user=user, role=role)
            audit_event_record(
                action="membership.added",
                workspace=workspace,
                actor=added_by,
                target=membership,
                data={"user_id": user.pk, "role": role},
            )
    except IntegrityError as exc:
        raise ApplicationError("That user is already a member.", status=409, code="conflict") from exc
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, changed_by=None) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", extra={"field": "role"})
    old_role = Membership.objects.values_list("role", flat=True).get(pk=membership.pk)
    membership.role = role
    if old_role != role:
        membership.save(update_fields=["role", "updated_at"])
        audit_event_record(
            action="membership.role_changed",
            workspace=membership.workspace,
            actor=changed_by,
            target=membership,
            data={"user_id": membership.user_id, "from": old_role, "to": role},
        )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, removed_by=None) -> None:
    audit_event_record(
        action="membership.removed",
        workspace=membership.workspace,
        actor=removed_by,
        target=membership,
        data={"user_id": membership.user_id, "role": membership.role},
    )
    membership.delete()


@transaction.atomic
def workspace_change_plan(*, workspace: Workspace, plan: Plan, changed_by=None) -> Workspace:
    """Move a workspace to another plan. The old plan is read from the database under a row lock."""
    locked = Workspace.objects.select_for_update().select_related("plan").get(pk=workspace.pk)
    workspace.plan = plan
    if locked.plan_id == plan.pk:
        return workspace
    old_plan = locked.plan
    locked.plan = plan
    locked.save(update_fields=["plan", "updated_at"])
    workspace.updated_at = locked.updated_at
    audit_event_record(
        action="workspace.plan_changed",
        workspace=workspace,
        actor=changed_by,
        target=workspace,
        data={"from": old_plan.slug, "to": plan.slug},
    )
    return workspace


def model_install_check(*, plan: Plan, model) -> None:
    """Refuse a model the workspace may not install; shared by the service and the forms that install."""
    if not model.enabled:
        raise ApplicationError("This model is disabled.", extra={"field": "model"}, status=403, code="model_disabled")
    if not plan_allows_model(plan=plan, model=model):
        raise ApplicationError(
            f"The {plan.name} plan does not include {model.model_id}; upgrade to install it.",
            extra={"field": "model"},
            status=403,
            code="plan_forbids_model",
        )


@transaction.atomic
def model_install(*, workspace: Workspace, model, installed_by=None) -> InstalledModel:
    """Install a model; installing an installed model returns the existing installation."""
    existing = InstalledModel.objects.filter(workspace=workspace, model=model).first()
    if existing is not None:
        return existing
    model_install_check(plan=workspace.plan, model=model)
    installed, created = InstalledModel.objects.get_or_create(
        workspace=workspace, model=model, defaults={"installed_by": installed_by}
    )
    if created:
        audit_event_record(
            action="model.installed",
            workspace=workspace,
            actor=installed_by,
            target=installed,
            data={"model": model.model_id},
        )
    return installed


@transaction.atomic
def model_uninstall(*, workspace: Workspace, model, uninstalled_by=None) -> None:
    """Uninstall a model; uninstalling a model that is not installed does nothing."""
    deleted, _ = InstalledModel.objects.filter(workspace=workspace, model=model).delete()
    if deleted:
        audit_event_record(
            action="model.uninstalled",
            workspace=workspace,
            actor=uninstalled_by,
            target=model,
            data={"model": model.model_id},
        )
