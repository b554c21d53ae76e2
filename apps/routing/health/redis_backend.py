"""The Redis backend: shared by every process and node. The keys are described in the package's docstring."""

import logging
import math
import time
from collections.abc import Callable

from apps.core.redis_pipe import Script, shared_redis_pipe

from .base import (
    ADMITTED,
    LATENCY_SAMPLE,
    OPEN,
    Admission,
    Bucket,
    HealthRules,
    HealthTracker,
    ModelHealthSnapshot,
    outcome_of,
    snapshot_of,
)

logger = logging.getLogger(__name__)

OPEN_SET_CACHE_SECONDS = 1.0
REDIS_PREFIX = "sy:health:"
# The gateway's budget per request is about a millisecond: a Redis that does not answer fast is treated as absent.
REDIS_TIMEOUT_SECONDS = 0.5

ADMIT_LUA = """
-- KEYS: open set, probe lease.
-- ARGV: model, now (ms), lease (ms), forget open circuits whose cooldown ended before (ms).
-- Returns {allowed, state, retry after (ms, -1: none), the open set as model, cooldown end, ...}.
local now = tonumber(ARGV[2])
local allowed, state, wait = 1, 'closed', -1
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) >= tonumber(ARGV[4]) then
  local until_ms = tonumber(score)
  local lease = tonumber(redis.call('GET', KEYS[2]) or 0)
  if now < until_ms then
    allowed, state, wait = 0, 'open', until_ms - now
  elseif now < lease then
    allowed, state, wait = 0, 'half_open', lease - now
  else
    state = 'half_open'
    redis.call('SET', KEYS[2], now + tonumber(ARGV[3]), 'PX', ARGV[3])
  end
end
return {allowed, state, wait, redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], '+inf', 'WITHSCORES')}
"""

RECORD_LUA = """
-- KEYS: bucket, circuit, open set, probe lease, model index.
-- ARGV: 1 model, 2 provider, 3 now (ms), 4 outcome (ok|failure|error), 5 error kind, 6 latency, 7 ttft,
--       8 retention (s), 9 sample size, 10 bucket key prefix, 11 bucket start (s), 12 bucket seconds,
--       13 buckets in the window, 14 error-rate threshold, 15 min requests, 16 failures in a row, 17 cooldown (ms),
--       18 forget open circuits whose cooldown ended before (ms), 19 forget circuits last written before (ms).
-- Returns the circuit's cooldown end (ms) if it is open afterwards, else nil.
local model, now, outcome = ARGV[1], tonumber(ARGV[3]), ARGV[4]
local retention, sample = tonumber(ARGV[8]), tonumber(ARGV[9])
local bucket, circuit, open_set, probe = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

redis.call('HINCRBY', bucket, 'req', 1)
if outcome == 'ok' then
  redis.call('HINCRBY', bucket, 'ok', 1)
  for i, name in ipairs({'lat', 'ttft'}) do
    local value = ARGV[5 + i]
    if value ~= '' then
      local n = redis.call('HINCRBY', bucket, 'n' .. name, 1)
      redis.call('HSET', bucket, name .. ':' .. ((n - 1) % sample), value)
    end
  end
else
  redis.call('HINCRBY', bucket, 'err:' .. ARGV[5], 1)
  if outcome == 'failure' then redis.call('HINCRBY', bucket, 'fail', 1) end
end
redis.call('EXPIRE', bucket, retention)
redis.call('ZADD', KEYS[5], now, model)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[19])
redis.call('EXPIRE', KEYS[5], retention)
redis.call('ZREMRANGEBYSCORE', open_set, '-inf', '(' .. ARGV[18])

if tonumber(redis.call('HGET', circuit, 'last') or 0) < tonumber(ARGV[19]) then
  redis.call('HDEL', circuit, 'consec', 'since', 'opened_at')
end
redis.call('HSET', circuit, 'provider', ARGV[2], 'last', now)
local cooldown = tonumber(ARGV[17])
local score = redis.call('ZSCORE', open_set, model)
local until_ms = score and tonumber(score)
local function open_circuit()
  until_ms = now + cooldown
  redis.call('ZADD', open_set, until_ms, model)
  redis.call('HSET', circuit, 'opened_at', now, 'consec', 0)
  redis.call('DEL', probe)
end

if until_ms then
  if now >= until_ms then
    if outcome == 'ok' then
      until_ms = nil
      redis.call('ZREM', open_set, model)
      redis.call('HSET', circuit, 'consec', 0, 'since', ARGV[11])
      redis.call('HDEL', circuit, 'opened_at')
      redis.call('DEL', probe)
    elseif outcome == 'failure' then
      open_circuit()
    else
      redis.call('DEL', probe)
    end
  end
elseif outcome == 'ok' then
  redis.call('HSET', circuit, 'consec', 0)
elseif outcome == 'failure' then
  local trip = redis.call('HINCRBY', circuit, 'consec', 1) >= tonumber(ARGV[16])
  if not trip then
    local step, current = tonumber(ARGV[12]), tonumber(ARGV[11])
    local since = tonumber(redis.call('HGET', circuit, 'since') or 0)
    local requests, failures = 0, 0
    for start = math.max(current - (tonumber(ARGV[13]) - 1) * step, since), current, step do
      local counts = redis.call('HMGET', ARGV[10] .. string.format('%d', start), 'req', 'fail')
      requests = requests + (tonumber(counts[1]) or 0)
      failures = failures + (tonumber(counts[2]) or 0)
    end
    trip = requests >= tonumber(ARGV[15]) and failures / requests >= tonumber(ARGV[14])
  end
  if trip then open_circuit() end
end
redis.call('EXPIRE', circuit, retention)
redis.call('EXPIRE', open_set, retention)
return until_ms
"""


