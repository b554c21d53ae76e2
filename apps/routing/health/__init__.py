"""Model health and circuit breakers: what the gateway asks before each upstream attempt and tells after it.

Per catalog model (its canonical id, e.g. "openai/gpt-4o-mini"; a model belongs to one provider, whose slug is kept
with it so figures can be summed per provider) the tracker counts requests, successes, errors by kind, and a sample
of the last LATENCY_SAMPLE latencies and times to first token, in buckets of HEALTH_BUCKET_SECONDS. The rolling window
is the buckets of the last HEALTH_WINDOW_SECONDS.

The rules, the same in both backends:
- Only provider failures count against a circuit (`is_provider_failure`). The caller's errors (bad request, context
  too long, a refused key) are counted by kind but neither trip nor reset it.
- A closed circuit opens on a provider failure that makes HEALTH_CONSECUTIVE_FAILURES in a row, or that brings the
  window to a failure rate of HEALTH_ERROR_RATE_THRESHOLD or more over at least HEALTH_MIN_REQUESTS requests. Only a
  failure can open it: a circuit never opens on the heels of a success.
- An open circuit refuses requests for HEALTH_COOLDOWN_SECONDS. After that, one caller across all processes is let
  through as the probe (`half_open`), under a lease of one cooldown, so a probe lost with its process costs one more
  cooldown rather than wedging the circuit.
- The first result recorded after the cooldown decides: a success closes the circuit, a provider failure re-opens it
  for a fresh cooldown, a caller's error releases the lease for the next probe. Results recorded during the cooldown
  answer requests let through before the circuit opened: they are counted and leave the circuit alone.
- Once closed, the failure rate counts from the bucket it closed in, so the failures that opened it cannot re-open it.
- Forgetting: failures in a row stop adding up after a silence of RETENTION (window + cooldown + a bucket); a circuit
  whose cooldown ended a whole window ago with no probe result since is closed (what opened it is out of the window).
- Latency samples come from successful calls only: a timeout's full wait or an instant 429 says nothing about how
  fast the model answers.

Backends (`health_tracker()` picks one from the settings; local_backend.py and redis_backend.py):
- Redis, when REDIS_URL is set: shared by every process and node, on the cache's Redis (and database). `admit` and
  `record` are one Lua script each, so one round trip at most per call. Times come from the caller's clock, never
  from key expiry, so the rules above hold to the millisecond (nodes keep NTP time; a skew of a second only moves
  bucket edges). Every key also expires RETENTION after its last write, which bounds the key count by the models with
  recent traffic. The script reads the window's bucket keys by name, so it needs a single Redis, not a cluster.
  Layout, under `sy:health:`:
    b:<model>:<bucket start s>  hash   req, ok, fail, err:<kind>, nlat, lat:<0..49>, nttft, ttft:<0..49>
                                       (the samples are ring buffers indexed by the n* counters)
    c:<model>                   hash   provider, last (ms), consec (failures in a row), since (bucket start),
                                       opened_at (ms)
    open                        zset   model → cooldown end (ms); a member is an open circuit
    probe:<model>               string the probe lease's end (ms)
    models                      zset   model → last record (ms); what `snapshot_all` walks
  Each process also keeps the open set for at most OPEN_SET_CACHE_SECONDS: while that copy is fresh, `admit` answers
  a closed circuit, or one still cooling down, without calling Redis; only a probe needs the script.
- In-process, in the embedded mode (no Redis): the same rules on dicts, no I/O. Its figures are the process's own.
"""

from .base import (
    CLIENT_ERROR_KINDS,
    CLOSED,
    HALF_OPEN,
    LATENCY_SAMPLE,
    OPEN,
    PROVIDER_FAILURE_KINDS,
    Admission,
    HealthRules,
    HealthTracker,
    ModelHealthSnapshot,
    is_provider_failure,
)
from .local_backend import LocalHealthTracker
from .redis_backend import OPEN_SET_CACHE_SECONDS, RedisHealthTracker

__all__ = [
    "CLIENT_ERROR_KINDS",
    "CLOSED",
    "HALF_OPEN",
    "LATENCY_SAMPLE",
    "OPEN",
    "OPEN_SET_CACHE_SECONDS",
    "PROVIDER_FAILURE_KINDS",
    "Admission",
    "HealthRules",
    "HealthTracker",
    "LocalHealthTracker",
    "ModelHealthSnapshot",
    "RedisHealthTracker",
    "health_tracker",
    "health_tracker_reset",
    "is_provider_failure",
]

_tracker: HealthTracker | None = None


def health_tracker() -> HealthTracker:
    """The process's tracker: Redis when REDIS_URL is set, else in-process."""
    global _tracker
    if _tracker is None:
        from django.conf import settings

        url = settings.REDIS_URL
        _tracker = RedisHealthTracker(url) if url else LocalHealthTracker()
    return _tracker


def health_tracker_reset() -> None:
    """Start the process over with a fresh tracker (tests, or after the settings change)."""
    global _tracker
    _tracker = None
