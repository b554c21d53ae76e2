from decimal import Decimal

from django.db import models
from django_cryptography.fields import encrypt

from apps.core.models import TimeStampedModel

# Prices are USD per single token. 15 decimal places hold the smallest feed prices (e.g. 1e-10) exactly.
PRICE_FIELD = {"max_digits": 24, "decimal_places": 15, "null": True, "blank": True}


class AdapterKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic Messages"
    GEMINI = "gemini", "Google Gemini"


class PrivacyClass(models.TextChoices):
    LOCAL = "local", "Local (runs on our own machines)"
    TRUSTED = "trusted", "Trusted (contract, no retention)"
    STANDARD = "standard", "Standard"


class Provider(TimeStampedModel):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=128)
    adapter_kind = models.CharField(max_length=16, choices=AdapterKind.choices, default=AdapterKind.OPENAI)
    base_url = models.URLField(max_length=500, blank=True)
    enabled = models.BooleanField(default=False, db_index=True)
    priority = models.IntegerField(default=100, help_text="Lower is preferred when several providers can serve.")
    privacy_class = models.CharField(max_length=16, choices=PrivacyClass.choices, default=PrivacyClass.STANDARD)
    platform_key = encrypt(models.TextField(blank=True, default=""))
    platform_key_mask = models.CharField(max_length=32, blank=True)
    env_key_name = models.CharField(
        max_length=64, blank=True, help_text="Environment variable read when no other key applies."
    )
    extra_headers = models.JSONField(default=dict, blank=True)
    adapter_options = models.JSONField(
        default=dict, blank=True, help_text="Adapter settings, e.g. Azure api_version or OpenRouter attribution."
    )

    class Meta:
        ordering = ["priority", "slug"]

    def __str__(self) -> str:
        return self.name


class ModelMode(models.TextChoices):
    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    IMAGE = "image_generation"
    AUDIO = "audio"
    OTHER = "other"


class Category(models.TextChoices):
    FAST_CHEAP = "fast-cheap", "Fast & Cheap"
    BALANCED = "balanced", "Balanced"
    PREMIUM = "premium", "Premium"
    CODING = "coding", "Coding"
    CREATIVE = "creative", "Creative"


class PowerLevel(models.TextChoices):
    ECO = "ECO", "Eco"
    BALANCED = "BALANCED", "Balanced"
    PRECISION = "PRECISION", "Precision"


class PlanTier(models.TextChoices):
    """The lowest plan level a model belongs to; plans unlock tiers (see workspaces.Plan)."""

    STARTER = "starter", "Starter"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


class ModelSource(models.TextChoices):
    LITELLM = "litellm", "LiteLLM price map"
    OPENROUTER = "openrouter", "OpenRouter"
    MANUAL = "manual", "Entered by staff"


