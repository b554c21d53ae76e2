from django.conf import settings
from django.db import models
from django_cryptography.fields import encrypt

from apps.core.models import TimeStampedModel


class ProviderKeyStatus(models.TextChoices):
    UNTESTED = "untested"
    VALID = "valid"
    INVALID = "invalid"


class ProviderKey(TimeStampedModel):
    """A customer's own provider key (BYOK), held by the workspace, one member, or one agent.

    The secret is encrypted at rest and only its mask is ever shown again.
    """

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="provider_keys")
    provider = models.ForeignKey("catalog.Provider", on_delete=models.CASCADE, related_name="byok_keys")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="provider_keys"
    )
    agent = models.ForeignKey(
        "workspaces.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="provider_keys"
    )
    label = models.CharField(max_length=128, blank=True)
    secret = encrypt(models.TextField())
    mask = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=ProviderKeyStatus.choices, default=ProviderKeyStatus.UNTESTED)
    last_validated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # One key per provider at each level of the resolution order (agent → member → workspace).
            models.UniqueConstraint(
                fields=["workspace", "provider"],
                condition=models.Q(member__isnull=True, agent__isnull=True),
                name="providerkey_one_per_workspace",
            ),
            models.UniqueConstraint(
                fields=["workspace", "provider", "member"],
                condition=models.Q(member__isnull=False, agent__isnull=True),
                name="providerkey_one_per_member",
            ),
            models.UniqueConstraint(
                fields=["workspace", "provider", "agent"],
                condition=models.Q(agent__isnull=False),
                name="providerkey_one_per_agent",
            ),
            models.CheckConstraint(
                condition=models.Q(member__isnull=True) | models.Q(agent__isnull=True),
                name="providerkey_member_or_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.mask}"


class ApiKey(TimeStampedModel):
    """A virtual key for /v1 and /api (`sk-sy-…`), stored as a sha256 hash plus a display mask."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="api_keys")
    agent = models.ForeignKey(
        "workspaces.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=128)
    key_hash = models.CharField(max_length=64, unique=True)
    mask = models.CharField(max_length=32)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="api_keys"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Overrides the plan's RPM; empty: plan.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Overrides the plan's TPM; empty: plan.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.mask})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