ADMIT_SCRIPT, RECORD_SCRIPT = Script(ADMIT_LUA), Script(RECORD_LUA)


class RedisHealthTracker(HealthTracker):
    """Redis backend (its keys: the package's docstring). The async methods fail open: while Redis cannot be
    reached, requests are let through on the last known open set and records are dropped (health is advice, not a
    dependency of every request). The sync ones raise, for the rollup and the tests to see."""

    def __init__(
        self,
        url: str,
        rules: HealthRules | None = None,
        *,
        clock: Callable[[], float] = time.time,
        prefix: str = REDIS_PREFIX,
    ):
        import redis

        super().__init__(rules, clock=clock)
        self.url, self.prefix = url, prefix
        self._client = redis.Redis.from_url(url, decode_responses=True, **self._timeouts())
        self._admit_script = self._client.register_script(ADMIT_LUA)
        self._record_script = self._client.register_script(RECORD_LUA)
        self._pipe = shared_redis_pipe(url, timeout=REDIS_TIMEOUT_SECONDS)  # the async calls: pipelined
        self._open: dict[str, int] = {}  # model → cooldown end (ms), as read at _open_read_at
        self._open_read_at = -math.inf
        self._warned_at = -math.inf

    @staticmethod
    def _timeouts() -> dict:
        return {"socket_timeout": REDIS_TIMEOUT_SECONDS, "socket_connect_timeout": REDIS_TIMEOUT_SECONDS}

    # --- keys and script arguments ---

    def _key(self, kind: str, model_id: str = "") -> str:
        return f"{self.prefix}{kind}:{model_id}" if model_id else f"{self.prefix}{kind}"

    def _admit_call(self, model_id: str, now: int) -> dict:
        keys = [self._key("open"), self._key("probe", model_id)]
        return {"keys": keys, "args": [model_id, now, self.rules.cooldown_ms, self.rules.forget_open_before(now)]}

    def _record_call(
        self,
        model_id: str,
        provider_slug: str,
        now: int,
        ok: bool,
        error_kind: str | None,
        latency_ms: int | None,
        ttft_ms: int | None,
    ) -> dict:
        rules = self.rules
        start = rules.bucket_of(now)
        bucket_prefix = f"{self._key('b', model_id)}:"
        keys = [
            f"{bucket_prefix}{start}",
            self._key("c", model_id),
            self._key("open"),
            self._key("probe", model_id),
            self._key("models"),
        ]
        args = [
            model_id,
            provider_slug,
            now,
            outcome_of(ok, error_kind),
            error_kind or "unknown",
            "" if latency_ms is None else int(latency_ms),
            "" if ttft_ms is None else int(ttft_ms),
            rules.retention_seconds,
            LATENCY_SAMPLE,
            bucket_prefix,
            start,
            rules.bucket_seconds,
            rules.buckets,
            repr(float(rules.error_rate_threshold)),
            rules.min_requests,
            rules.consecutive_failures,
            rules.cooldown_ms,
            rules.forget_open_before(now),
            rules.forget_circuit_before(now),
        ]
        return {"keys": keys, "args": args}

    # --- the per-process copy of the open set ---

    def _cached_admission(self, model_id: str, now: int) -> Admission | None:
        """The answer from the process's copy of the open set, or None when Redis must be asked."""
        if now - self._open_read_at >= OPEN_SET_CACHE_SECONDS * 1000:
            return None
        until = self._open.get(model_id)
        if until is None:
            return ADMITTED
        if now < until:
            return Admission(False, OPEN, (until - now) / 1000)
        return None  # the cooldown is over: the probe lease is taken in Redis

    def _admission_from(self, reply: list, now: int) -> Admission:
        allowed, state, wait, flat = reply
        self._open = {flat[i]: int(float(flat[i + 1])) for i in range(0, len(flat), 2)}
        self._open_read_at = now
        return Admission(bool(allowed), state, None if int(wait) < 0 else int(wait) / 1000)

    def _recorded(self, model_id: str, until: int | None) -> None:
        """Our own record moved the circuit: this process sees it at once."""
        if until is None and model_id in self._open:
            self._open = {m: u for m, u in self._open.items() if m != model_id}
        elif until is not None and self._open.get(model_id) != until:
            self._open = {**self._open, model_id: int(until)}

    def _unavailable(self, exc: Exception, now: int) -> None:
        self._open_read_at = now  # keep the last known open set for a cache period instead of retrying every call
        if now - self._warned_at >= 60_000:
            self._warned_at = now
            logger.warning("health tracker: Redis unavailable, circuits are not enforced: %s", exc)

    # --- the interface ---

    async def admit(self, model_id: str) -> Admission:
        from redis import RedisError

        now = self.now_ms()
        if (cached := self._cached_admission(model_id, now)) is not None:
            return cached
        call = self._admit_call(model_id, now)
        try:
            reply = await self._pipe.evalsha(ADMIT_SCRIPT, call["keys"], call["args"])
        except RedisError as exc:
            self._unavailable(exc, now)
            return ADMITTED
        return self._admission_from(reply, now)

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
        from redis import RedisError

        now = self.now_ms()
        call = self._record_call(model_id, provider_slug, now, ok, error_kind, latency_ms, ttft_ms)
        try:
            until = await self._pipe.evalsha(RECORD_SCRIPT, call["keys"], call["args"])
        except RedisError as exc:
            self._unavailable(exc, now)
            return
        self._recorded(model_id, until)

    async def open_circuits(self) -> dict[str, float]:
        from redis import RedisError

        now = self.now_ms()
        if now - self._open_read_at >= OPEN_SET_CACHE_SECONDS * 1000:
            try:
                flat = await self._pipe.execute(
                    "ZRANGEBYSCORE", self._key("open"), self.rules.forget_open_before(now), "+inf", "WITHSCORES"
                )
            except RedisError as exc:
                self._unavailable(exc, now)
            else:
                self._open = {flat[i]: int(float(flat[i + 1])) for i in range(0, len(flat), 2)}
                self._open_read_at = now
        return {m: (until - now) / 1000 for m, until in self._open.items() if until > now}

    def admit_sync(self, model_id: str) -> Admission:
        now = self.now_ms()
        if (cached := self._cached_admission(model_id, now)) is not None:
            return cached
        return self._admission_from(self._admit_script(**self._admit_call(model_id, now)), now)

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
        now = self.now_ms()
        call = self._record_call(model_id, provider_slug, now, ok, error_kind, latency_ms, ttft_ms)
        self._recorded(model_id, self._record_script(**call))

    def snapshot_all(self) -> list[ModelHealthSnapshot]:
        """Two round trips: the model index and the open set, then every model's circuit and window buckets."""
        rules, now = self.rules, self.now_ms()
        pipe = self._client.pipeline(transaction=False)
        pipe.zrangebyscore(self._key("models"), rules.forget_circuit_before(now), "+inf")
        pipe.zrangebyscore(self._key("open"), rules.forget_open_before(now), "+inf", withscores=True)
        recent, open_flat = pipe.execute()
        open_until = {m: int(score) for m, score in open_flat}
        model_ids = sorted(set(recent) | set(open_until))
        starts = list(rules.window(now))
        pipe = self._client.pipeline(transaction=False)
        for model_id in model_ids:
            pipe.hgetall(self._key("c", model_id))
            for start in starts:
                pipe.hgetall(f"{self._key('b', model_id)}:{start}")
        replies = iter(pipe.execute())
        snapshots = []
        for model_id in model_ids:
            circuit = next(replies)
            buckets = [_bucket_from_hash(next(replies)) for _ in starts]
            fresh = int(float(circuit.get("last", 0))) >= rules.forget_circuit_before(now)
            snapshots.append(
                snapshot_of(
                    rules,
                    model_id,
                    circuit.get("provider", ""),
                    buckets,
                    until_ms=open_until.get(model_id),
                    opened_at_ms=int(float(circuit["opened_at"])) if fresh and "opened_at" in circuit else None,
                    consecutive=int(circuit.get("consec", 0)) if fresh else 0,
                    now_ms=now,
                )
            )
        return snapshots


def _bucket_from_hash(values: dict[str, str]) -> Bucket:
    bucket = Bucket(
        requests=int(values.get("req", 0)), successes=int(values.get("ok", 0)), failures=int(values.get("fail", 0))
    )
    for name, value in values.items():
        prefix, _, rest = name.partition(":")
        if prefix == "err":
            bucket.errors[rest] = int(value)
        elif prefix == "lat":
            bucket.latencies.append(int(value))
        elif prefix == "ttft":
            bucket.ttfts.append(int(value))
    return bucket