class Model(TimeStampedModel):
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    model_id = models.CharField(max_length=255, unique=True, help_text="Canonical id, e.g. anthropic/claude-sonnet-4-5")
    upstream_name = models.CharField(max_length=255, help_text="The name sent to the provider.")
    display_name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    mode = models.CharField(max_length=32, choices=ModelMode.choices, default=ModelMode.CHAT, db_index=True)
    enabled = models.BooleanField(default=True, db_index=True)

    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)

    input_price = models.DecimalField(**PRICE_FIELD)
    output_price = models.DecimalField(**PRICE_FIELD)
    cache_read_price = models.DecimalField(**PRICE_FIELD)
    cache_write_price = models.DecimalField(**PRICE_FIELD)
    price_unknown = models.BooleanField(default=False, db_index=True, help_text="Never costed as $0.")
    pricing_extra = models.JSONField(default=dict, blank=True, help_text="Tiered or conditional prices.")

    supports_tools = models.BooleanField(default=False)
    supports_vision = models.BooleanField(default=False)
    supports_json = models.BooleanField(default=False)
    supports_streaming = models.BooleanField(default=True)
    supports_reasoning = models.BooleanField(default=False)

    category = models.CharField(max_length=16, choices=Category.choices, default=Category.BALANCED, db_index=True)
    power_level = models.CharField(
        max_length=16, choices=PowerLevel.choices, default=PowerLevel.BALANCED, db_index=True
    )
    quality_score = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.5"))
    plan_tier = models.CharField(max_length=16, choices=PlanTier.choices, default=PlanTier.PRO, db_index=True)
    default_installed = models.BooleanField(default=False, db_index=True)
    popularity = models.PositiveIntegerField(default=0, db_index=True)

    source = models.CharField(max_length=16, choices=ModelSource.choices, default=ModelSource.MANUAL, db_index=True)
    source_created_at = models.DateTimeField(null=True, blank=True, help_text="Release date given by the source.")
    deprecated_at = models.DateTimeField(null=True, blank=True, db_index=True)
    hand_edited_fields = models.JSONField(
        default=list, blank=True, help_text="Fields staff changed by hand; the catalog sync never overwrites them."
    )

    class Meta:
        ordering = ["model_id"]
        indexes = [
            models.Index(fields=["provider", "mode"]),
            models.Index(fields=["-popularity", "model_id"]),
            models.Index(fields=["input_price"]),
            models.Index(fields=["context_window"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(input_price__isnull=True) | models.Q(input_price__gte=0),
                name="model_input_price_gte_0",
            ),
            models.CheckConstraint(
                condition=models.Q(output_price__isnull=True) | models.Q(output_price__gte=0),
                name="model_output_price_gte_0",
            ),
            models.CheckConstraint(
                condition=models.Q(quality_score__gte=0) & models.Q(quality_score__lte=1), name="model_quality_0_1"
            ),
        ]

    def __str__(self) -> str:
        return self.model_id

    @property
    def is_deprecated(self) -> bool:
        return self.deprecated_at is not None


class ModelAlias(TimeStampedModel):
    """A short or stable name (e.g. `claude-sonnet`, `gpt-4o`) that resolves to a canonical model."""

    alias = models.CharField(max_length=255, unique=True)
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="aliases")

    def __str__(self) -> str:
        return self.alias


class PriceChange(models.Model):
    """One row each time a sync finds a model's prices changed: the old and new value of each price."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="price_changes")
    source = models.CharField(max_length=16, choices=ModelSource.choices)
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    old_input_price = models.DecimalField(**PRICE_FIELD)
    new_input_price = models.DecimalField(**PRICE_FIELD)
    old_output_price = models.DecimalField(**PRICE_FIELD)
    new_output_price = models.DecimalField(**PRICE_FIELD)
    old_cache_read_price = models.DecimalField(**PRICE_FIELD)
    new_cache_read_price = models.DecimalField(**PRICE_FIELD)
    old_cache_write_price = models.DecimalField(**PRICE_FIELD)
    new_cache_write_price = models.DecimalField(**PRICE_FIELD)

    class Meta:
        ordering = ["-changed_at"]
        indexes = [models.Index(fields=["model", "-changed_at"])]

    def __str__(self) -> str:
        return f"{self.model_id} @ {self.changed_at:%Y-%m-%d}"


class TaskType(models.TextChoices):
    CHAT = "chat"
    CODE = "code"
    MATH = "math"
    REASONING = "reasoning"
    EXTRACTION = "extraction"
    SUMMARIZATION = "summarization"
    CREATIVE = "creative"
    ANALYSIS = "analysis"
    TRANSLATION = "translation"
    CLASSIFICATION = "classification"


class TaskScoreSource(models.TextChoices):
    BENCHMARK = "benchmark", "Switchyard benchmark run"
    IMPORT = "import", "Imported data set"
    MANUAL = "manual", "Entered by staff"


class TaskScore(TimeStampedModel):
    """How well a model does one kind of task, in [0, 1]; the router reads it."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="task_scores")
    task = models.CharField(max_length=32, choices=TaskType.choices)
    score = models.DecimalField(max_digits=5, decimal_places=4)
    source = models.CharField(max_length=16, choices=TaskScoreSource.choices)
    sample_size = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "task", "source"], name="taskscore_unique_model_task_source"),
            models.CheckConstraint(condition=models.Q(score__gte=0) & models.Q(score__lte=1), name="taskscore_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.task}={self.score}"
