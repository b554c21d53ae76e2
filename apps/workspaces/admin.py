from django import forms
from django.contrib import admin
from django.db.models import Count
from django.forms.models import BaseInlineFormSet, BaseModelFormSet

from apps.catalog.models import PlanTier
from apps.core.admin import AuditedAdminMixin, copy_saved_instance, run_validator
from apps.workspaces.models import Agent, AgentFallback, InstalledModel, Membership, Plan, Workspace
from apps.workspaces.selectors import plan_get_default
from apps.workspaces.services import (
    membership_add,
    membership_change_role,
    membership_remove,
    model_install,
    model_install_check,
    model_uninstall,
    workspace_change_plan,
    workspace_create,
)


class PlanForm(forms.ModelForm):
    allowed_tiers = forms.MultipleChoiceField(
        choices=PlanTier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Model plan tiers unlocked when model access is “Models of the allowed tiers”.",
    )

    class Meta:
        model = Plan
        fields = (
            "slug",
            "name",
            "description",
            "sort_order",
            "monthly_price",
            "monthly_token_quota",
            "model_access",
            "allowed_tiers",
            "allowed_models",
            "byok_allowed",
            "overage_allowed",
            "overage_price_per_million",
            "rpm_limit",
            "tpm_limit",
            "is_default",
        )


@admin.register(Plan)
class PlanAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_action = "plan"
    form = PlanForm
    list_display = (
        "name",
        "slug",
        "quota",
        "model_access",
        "byok_allowed",
        "overage_price_per_million",
        "rpm_limit",
        "tpm_limit",
        "workspace_count",
        "is_default",
    )
    list_filter = ("model_access", "byok_allowed", "overage_allowed", "is_default")
    search_fields = ("name", "slug")
    autocomplete_fields = ("allowed_models",)
    prepopulated_fields = {"slug": ("name",)}
    ordering = ("sort_order", "slug")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(workspace_count=Count("workspaces"))

    @admin.display(description="monthly token quota", ordering="monthly_token_quota")
    def quota(self, obj: Plan) -> str:
        return "unlimited" if obj.monthly_token_quota is None else f"{obj.monthly_token_quota:,}"

    @admin.display(description="workspaces", ordering="workspace_count")
    def workspace_count(self, obj: Plan) -> int:
        return obj.workspace_count


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0


def _plan_of(workspace: Workspace) -> Plan | None:
    return workspace.plan if workspace.plan_id else plan_get_default()


class InstalledModelFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        plan = _plan_of(self.instance)
        if plan is None:
            return
        for form in self.forms:
            model = getattr(form, "cleaned_data", {}).get("model")
            if model is None or form.cleaned_data.get("DELETE") or "model" not in form.changed_data:
                continue
            run_validator(form, model_install_check, plan=plan, model=model)


class InstalledModelInline(admin.TabularInline):
    model = InstalledModel
    formset = InstalledModelFormSet
    fields = ("model", "installed_by", "created_at")
    readonly_fields = ("installed_by", "created_at")
    autocomplete_fields = ("model",)
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("model", "installed_by")


