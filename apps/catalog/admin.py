from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.core.admin import AuditedAdminMixin

from .models import Category, Model, ModelAlias, PlanTier, PowerLevel, PriceChange, Provider, TaskScore
from .selectors import plan_choices
from .services import (
    CatalogSyncError,
    model_staff_save,
    models_install_for_plan,
    models_set_enabled,
    models_set_field,
    provider_set_platform_key,
    providers_set_enabled,
)
from .tasks import catalog_sync_task

PER_MILLION = Decimal(1_000_000)


def per_million(price: Decimal | None) -> str:
    """A per-token price as dollars per 1M tokens, for display."""
    if price is None:
        return "—"
    value = (price * PER_MILLION).normalize()
    return f"${value:,.2f}" if value == value.quantize(Decimal("0.01")) else f"${value:f}"


# Providers -----------------------------------------------------------------------------------------------------


def _https_formfield(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class ProviderForm(forms.ModelForm):
    new_platform_key = forms.CharField(
        label="Platform key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the current key. Only its mask is shown.",
    )
    clear_platform_key = forms.BooleanField(label="Remove the platform key", required=False)

    class Meta:
        model = Provider
        fields = [
            "slug",
            "name",
            "adapter_kind",
            "base_url",
            "enabled",
            "priority",
            "privacy_class",
            "env_key_name",
            "extra_headers",
            "adapter_options",
        ]
        formfield_callback = _https_formfield
        help_texts = {
            "base_url": "Point it at the local mock server (e.g. http://127.0.0.1:9100/v1) to test without a vendor."
        }


@admin.register(Provider)
class ProviderAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_action = "provider"  # as the staff API's provider.changed
    form = ProviderForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "slug",
        "adapter_kind",
        "enabled",
        "priority",
        "privacy_class",
        "model_count",
        "platform_key_mask",
    ]
    list_editable = ["enabled", "priority"]
    list_filter = ["enabled", "adapter_kind", "privacy_class"]
    search_fields = ["slug", "name"]
    readonly_fields = ["platform_key_mask", "created_at", "updated_at"]
    fields = [
        "slug",
        "name",
        "adapter_kind",
        "base_url",
        "enabled",
        "priority",
        "privacy_class",
        "env_key_name",
        "platform_key_mask",
        "new_platform_key",
        "clear_platform_key",
        "extra_headers",
        "adapter_options",
        "created_at",
        "updated_at",
    ]
    actions = ["enable_providers", "disable_providers"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Provider]:
        return super().get_queryset(request).defer("platform_key").annotate(model_count=Count("models"))

    @admin.display(description="Models", ordering="model_count")
    def model_count(self, obj: Provider) -> int:
        return obj.model_count

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("clear_platform_key"):
            provider_set_platform_key(provider=obj, key="")
        elif form.cleaned_data.get("new_platform_key"):
            provider_set_platform_key(provider=obj, key=form.cleaned_data["new_platform_key"])

    @admin.action(description="Enable selected providers", permissions=["change"])
    def enable_providers(self, request, queryset):
        count = providers_set_enabled(providers=queryset, enabled=True)
        self.message_user(request, f"Enabled {count} providers.", messages.SUCCESS)

    @admin.action(description="Disable selected providers", permissions=["change"])
    def disable_providers(self, request, queryset):
        count = providers_set_enabled(providers=queryset, enabled=False)
        self.message_user(request, f"Disabled {count} providers.", messages.SUCCESS)


# Models --------------------------------------------------------------------------------------------------------


class DeprecatedFilter(admin.SimpleListFilter):
    title = "deprecated"
    parameter_name = "deprecated"

    def lookups(self, request, model_admin):
        return [("yes", "Deprecated"), ("no", "Current")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deprecated_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deprecated_at__isnull=True)
        return queryset


def _set_field_action(field_name: str, value: str, label: str):
    def action(modeladmin, request, queryset):
        count = models_set_field(models=queryset, field_name=field_name, value=value)
        modeladmin.message_user(request, f"Set {field_name.replace('_', ' ')} to {label} on {count} models.")

    action.__name__ = f"set_{field_name}_{value.replace('-', '_').lower()}"
    return admin.action(description=f"Set {field_name.replace('_', ' ')}: {label}", permissions=["change"])(action)


