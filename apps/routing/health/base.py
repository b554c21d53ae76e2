"""What both health backends share: the rules' settings, the failure rule, and the answers they give."""

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apps.routing.adapters.base import RETRYABLE_KINDS

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
LATENCY_SAMPLE = 50

# The caller's fault (or its key's), whatever the gateway retries: counted by kind, never against a circuit.
CLIENT_ERROR_KINDS = frozenset({"bad_request", "context_length", "auth", "permission", "not_found"})
# What says the provider is unwell: every retryable kind that is not the caller's fault, and a failed connection.
PROVIDER_FAILURE_KINDS = (RETRYABLE_KINDS | {"connection"}) - CLIENT_ERROR_KINDS


def is_provider_failure(error_kind: str | None) -> bool:
    return error_kind in PROVIDER_FAILURE_KINDS


def outcome_of(ok: bool, error_kind: str | None) -> str:
    if ok:
        return "ok"
    return "failure" if is_provider_failure(error_kind) else "error"


@dataclass(frozen=True, slots=True)
class HealthRules:
    window_seconds: int = 300
    bucket_seconds: int = 10
    error_rate_threshold: float = 0.2
    min_requests: int = 10
    consecutive_failures: int = 5
    cooldown_seconds: float = 30.0

    @classmethod
    def from_settings(cls) -> "HealthRules":
        from django.conf import settings

        return cls(
            window_seconds=settings.HEALTH_WINDOW_SECONDS,
            bucket_seconds=settings.HEALTH_BUCKET_SECONDS,
            error_rate_threshold=settings.HEALTH_ERROR_RATE_THRESHOLD,
            min_requests=settings.HEALTH_MIN_REQUESTS,
            consecutive_failures=settings.HEALTH_CONSECUTIVE_FAILURES,
            cooldown_seconds=settings.HEALTH_COOLDOWN_SECONDS,
        )

    @property
    def buckets(self) -> int:
        return max(1, math.ceil(self.window_seconds / self.bucket_seconds))

    @property
    def cooldown_ms(self) -> int:
        return round(self.cooldown_seconds * 1000)

    @property
    def retention_seconds(self) -> int:
        return math.ceil(self.window_seconds + self.cooldown_seconds + self.bucket_seconds)

    def forget_open_before(self, now_ms: int) -> int:
        """An open circuit whose cooldown ended before this (ms) is forgotten."""
        return now_ms - (self.window_seconds + self.bucket_seconds) * 1000

    def forget_circuit_before(self, now_ms: int) -> int:
        """A circuit last written before this (ms) starts over: no failures in a row."""
        return now_ms - self.retention_seconds * 1000

    def bucket_of(self, now_ms: int) -> int:
        seconds = now_ms // 1000
        return seconds - seconds % self.bucket_seconds

    def window(self, now_ms: int, since: int = 0) -> range:
        """Bucket starts of the rolling window ending now, none before `since`."""
        current = self.bucket_of(now_ms)
        return range(max(current - (self.buckets - 1) * self.bucket_seconds, since), current + 1, self.bucket_seconds)


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    state: str  # CLOSED, OPEN or HALF_OPEN
    retry_after: float | None = None  # seconds, when refused


ADMITTED = Admission(True, CLOSED)


@dataclass(frozen=True, slots=True)
class ModelHealthSnapshot:
    """One model's figures over the window, and its circuit, as the rollup and the API show them."""

    model_id: str
    provider_slug: str
    window_seconds: int
    requests: int
    successes: int
    failures: int  # provider failures, what the circuit counts
    errors_by_kind: dict[str, int]
    error_rate: float  # failures / requests
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    ttft_p50_ms: int | None
    circuit_state: str
    circuit_opened_at: datetime | None
    consecutive_failures: int


@dataclass(slots=True)
class Bucket:
    """One model's counts over one bucket period."""

    requests: int = 0
    successes: int = 0
    failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLE))
    ttfts: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLE))


def _percentile(values: list[int], pct: int) -> int | None:
    """Nearest rank: the smallest sample with at least pct% of the samples at or below it."""
    if not values:
        return None
    values = sorted(values)
    return values[max(0, math.ceil(pct / 100 * len(values)) - 1)]


def _state_of(until_ms: int | None, now_ms: int) -> str:
    if until_ms is None:
        return CLOSED
    return OPEN if now_ms < until_ms else HALF_OPEN


def snapshot_of(
    rules: HealthRules,
    model_id: str,
    provider: str,
    buckets: Iterable[Bucket],
    *,
    until_ms: int | None,
    opened_at_ms: int | None,
    consecutive: int,
    now_ms: int,
) -> ModelHealthSnapshot:
    requests = successes = failures = 0
    errors: dict[str, int] = {}
    latencies: list[int] = []
    ttfts: list[int] = []
    for bucket in buckets:
        requests += bucket.requests
        successes += bucket.successes
        failures += bucket.failures
        for kind, count in bucket.errors.items():
            errors[kind] = errors.get(kind, 0) + count
        latencies.extend(bucket.latencies)
        ttfts.extend(bucket.ttfts)
    opened_at = None if until_ms is None or opened_at_ms is None else datetime.fromtimestamp(opened_at_ms / 1000, UTC)
    return ModelHealthSnapshot(
        model_id=model_id,
        provider_slug=provider,
        window_seconds=rules.window_seconds,
        requests=requests,
        successes=successes,
        failures=failures,
        errors_by_kind=errors,
        error_rate=failures / requests if requests else 0.0,
        latency_p50_ms=_percentile(latencies, 50),
        latency_p95_ms=_percentile(latencies, 95),
        ttft_p50_ms=_percentile(ttfts, 50),
        circuit_state=_state_of(until_ms, now_ms),
        circuit_opened_at=opened_at,
        consecutive_failures=consecutive,
    )


class HealthTracker:
    """The interface the gateway uses. `clock` returns wall-clock seconds; tests pass a controllable one."""

    def __init__(self, rules: HealthRules | None = None, *, clock: Callable[[], float] = time.time):
        self.rules = rules or HealthRules.from_settings()
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def admit(self, model_id: str) -> Admission:
        """May a request go to this model now? Ask before each upstream attempt; a refused model is skipped."""
        raise NotImplementedError

    async def record(
        self,
        model_id: str,
        provider_slug: str,
        *,
        ok: bool,
        error_kind: str | None = None,
        latency_ms: int | None = None,
        ttft_ms: int | None = None,
    ) -> None:
        """Count one attempt's outcome (`error_kind` is the adapter's UpstreamError.kind) and move the circuit."""
        raise NotImplementedError

    async def open_circuits(self) -> dict[str, float]:
        """Models to leave out of routing: model → seconds until a probe may go. A model whose cooldown is over is
        not listed, so the router can offer it and `admit` can let the probe through."""
        raise NotImplementedError

    def admit_sync(self, model_id: str) -> Admission:
        raise NotImplementedError

    def record_sync(
        self,
        model_id: str,
        provider_slug: str,
        *,
        ok: bool,
        error_kind: str | None = None,
        latency_ms: int | None = None,
        ttft_ms: int | None = None,
    ) -> None:
        raise NotImplementedError

    def snapshot_all(self) -> list[ModelHealthSnapshot]:
        """Every model recorded within RETENTION or with an open circuit, sorted by id."""
        raise NotImplementedError
