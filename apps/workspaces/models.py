from decimal import Decimal

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel


def default_routing_weights() -> dict:
    return {"cost": 0.4, "latency": 0.4, "quality": 0.2}


class ServiceCategory(models.TextChoices):
    """What a workspace uses models for: its settings name a default model for each, and an agent is one kind."""

    CHAT = "chat", "Chat"
    CODE = "code", "Code"
    DOCUMENTS = "documents", "Document processing"
    RAG = "rag", "Retrieval-augmented generation (RAG)"
    EMBEDDINGS = "embeddings", "Embeddings"
    ORCHESTRATION = "orchestration", "Orchestration"


class ModelAccess(models.TextChoices):
    DEFAULT = "default", "Default models only"
    TIERS = "tiers", "Models of the allowed tiers"
    ALL = "all", "Every model"


class Plan(TimeStampedModel):
    slug = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    sort_order = models.PositiveSmallIntegerField(
        default=0, help_text="Plans are offered in this order (cheapest first)."
    )
    monthly_price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    monthly_token_quota = models.BigIntegerField(null=True, blank=True, help_text="Empty means unlimited.")
    model_access = models.CharField(max_length=16, choices=ModelAccess.choices, default=ModelAccess.DEFAULT)
    allowed_tiers = models.JSONField(
        default=list, blank=True, help_text="Model plan tiers unlocked (model_access=tiers)."
    )
    allowed_models = models.ManyToManyField("catalog.Model", blank=True, related_name="+", help_text="Always allowed.")
    byok_allowed = models.BooleanField(default=False)
    overage_allowed = models.BooleanField(default=False)
    overage_price_per_million = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute; empty: none.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute; empty: none.")
    is_default = models.BooleanField(default=False, help_text="Given to new workspaces.")

    class Meta:
        ordering = ["sort_order", "slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(monthly_token_quota__isnull=True) | models.Q(monthly_token_quota__gte=0),
                name="plan_quota_gte_0",
            ),
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="plan_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_unlimited(self) -> bool:
        return self.monthly_token_quota is None


class BillingMode(models.TextChoices):
    INVOICE = "invoice", "Invoiced monthly"
    PREPAID = "prepaid", "Prepaid credits"


class Workspace(TimeStampedModel):
    name = models.CharField(max_length=128)
    slug = models.SlugField(max_length=64, unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="workspaces")
    timezone = models.CharField(max_length=64, default="UTC")
    billing_mode = models.CharField(max_length=16, choices=BillingMode.choices, default=BillingMode.INVOICE)
    is_active = models.BooleanField(default=True)
    preferred_power_level = models.CharField(max_length=16, default="BALANCED")
    routing_weights = models.JSONField(default=default_routing_weights, blank=True)
    default_models = models.JSONField(
        default=dict, blank=True, help_text="Default model id per service category: chat, code, documents, rag, …"
    )
    alert_emails = models.JSONField(default=list, blank=True)
    alert_webhook_url = models.URLField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Membership(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class InstalledModel(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="installed_models")
    model = models.ForeignKey("catalog.Model", on_delete=models.CASCADE, related_name="installations")
    installed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "model"], name="installedmodel_unique")]

    def __str__(self) -> str:
        return f"{self.model_id} in {self.workspace_id}"


class RoutingPolicy(models.TextChoices):
    EXPLICIT = "explicit", "Explicit model with fallbacks"
    AUTO = "auto", "Automatic (power level and weights)"


class PrivacyMode(models.TextChoices):
    DETECT = "detect", "Route to local/trusted providers when personal data is detected"
    ALWAYS = "always", "Always local/trusted providers only"
    OFF = "off", "No privacy routing"


class Agent(TimeStampedModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="agents")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=32, default="chat", help_text="Service category: chat, code, documents, rag, …")
    primary_model = models.ForeignKey(
        "catalog.Model", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fallback_models = models.ManyToManyField(
        "catalog.Model", through="AgentFallback", blank=True, related_name="+", through_fields=("agent", "model")
    )
    routing_policy = models.CharField(max_length=16, choices=RoutingPolicy.choices, default=RoutingPolicy.EXPLICIT)
    power_level = models.CharField(max_length=16, default="BALANCED")
    routing_weights = models.JSONField(default=default_routing_weights, blank=True)
    task_rules = models.JSONField(default=dict, blank=True, help_text='Task → model id, e.g. {"code": "deepseek/…"}')
    privacy_mode = models.CharField(max_length=16, choices=PrivacyMode.choices, default=PrivacyMode.DETECT)
    temperature = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="agent_unique_slug"),
            models.CheckConstraint(
                condition=models.Q(temperature__isnull=True)
                | (models.Q(temperature__gte=0) & models.Q(temperature__lte=2)),
                name="agent_temperature_0_2",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AgentFallback(models.Model):
    """The agent's ordered fallback chain."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="fallbacks")
    model = models.ForeignKey("catalog.Model", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["agent", "position"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "position"], name="agentfallback_unique_position"),
            models.UniqueConstraint(fields=["agent", "model"], name="agentfallback_unique_model"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}#{self.position} → {self.model_id}"