SET_FIELD_ACTIONS = [
    *(_set_field_action("plan_tier", value, label) for value, label in PlanTier.choices),
    *(_set_field_action("category", value, label) for value, label in Category.choices),
    *(_set_field_action("power_level", value, label) for value, label in PowerLevel.choices),
]


class InstallForPlanForm(forms.Form):
    plan = forms.TypedChoiceField(coerce=int, label="Plan")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = plan_choices()


MODEL_FIELDSETS = [
    (None, {"fields": ["model_id", "provider", "upstream_name", "display_name", "description", "mode", "enabled"]}),
    (
        "Pricing (USD per token)",
        {
            "fields": [
                "input_price",
                "output_price",
                "cache_read_price",
                "cache_write_price",
                "price_unknown",
                "pricing_extra",
            ]
        },
    ),
    (
        "Capabilities",
        {
            "fields": [
                "context_window",
                "max_output_tokens",
                "supports_tools",
                "supports_vision",
                "supports_json",
                "supports_streaming",
                "supports_reasoning",
            ]
        },
    ),
    (
        "Marketplace",
        {"fields": ["category", "power_level", "quality_score", "plan_tier", "default_installed", "popularity"]},
    ),
    ("Sync", {"fields": ["source", "source_created_at", "deprecated_at", "hand_edited_fields"]}),
    ("History", {"fields": ["created_at", "updated_at"]}),
]
MODEL_READONLY_FIELDS = ["source", "source_created_at", "created_at", "updated_at"]


class ModelForm(forms.ModelForm):
    class Meta:
        model = Model
        fields = [
            name for _, options in MODEL_FIELDSETS for name in options["fields"] if name not in MODEL_READONLY_FIELDS
        ]
        help_texts = {
            "hand_edited_fields": "Fields the sync leaves alone; filled in automatically when you edit a field. "
            "Remove a name to let the sync manage that field again."
        }


