from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from apps.analytics.services import audit_event_record
from apps.catalog.models import Model
from apps.core.errors import ApplicationError
from apps.workspaces.models import InstalledModel, Membership, Plan, Role, Workspace
from apps.workspaces.routing_config import (
    FieldErrors,
    default_models_clean,
    model_refs_in,
    power_level_clean,
    routable_models_resolve,
    routing_weights_clean,
    timezone_clean,
)
from apps.workspaces.selectors import (
    agents_naming_model,
    plan_allows_model,
    plan_get_default,
    plan_model_filter,
    plan_unlocking_model,
    workspace_default_models,
)


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
        unlocking = plan_unlocking_model(model=model, current=plan)
        remedy = f"the {unlocking.name} plan includes it" if unlocking else "no plan includes it yet; ask staff"
        raise ApplicationError(
            f"The {plan.name} plan does not include {model.model_id}; {remedy}.",
            extra={"field": "model", "plan": plan.slug, "upgrade_plan": unlocking.slug if unlocking else None},
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


def model_uninstall_check(*, workspace: Workspace, model) -> None:
    """Refuse (409) to uninstall a model the workspace's agents or default models still name: they would point at a
    model the workspace cannot call."""
    agents = agents_naming_model(workspace=workspace, model=model)
    defaults = [c for c, used in workspace_default_models(workspace=workspace).items() if used == model.model_id]
    if not agents and not defaults:
        return
    uses = [f"agent '{slug}' ({', '.join(where)})" for slug, where in sorted(agents.items())]
    uses += [f"the workspace's default {category} model" for category in defaults]
    raise ApplicationError(
        f"{model.model_id} is still used by {'; '.join(uses)}; change them first.",
        extra={"agents": sorted(agents), "default_for": defaults},
        status=409,
        code="model_in_use",
    )


# Workspace settings -------------------------------------------------------------------------------------------

WORKSPACE_SETTINGS_FIELDS = (
    "preferred_power_level",
    "routing_weights",
    "default_models",
    "timezone",
    "alert_emails",
    "alert_webhook_url",
)
MAX_ALERT_EMAILS = 20
WEBHOOK_URL_MAX_LENGTH = Workspace._meta.get_field("alert_webhook_url").max_length


def _alert_emails_clean(value, *, errors: FieldErrors) -> list[str] | None:
    if not isinstance(value, list | tuple) or len(value) > MAX_ALERT_EMAILS:
        errors.add("alert_emails", f"Give at most {MAX_ALERT_EMAILS} email addresses, as a list.")
        return None
    emails = []
    for email in value:
        email = email.strip() if isinstance(email, str) else email
        try:
            if not isinstance(email, str):
                raise DjangoValidationError("not text")
            validate_email(email)
        except DjangoValidationError:
            errors.add("alert_emails", f"{email!r} is not an email address.")
            continue
        if email not in emails:
            emails.append(email)
    return emails


def _webhook_url_clean(value, *, errors: FieldErrors) -> str | None:
    if value is None or value == "":
        return ""
    try:
        if not isinstance(value, str) or len(value) > WEBHOOK_URL_MAX_LENGTH:
            raise DjangoValidationError("too long")
        URLValidator(schemes=["http", "https"])(value)
    except DjangoValidationError:
        errors.add("alert_webhook_url", f"Give an http(s) URL of at most {WEBHOOK_URL_MAX_LENGTH} characters, or ''.")
        return None
    return value


def _settings_audit_value(field: str, value):
    # A webhook URL often carries its own token: the audit log says only whether one is set.
    if field == "alert_webhook_url":
        return "set" if value else ""
    return value


@transaction.atomic
def workspace_settings_update(*, workspace: Workspace, data: dict, updated_by=None) -> Workspace:
    """Change some of the workspace's settings (the fields of WORKSPACE_SETTINGS_FIELDS that `data` holds).

    `default_models` sets the service categories it names (None clears one) and keeps the others; its models must be
    installed, enabled and allowed by the plan. Every problem is reported at once, by field; nothing is saved then.
    """
    unknown = set(data) - set(WORKSPACE_SETTINGS_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown settings: {', '.join(sorted(unknown))}.")
    locked = Workspace.objects.select_for_update().select_related("plan").get(pk=workspace.pk)
    errors = FieldErrors()
    cleaned = {}
    if "preferred_power_level" in data:
        cleaned["preferred_power_level"] = power_level_clean(
            data["preferred_power_level"], field="preferred_power_level", errors=errors
        )
    if "routing_weights" in data:
        weights = routing_weights_clean(data["routing_weights"], field="routing_weights", errors=errors)
        cleaned["routing_weights"] = weights
    if "default_models" in data:
        resolved = routable_models_resolve(workspace=locked, refs=model_refs_in(data["default_models"]))
        given = default_models_clean(data["default_models"], field="default_models", errors=errors, resolved=resolved)
        merged = {**workspace_default_models(workspace=locked), **given}
        cleaned["default_models"] = {category: model_id for category, model_id in merged.items() if model_id}
    if "timezone" in data:
        cleaned["timezone"] = timezone_clean(data["timezone"], field="timezone", errors=errors)
    if "alert_emails" in data:
        cleaned["alert_emails"] = _alert_emails_clean(data["alert_emails"], errors=errors)
    if "alert_webhook_url" in data:
        cleaned["alert_webhook_url"] = _webhook_url_clean(data["alert_webhook_url"], errors=errors)
    errors.raise_if_any()

    changes = {
        field: {"from": _settings_audit_value(field, getattr(locked, field)), "to": _settings_audit_value(field, value)}
        for field, value in cleaned.items()
        if getattr(locked, field) != value
    }
    for field, value in cleaned.items():
        setattr(locked, field, value)
        setattr(workspace, field, value)
    if changes:
        locked.save(update_fields=[*changes, "updated_at"])
        workspace.updated_at = locked.updated_at
        audit_event_record(
            action="workspace.settings_changed",
            workspace=workspace,
            actor=updated_by,
            target=workspace,
            data={"changes": changes},
        )
    return workspace
