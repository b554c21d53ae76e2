from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.db.models import QuerySet

from apps.analytics.services import audit_event_record
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.workspaces.models import Membership


class ReadOnlyAdminMixin:
    """Rows the platform writes (usage, health, audit, …): staff can look, never add, change or delete."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _audit_value(value):
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, QuerySet | list | tuple):
        return sorted(str(_audit_value(v)) for v in value)
    return value


def form_changes(form: forms.ModelForm) -> dict:
    """What an admin form changed, field by field, as {"field": {"from": …, "to": …}}."""
    return {
        name: {"from": _audit_value(form.initial.get(name)), "to": _audit_value(form.cleaned_data.get(name))}
        for name in form.changed_data
    }


class AuditedAdminMixin:
    """Every add, change and delete made in this admin is written to the audit log.

    `audit_action` names the event family (`plan` gives `plan.created`, `plan.changed`, `plan.deleted`);
    the default is `admin.<model>`.
    """

    audit_action: str | None = None

    def audit_prefix(self) -> str:
        return self.audit_action or f"admin.{self.opts.model_name}"

    def audit_workspace(self, obj):
        return getattr(obj, "workspace", None)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self.audit_save(request, obj, form, change)

    def audit_save(self, request, obj, form, change) -> None:
        """Record an add or change; an admin whose save_model saves through a service calls this after it."""
        audit_event_record(
            action=f"{self.audit_prefix()}.{'changed' if change else 'created'}",
            workspace=self.audit_workspace(obj),
            target=obj,
            data={"changes": form_changes(form)} if change else {},
            request=request,
        )

    def delete_model(self, request, obj):
        workspace = self.audit_workspace(obj)
        audit_event_record(
            action=f"{self.audit_prefix()}.deleted",
            # A deleted workspace takes its events with it; the record of its deletion stays unattached.
            workspace=None if workspace is obj else workspace,
            target=obj,
            request=request,
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


def copy_saved_instance(*, target: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved object the row a service just created, so inlines, logging and redirects use it."""
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


def run_validator(form: forms.Form, validator, **kwargs) -> None:
    """Run a service's validator in a form's clean(), turning its ApplicationError into a form error."""
    try:
        validator(**kwargs)
    except ApplicationError as exc:
        field = exc.extra.get("field")
        form.add_error(field if field in form.fields else None, exc.message)


class UserMembershipInline(admin.TabularInline):
    """The workspaces a user belongs to. Memberships are edited on the workspace, through its services."""

    model = Membership
    fk_name = "user"
    fields = ("workspace", "role", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("workspace")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    inlines = [UserMembershipInline]
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