@admin.register(Model)
class ModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_action = "model"  # as the staff API's model.changed
    form = ModelForm
    change_list_template = "admin/catalog/model/change_list.html"
    list_display = [
        "model_id",
        "provider",
        "category",
        "plan_tier",
        "power_level",
        "input_per_million",
        "output_per_million",
        "context_window",
        "enabled",
        "price_unknown",
        "is_deprecated",
        "default_installed",
    ]
    list_filter = [
        ("provider", admin.RelatedOnlyFieldListFilter),
        "category",
        "plan_tier",
        "power_level",
        DeprecatedFilter,
        "price_unknown",
        "enabled",
        "source",
        "mode",
    ]
    search_fields = ["model_id", "display_name", "upstream_name"]
    list_select_related = ["provider"]
    autocomplete_fields = ["provider"]
    show_full_result_count = False
    list_per_page = 100
    readonly_fields = MODEL_READONLY_FIELDS
    fieldsets = MODEL_FIELDSETS
    actions = [*SET_FIELD_ACTIONS, "enable_models", "disable_models", "install_for_plan"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Model]:
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name == "catalog_model_changelist":
            queryset = queryset.defer("pricing_extra", "description")
        return queryset

    def get_urls(self):
        urls = [path("sync/", self.admin_site.admin_view(self.sync_view), name="catalog_model_sync")]
        return urls + super().get_urls()

    @admin.display(description="In $/1M", ordering="input_price")
    def input_per_million(self, obj: Model) -> str:
        return per_million(obj.input_price)

    @admin.display(description="Out $/1M", ordering="output_price")
    def output_per_million(self, obj: Model) -> str:
        return per_million(obj.output_price)

    @admin.display(description="Deprecated", boolean=True, ordering="deprecated_at")
    def is_deprecated(self, obj: Model) -> bool:
        return obj.is_deprecated

    def save_model(self, request, obj, form, change):
        model_staff_save(model=obj, changed_fields=form.changed_data)
        self.audit_save(request, obj, form, change)

    @admin.action(description="Enable selected models", permissions=["change"])
    def enable_models(self, request, queryset):
        count = models_set_enabled(models=queryset, enabled=True)
        self.message_user(request, f"Enabled {count} models.", messages.SUCCESS)

    @admin.action(description="Disable selected models", permissions=["change"])
    def disable_models(self, request, queryset):
        count = models_set_enabled(models=queryset, enabled=False)
        self.message_user(request, f"Disabled {count} models.", messages.SUCCESS)

    @admin.action(description="Install for a plan…", permissions=["change"])
    def install_for_plan(self, request, queryset):
        form = InstallForPlanForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            count = models_install_for_plan(plan_id=form.cleaned_data["plan"], models=queryset)
            plan_name = dict(form.fields["plan"].choices)[form.cleaned_data["plan"]]
            self.message_user(request, f"Added {count} models to plan {plan_name}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Install models for a plan",
            "opts": self.model._meta,
            "form": form,
            "queryset": queryset[:50],
            "count": queryset.count(),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "install_for_plan",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/catalog/model/install_for_plan.html", context)

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        """Run the pricing sync now: in-process in the embedded mode, queued to a worker otherwise."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        _sync_now(self, request)
        return HttpResponseRedirect(reverse("admin:catalog_model_changelist"))


def _sync_now(model_admin: ModelAdmin, request: HttpRequest) -> None:
    try:
        result = catalog_sync_task.delay()
    except CatalogSyncError as exc:
        model_admin.message_user(request, f"Catalog sync aborted, nothing changed: {exc}", messages.ERROR)
    else:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            summary = result.get()
            if summary["status"] == "locked":
                model_admin.message_user(request, f"Catalog sync not run: {summary['detail']}.", messages.WARNING)
            else:
                line = (
                    f"added {summary['added']}, updated {summary['updated']}, unchanged {summary['unchanged']}, "
                    f"deprecated {summary['deprecated']}, price unknown {summary['price_unknown']}, "
                    f"skipped {summary['skipped']}, errors {len(summary['errors'])}"
                )
                model_admin.message_user(request, f"Catalog sync done: {line}.", messages.SUCCESS)
                for error in summary["errors"][:20]:
                    model_admin.message_user(request, f"Feed entry skipped: {error}", messages.WARNING)
        else:
            model_admin.message_user(request, "Catalog sync queued; its summary will be in the worker log.")


# Price history, task scores, aliases -----------------------------------------------------------------------------


@admin.register(PriceChange)
class PriceChangeAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "source",
        "changed_at",
        "old_input_per_million",
        "new_input_per_million",
        "old_output_per_million",
        "new_output_per_million",
    ]
    list_filter = ["source", "changed_at"]
    search_fields = ["model__model_id"]
    list_select_related = ["model"]
    show_full_result_count = False
    date_hierarchy = "changed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Old in $/1M")
    def old_input_per_million(self, obj: PriceChange) -> str:
        return per_million(obj.old_input_price)

    @admin.display(description="New in $/1M")
    def new_input_per_million(self, obj: PriceChange) -> str:
        return per_million(obj.new_input_price)

    @admin.display(description="Old out $/1M")
    def old_output_per_million(self, obj: PriceChange) -> str:
        return per_million(obj.old_output_price)

    @admin.display(description="New out $/1M")
    def new_output_per_million(self, obj: PriceChange) -> str:
        return per_million(obj.new_output_price)


@admin.register(TaskScore)
class TaskScoreAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["model", "task", "score", "source", "sample_size", "updated_at"]
    list_filter = ["task", "source"]
    search_fields = ["model__model_id"]
    list_select_related = ["model"]
    autocomplete_fields = ["model"]


@admin.register(ModelAlias)
class ModelAliasAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["alias", "model", "updated_at"]
    search_fields = ["alias", "model__model_id"]
    list_select_related = ["model"]
    autocomplete_fields = ["model"]
