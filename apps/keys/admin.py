from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone

from apps.core.admin import AuditedAdminMixin, copy_saved_instance, run_validator
from apps.keys.models import ApiKey, ProviderKey
from apps.keys.services import (
    api_key_create,
    api_key_revoke,
    api_key_validate,
    provider_key_create,
    provider_key_delete,
    provider_key_validate_owner,
)


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("name", "workspace", "agent", "expires_at", "rpm_limit", "tpm_limit")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("workspace") is not None and cleaned.get("name"):
            run_validator(
                self,
                api_key_validate,
                workspace=cleaned["workspace"],
                name=cleaned["name"],
                agent=cleaned.get("agent"),
                expires_at=cleaned.get("expires_at"),
            )
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Keys are made by `api_key_create`, which shows the secret once; the hash is never displayed."""

    audit_action = "api_key"
    list_display = ("name", "mask", "workspace", "agent", "state", "expires_at", "last_used_at", "created_at")
    list_filter = (ApiKeyStateFilter,)
    list_select_related = ("workspace", "agent")
    search_fields = ("name", "workspace__name", "workspace__slug")
    autocomplete_fields = ("workspace", "agent")
    exclude = ("key_hash",)
    actions = ["revoke"]
    change_fields = (
        "name",
        "workspace",
        "agent",
        "mask",
        "expires_at",
        "rpm_limit",
        "tpm_limit",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    change_readonly_fields = ("workspace", "agent", "mask", "created_by", "created_at", "last_used_at", "revoked_at")

    def get_fields(self, request, obj=None):
        return ApiKeyAddForm.Meta.fields if obj is None else self.change_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.change_readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Keys are revoked, not deleted: usage and audit rows keep pointing at them.
        return False

    @admin.display(description="state")
    def state(self, obj: ApiKey) -> str:
        if obj.is_revoked:
            return "revoked"
        if obj.expires_at is not None and obj.expires_at <= timezone.now():
            return "expired"
        return "active"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, raw_secret = api_key_create(
            workspace=obj.workspace,
            name=obj.name,
            agent=obj.agent,
            created_by=request.user,
            expires_at=obj.expires_at,
            rpm_limit=obj.rpm_limit,
            tpm_limit=obj.tpm_limit,
        )
        copy_saved_instance(target=obj, saved=api_key)
        self.message_user(
            request,
            f"The new API key is {raw_secret} — copy it now: it is stored only as a hash and will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for api_key in queryset.select_related("workspace").filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, revoked_by=request.user)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)


class ProviderKeyAddForm(forms.ModelForm):
    new_secret = forms.CharField(
        label="Secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; afterwards only its mask is shown.",
    )

    class Meta:
        model = ProviderKey
        fields = ("workspace", "provider", "member", "agent", "label")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("workspace") is not None:
            run_validator(
                self,
                provider_key_validate_owner,
                workspace=cleaned["workspace"],
                member=cleaned.get("member"),
                agent=cleaned.get("agent"),
            )
        return cleaned


@admin.register(ProviderKey)
class ProviderKeyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """BYOK keys. The secret can be written once through the add form and is never rendered again."""

    audit_action = "provider_key"
    list_display = ("provider", "mask", "workspace", "held_by", "label", "status", "last_validated_at", "created_at")
    list_filter = ("status", "provider")
    list_select_related = ("provider", "workspace", "member", "agent")
    search_fields = ("label", "mask", "workspace__name", "workspace__slug", "provider__slug")
    autocomplete_fields = ("workspace", "member", "agent")
    add_fields = ("workspace", "provider", "member", "agent", "label", "new_secret")
    change_fields = (
        "workspace",
        "provider",
        "member",
        "agent",
        "label",
        "mask",
        "status",
        "last_validated_at",
        "last_error",
        "created_by",
        "created_at",
    )
    change_readonly_fields = (
        "workspace",
        "provider",
        "member",
        "agent",
        "mask",
        "status",
        "last_validated_at",
        "last_error",
        "created_by",
        "created_at",
    )

    def get_queryset(self, request):
        # The admin never needs the plaintext, so the encrypted column is not even loaded.
        return super().get_queryset(request).defer("secret")

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.change_readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ProviderKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="held by")
    def held_by(self, obj: ProviderKey) -> str:
        if obj.agent_id:
            return f"agent {obj.agent}"
        if obj.member_id:
            return f"member {obj.member}"
        return "workspace"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        provider_key = provider_key_create(
            workspace=obj.workspace,
            provider=obj.provider,
            secret=form.cleaned_data["new_secret"],
            member=obj.member,
            agent=obj.agent,
            label=obj.label,
            created_by=request.user,
        )
        copy_saved_instance(target=obj, saved=provider_key)

    def delete_model(self, request, obj):
        provider_key_delete(provider_key=obj, deleted_by=request.user)
