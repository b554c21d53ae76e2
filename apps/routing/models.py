from django.db import models


class BenchmarkStatus(models.TextChoices):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class BenchmarkRun(models.Model):
    """One run of the standard prompts across chosen models; its results feed the per-task quality table."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=BenchmarkStatus.choices, default=BenchmarkStatus.RUNNING)
    models_tested = models.ManyToManyField("catalog.Model", related_name="+")
    prompt_set = models.CharField(max_length=64, default="standard")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"benchmark {self.pk} ({self.status})"


class BenchmarkResult(models.Model):
    run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="results")
    model = models.ForeignKey("catalog.Model", on_delete=models.CASCADE, related_name="+")
    task = models.CharField(max_length=32)
    prompt_key = models.CharField(max_length=64)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=10, null=True, blank=True)
    quality = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "model", "prompt_key"], name="benchmarkresult_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.prompt_key}"
