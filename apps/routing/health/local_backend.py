"""The in-process backend (embedded mode): the rules on dicts, no I/O; its figures are the process's own."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .base import (
    ADMITTED,
    HALF_OPEN,
    OPEN,
    Admission,
    Bucket,
    HealthRules,
    HealthTracker,
    ModelHealthSnapshot,
    outcome_of,
    snapshot_of,
)


@dataclass(slots=True)
class _Circuit:
    provider: str = ""
    last_ms: int = 0
    consecutive: int = 0
    since: int = 0  # bucket start from which the failure rate counts
    opened_at_ms: int | None = None
    until_ms: int | None = None  # the cooldown's end while open, else None
    probe_until_ms: int = 0


class LocalHealthTracker(HealthTracker):
    """In-process backend: the rules on dicts, behind a lock because management commands and tests call it from
    other threads than the event loop's."""

    def __init__(self, rules: HealthRules | None = None, *, clock: Callable[[], float] = time.time):
        super().__init__(rules, clock=clock)
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[int, Bucket]] = {}
        self._circuits: dict[str, _Circuit] = {}

    async def admit(self, model_id: str) -> Admission:
        return self.admit_sync(model_id)

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
        self.record_sync(model_id, provider_slug, ok=ok, error_kind=error_kind, latency_ms=latency_ms, ttft_ms=ttft_ms)

    async def open_circuits(self) -> dict[str, float]:
        now = self.now_ms()
        with self._lock:
            return {m: (c.until_ms - now) / 1000 for m, c in self._circuits.items() if (c.until_ms or 0) > now}

    def admit_sync(self, model_id: str) -> Admission:
        now = self.now_ms()
        with self._lock:
            circuit = self._circuit(model_id, now)
            if circuit is None or circuit.until_ms is None:
                return ADMITTED
            if now < circuit.until_ms:
                return Admission(False, OPEN, (circuit.until_ms - now) / 1000)
            if now < circuit.probe_until_ms:
                return Admission(False, HALF_OPEN, (circuit.probe_until_ms - now) / 1000)
            circuit.probe_until_ms = now + self.rules.cooldown_ms
            return Admission(True, HALF_OPEN)

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
        rules, now = self.rules, self.now_ms()
        outcome = outcome_of(ok, error_kind)
        start = rules.bucket_of(now)
        with self._lock:
            buckets = self._buckets.setdefault(model_id, {})
            bucket = buckets.get(start)
            if bucket is None:
                self._prune(buckets, now)  # once per bucket period, not per call
                bucket = buckets[start] = Bucket()
            bucket.requests += 1
            if outcome == "ok":
                bucket.successes += 1
                if latency_ms is not None:
                    bucket.latencies.append(int(latency_ms))
                if ttft_ms is not None:
                    bucket.ttfts.append(int(ttft_ms))
            else:
                kind = error_kind or "unknown"
                bucket.errors[kind] = bucket.errors.get(kind, 0) + 1
                if outcome == "failure":
                    bucket.failures += 1

            circuit = self._circuit(model_id, now) or self._circuits.setdefault(model_id, _Circuit())
            circuit.provider, circuit.last_ms = provider_slug, now
            if circuit.until_ms is not None:
                if now >= circuit.until_ms:
                    if outcome == "ok":
                        circuit.until_ms = circuit.opened_at_ms = None
                        circuit.consecutive, circuit.since, circuit.probe_until_ms = 0, start, 0
                    elif outcome == "failure":
                        self._open(circuit, now)
                    else:
                        circuit.probe_until_ms = 0
            elif outcome == "ok":
                circuit.consecutive = 0
            elif outcome == "failure":
                circuit.consecutive += 1
                if circuit.consecutive >= rules.consecutive_failures or self._rate_trips(buckets, circuit, now):
                    self._open(circuit, now)

    def _circuit(self, model_id: str, now: int) -> _Circuit | None:
        """The model's circuit after the forgetting rules, or None if there is nothing to remember."""
        circuit = self._circuits.get(model_id)
        if circuit is None:
            return None
        if circuit.until_ms is not None and circuit.until_ms < self.rules.forget_open_before(now):
            circuit.until_ms, circuit.probe_until_ms = None, 0
        if circuit.last_ms < self.rules.forget_circuit_before(now):
            circuit.consecutive, circuit.since, circuit.opened_at_ms = 0, 0, None
        return circuit

    def _open(self, circuit: _Circuit, now: int) -> None:
        circuit.until_ms = now + self.rules.cooldown_ms
        circuit.opened_at_ms, circuit.consecutive, circuit.probe_until_ms = now, 0, 0

    def _rate_trips(self, buckets: dict[int, Bucket], circuit: _Circuit, now: int) -> bool:
        requests = failures = 0
        for start in self.rules.window(now, circuit.since):
            if bucket := buckets.get(start):
                requests += bucket.requests
                failures += bucket.failures
        return requests >= self.rules.min_requests and failures / requests >= self.rules.error_rate_threshold

    def _prune(self, buckets: dict[int, Bucket], now: int) -> None:
        first = self.rules.window(now).start
        for start in [s for s in buckets if s < first]:
            del buckets[start]

    def snapshot_all(self) -> list[ModelHealthSnapshot]:
        rules, now = self.rules, self.now_ms()
        snapshots = []
        with self._lock:
            for model_id in sorted(self._circuits):
                circuit = self._circuit(model_id, now)
                buckets = self._buckets.get(model_id, {})
                self._prune(buckets, now)
                if circuit.until_ms is None and circuit.last_ms < rules.forget_circuit_before(now):
                    del self._circuits[model_id]  # what the Redis keys' expiry does
                    self._buckets.pop(model_id, None)
                    continue
                snapshots.append(
                    snapshot_of(
                        rules,
                        model_id,
                        circuit.provider,
                        buckets.values(),
                        until_ms=circuit.until_ms,
                        opened_at_ms=circuit.opened_at_ms,
                        consecutive=circuit.consecutive,
                        now_ms=now,
                    )
                )
        return snapshots
