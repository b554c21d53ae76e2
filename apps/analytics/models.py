from django.conf import settings
from django.db import models

COST = {"max_digits": 18, "decimal_places": 10}


class UsageStatus(models.TextChoices):
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


class UsageRecord(models.Model):
    """One request through the gateway, whatever its outcome: tokens, cost, timing and every attempt."""

    generation_id = models.CharField(max_length=64, unique=True)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="usage_records")
    agent = models.ForeignKey("workspaces.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey("keys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    endpoint = models.CharField(max_length=32, default="chat.completions")
    requested_model = models.CharField(max_length=255, blank=True)
    model = models.ForeignKey("catalog.Model", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_name = models.CharField(max_length=255, blank=True, help_text="Canonical id at the time of the call.")
    provider = models.ForeignKey("catalog.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provider_slug = models.CharField(max_length=64, blank=True)
    attempts = models.JSONField(default=list, blank=True, help_text="Each try: model, provider, error, latency.")
    routing = models.JSONField(default=dict, blank=True, help_text="The router's explanation of its choice.")
    is_byok = models.BooleanField(default=False)

    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(null=True, blank=True, **COST, help_text="Empty when the price is unknown.")
    price_unknown = models.BooleanField(default=False)
    overage_tokens = models.PositiveIntegerField(default=0, help_text="Tokens past the plan's quota (overage).")

    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=UsageStatus.choices, default=UsageStatus.SUCCESS)
    error_type = models.CharField(max_length=64, blank=True)
    http_status = models.PositiveSmallIntegerField(default=200)
    streamed = models.BooleanField(default=False)
    finish_reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"]),
            models.Index(fields=["workspace", "agent", "-created_at"]),
            models.Index(fields=["workspace", "model_name", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.generation_id

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class UsageRollup(models.Model):
    """Usage summed per hour × workspace × agent × API key × model; dashboards read these, not raw records."""

    hour = models.DateTimeField()
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="usage_rollups")
    agent = models.ForeignKey("workspaces.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey("keys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_name = models.CharField(max_length=255)
    provider_slug = models.CharField(max_length=64, blank=True)
    is_byok = models.BooleanField(default=False)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(default=0, **COST)
    latency_ms_sum = models.BigIntegerField(default=0)
    latency_samples = models.PositiveIntegerField(default=0, help_text="Requests with a latency.")
    # What the recommendations need (apps/analytics/recommendations.py). Rows rolled up before these columns existed
    # hold 0 in each: the recommendations read such a row's requests as of unknown task and its token sums as its
    # largest request, until `manage.py rollup_usage --since ...` rebuilds it.
    cache_write_tokens = models.BigIntegerField(default=0)
    largest_prompt_tokens = models.PositiveIntegerField(default=0, help_text="The hour's largest prompt.")
    largest_completion_tokens = models.PositiveIntegerField(default=0, help_text="The hour's largest completion.")
    # The task mix the router detected, one column per task of apps.routing.prompt_analysis.TASKS and one for
    # unknown: the sum of each record's P(task | prompt) where it analysed the prompt, else 1 for the task it named,
    # else 1 for unknown. So the columns of a row add up to its requests.
    task_chat = models.FloatField(default=0)
    task_code = models.FloatField(default=0)
    task_math = models.FloatField(default=0)
    task_reasoning = models.FloatField(default=0)
    task_extraction = models.FloatField(default=0)
    task_summarization = models.FloatField(default=0)
    task_creative = models.FloatField(default=0)
    task_analysis = models.FloatField(default=0)
    task_translation = models.FloatField(default=0)
    task_classification = models.FloatField(default=0)
    task_unknown = models.FloatField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "hour"]),
            models.Index(fields=["workspace", "agent", "hour"]),
            models.Index(fields=["hour", "workspace", "model_name"]),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.model_name}"


class UsageRollupMark(models.Model):
    """How far the hourly rollup has read the usage records: the highest UsageRecord id already folded in, and the
    mark before the last run (each run reads that run's ids again, for records whose ids were taken earlier but whose
    transaction committed later)."""

    name = models.CharField(max_length=32, unique=True, default="usage")
    last_record_id = models.BigIntegerField(default=0)
    previous_record_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_record_id}"


class CircuitState(models.TextChoices):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class ModelHealth(models.Model):
    """The latest rolling-window health figures of one model at its provider, rolled up from Redis."""

    model = models.OneToOneField("catalog.Model", on_delete=models.CASCADE, related_name="health")
    window_seconds = models.PositiveIntegerField(default=300)
    requests = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)
    errors_by_kind = models.JSONField(default=dict, blank=True)
    error_rate = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    latency_p50_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_p95_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_p50_ms = models.PositiveIntegerField(null=True, blank=True)
    circuit_state = models.CharField(max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED)
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "model health"

    def __str__(self) -> str:
        return f"{self.model_id} {self.circuit_state}"


class AuditEvent(models.Model):
    """Who did what, when and from where. Never holds a secret."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_api_key = models.ForeignKey("keys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. api_key.created, model.installed")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.target_repr}"