class PlanColumnFormSet(BaseModelFormSet):
    """The changelist's editable plan column: the plan choices are read once, not once per row."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = list(self.form.base_fields["plan"].choices)
        for form in self.forms:
            form.fields["plan"].choices = choices


class WorkspaceForm(forms.ModelForm):
    alert_webhook_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Workspace
        fields = (
            "name",
            "slug",
            "plan",
            "timezone",
            "billing_mode",
            "is_active",
            "preferred_power_level",
            "routing_weights",
            "default_models",
            "alert_emails",
            "alert_webhook_url",
        )

    def clean(self):
        cleaned = super().clean()
        if "plan" in self.fields and not cleaned.get("plan") and plan_get_default() is None:
            self.add_error("plan", "No plan exists yet; create one first.")
        return cleaned


@admin.register(Workspace)
class WorkspaceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = WorkspaceForm
    list_display = ("name", "slug", "plan", "timezone", "member_count", "is_active", "created_at")
    list_editable = ("plan",)
    list_filter = ("plan", "is_active", "billing_mode")
    list_select_related = ("plan",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline, InstalledModelInline]
    add_fields = ("name", "slug", "plan", "timezone")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships", distinct=True))

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else super().get_fields(request, obj)

    def get_changelist_form(self, request, **kwargs):
        # Only the editable column: the default builds a form field for every column of the model.
        return super().get_changelist_form(request, fields=self.list_editable, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        return super().get_changelist_formset(request, formset=PlanColumnFormSet, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.base_fields["plan"].required = False
            form.base_fields["plan"].help_text = "Empty: the default plan."
        return form

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Workspace) -> int:
        return obj.member_count

    def audit_workspace(self, obj: Workspace) -> Workspace:
        return obj

    def save_model(self, request, obj, form, change):
        if not change:
            created = workspace_create(
                name=obj.name,
                slug=obj.slug,
                plan=obj.plan if obj.plan_id else None,
                timezone=obj.timezone,
                created_by=request.user,
            )
            copy_saved_instance(target=obj, saved=created)
            return
        if "plan" in form.changed_data:
            workspace_change_plan(workspace=obj, plan=obj.plan, changed_by=request.user)
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is Membership:
            self._save_memberships(request, formset)
        elif formset.model is InstalledModel:
            self._save_installed_models(request, formset)
        else:
            super().save_formset(request, form, formset, change)

    def _save_memberships(self, request, formset) -> None:
        workspace = formset.instance
        formset.save(commit=False)
        originals = Membership.objects.in_bulk(
            [m.pk for m in formset.deleted_objects] + [m.pk for m, _ in formset.changed_objects]
        )
        for membership in formset.deleted_objects:
            membership_remove(membership=originals[membership.pk], removed_by=request.user)
        for membership, changed in formset.changed_objects:
            if "user" in changed:
                membership_remove(membership=originals[membership.pk], removed_by=request.user)
                membership_add(workspace=workspace, user=membership.user, role=membership.role, added_by=request.user)
            else:
                membership_change_role(
                    membership=originals[membership.pk], role=membership.role, changed_by=request.user
                )
        for membership in formset.new_objects:
            membership_add(workspace=workspace, user=membership.user, role=membership.role, added_by=request.user)

    def _save_installed_models(self, request, formset) -> None:
        workspace = formset.instance
        formset.save(commit=False)
        originals = InstalledModel.objects.select_related("model").in_bulk(
            [i.pk for i in formset.deleted_objects] + [i.pk for i, _ in formset.changed_objects]
        )
        for installed in formset.deleted_objects:
            model_uninstall(workspace=workspace, model=originals[installed.pk].model, uninstalled_by=request.user)
        for installed, _changed in formset.changed_objects:
            model_uninstall(workspace=workspace, model=originals[installed.pk].model, uninstalled_by=request.user)
            model_install(workspace=workspace, model=installed.model, installed_by=request.user)
        for installed in formset.new_objects:
            model_install(workspace=workspace, model=installed.model, installed_by=request.user)


class AgentFallbackInline(admin.TabularInline):
    model = AgentFallback
    fields = ("position", "model")
    autocomplete_fields = ("model",)
    ordering = ("position",)
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("model")


@admin.register(Agent)
class AgentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "workspace", "kind", "primary_model", "routing_policy", "is_active", "created_at")
    list_filter = ("routing_policy", "privacy_mode", "is_active")
    list_select_related = ("workspace", "primary_model")
    search_fields = ("name", "slug", "workspace__name", "workspace__slug")
    autocomplete_fields = ("workspace", "primary_model")
    readonly_fields = ("created_by", "created_at", "updated_at")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [AgentFallbackInline]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class InstalledModelForm(forms.ModelForm):
    class Meta:
        model = InstalledModel
        fields = ("workspace", "model")

    def clean(self):
        cleaned = super().clean()
        workspace, model = cleaned.get("workspace"), cleaned.get("model")
        if workspace is not None and model is not None:
            run_validator(self, model_install_check, plan=workspace.plan, model=model)
        return cleaned


@admin.register(InstalledModel)
class InstalledModelAdmin(admin.ModelAdmin):
    """Installs and uninstalls go through the workspace services (plan gating, audit); an install is never edited."""

    form = InstalledModelForm
    list_display = ("model", "workspace", "installed_by", "created_at")
    list_select_related = ("model", "workspace", "installed_by")
    list_filter = ("model__provider",)
    search_fields = ("model__model_id", "workspace__name", "workspace__slug")
    autocomplete_fields = ("workspace", "model")
    readonly_fields = ("installed_by", "created_at")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        installed = model_install(workspace=obj.workspace, model=obj.model, installed_by=request.user)
        copy_saved_instance(target=obj, saved=installed)

    def delete_model(self, request, obj):
        model_uninstall(workspace=obj.workspace, model=obj.model, uninstalled_by=request.user)

    def delete_queryset(self, request, queryset):
        for installed in queryset.select_related("workspace__plan", "model"):
            self.delete_model(request, installed)
