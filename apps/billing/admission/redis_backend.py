"""The Redis backend: one Lua script per reservation and one per settlement, shared by every process and node.

Keys, all of one workspace under one hash tag (`sy:bill:{w<id>}:`), so a cluster keeps them on one slot:
    <counter key>          hash    spent, reserved, credit (credit balances only), h:<hold id> → amount held
    <counter key>:holds    zset    hold id → when it expires (ms): holds of crashed workers are released from here
    <rate key>:<window>    string  requests or tokens counted in a one-minute window
"""

import uuid

from asgiref.sync import sync_to_async

from apps.core.redis_pipe import RedisPipe, Script, shared_redis_pipe

from .base import (
    CREDITS,
    RATE_WINDOW_SECONDS,
    TOKENS,
    Admission,
    AdmissionUnavailable,
    Counter,
    Hold,
    RateLimit,
    RateState,
    Seeder,
    counter_ttl,
    now_seconds,
    rate_window,
)

REDIS_TIMEOUT_SECONDS = 0.5

RESERVE_LUA = """
-- KEYS: per counter its hash and its holds; then the rate windows.
-- ARGV: now (ms), hold id, hold expiry (ms), counters, rates, rate window ttl (s); per counter kind, limit,
--       amount, soft, ttl (s); per rate limit, amount.
-- Returns {'seed', i} when counter i must be seeded first, {'refused', i, available}, {'rate', j, counted},
-- or {'ok', {counted per rate}}.
local now, id, hold_until = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local nc, nr = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 1, nc do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 0 then return {'seed', i} end
end
for i = 1, nc do
  local hash, holds = KEYS[2 * i - 1], KEYS[2 * i]
  local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now)
  for _, hid in ipairs(expired) do
    local held = tonumber(redis.call('HGET', hash, 'h:' .. hid) or 0)
    if held ~= 0 then redis.call('HINCRBY', hash, 'reserved', -held) end
    redis.call('HDEL', hash, 'h:' .. hid)
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', holds, '-inf', now) end
end
local a = 7
for i = 1, nc do
  local kind, limit, amount, soft = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3]
  local v = redis.call('HMGET', KEYS[2 * i - 1], 'spent', 'reserved', 'credit')
  local spent, reserved = tonumber(v[1] or 0), tonumber(v[2] or 0)
  if kind == 'credits' then limit = tonumber(v[3] or 0) end
  if soft ~= '1' and spent + reserved + amount > limit then
    return {'refused', i, limit - spent - reserved}
  end
  a = a + 5
end
local rates_at = a
for j = 1, nr do
  local counted = tonumber(redis.call('GET', KEYS[2 * nc + j]) or 0)
  if counted + tonumber(ARGV[a + 1]) > tonumber(ARGV[a]) then return {'rate', j, counted} end
  a = a + 2
end
a = 7
for i = 1, nc do
  local hash, holds, amount, ttl = KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[a + 2]), ARGV[a + 4]
  if amount > 0 then
    redis.call('HINCRBY', hash, 'reserved', amount)
    redis.call('HSET', hash, 'h:' .. id, amount)
    redis.call('ZADD', holds, hold_until, id)
    redis.call('EXPIRE', holds, ttl)
  end
  redis.call('EXPIRE', hash, ttl)
  a = a + 5
end
local counted = {}
for j = 1, nr do
  counted[j] = redis.call('INCRBY', KEYS[2 * nc + j], ARGV[rates_at + 2 * (j - 1) + 1])
  redis.call('EXPIRE', KEYS[2 * nc + j], ARGV[6])
end
return {'ok', counted}
"""

SETTLE_LUA = """
-- KEYS: per counter its hash and its holds; then the token windows the call was counted in.
-- ARGV: hold id, counters, token windows; per counter actual, limit, soft; per token window the correction.
-- Returns per counter what went past its limit (soft counters; 0 for the others).
local id, nc, nt = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local a = 4
local over = {}
for i = 1, nc do
  local hash, holds = KEYS[2 * i - 1], KEYS[2 * i]
  local actual, limit, soft = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2]
  local held = tonumber(redis.call('HGET', hash, 'h:' .. id) or 0)
  if held ~= 0 then
    redis.call('HINCRBY', hash, 'reserved', -held)
    redis.call('HDEL', hash, 'h:' .. id)
  end
  redis.call('ZREM', holds, id)
  over[i] = 0
  -- A counter lost since (a flushed Redis) is seeded again from the database, which will hold this call.
  if actual > 0 and redis.call('EXISTS', hash) == 1 then
    local before = tonumber(redis.call('HGET', hash, 'spent') or 0)
    local after = redis.call('HINCRBY', hash, 'spent', actual)
    if soft == '1' then over[i] = math.max(0, after - math.max(limit, before)) end
  end
  a = a + 3
end
for j = 1, nt do
  if redis.call('EXISTS', KEYS[2 * nc + j]) == 1 then redis.call('INCRBY', KEYS[2 * nc + j], ARGV[a]) end
  a = a + 1
end
return over
"""

SEED_LUA = """
-- KEYS: a counter's hash. ARGV: spent, credit, ttl (s). Only the first seeder writes.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'spent', ARGV[1], 'reserved', 0, 'credit', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

CREDIT_LUA = """
-- KEYS: a credit balance's hash. ARGV: the change. A balance nobody holds is seeded from the ledger when needed.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'credit', ARGV[1]) end
return 1
"""


RESERVE_SCRIPT, SETTLE_SCRIPT, SEED_SCRIPT = Script(RESERVE_LUA), Script(SETTLE_LUA), Script(SEED_LUA)


def _prefix(workspace_id: int) -> str:
    return f"sy:bill:{{w{workspace_id}}}:"


class RedisAdmission:
    def __init__(self, url: str, *, client: RedisPipe | None = None):
        """`client`: what runs the scripts (by default the process's pipelined client of `url`)."""
        self.url = url
        self._pipe = client or shared_redis_pipe(url, timeout=REDIS_TIMEOUT_SECONDS)
        self._sync = None

    @staticmethod
    def _timeouts() -> dict:
        return {"socket_timeout": REDIS_TIMEOUT_SECONDS, "socket_connect_timeout": REDIS_TIMEOUT_SECONDS}

    async def reserve(
        self,
        workspace_id: int,
        amounts: list[tuple[Counter, int]],
        rates: list[tuple[RateLimit, int]],
        *,
        hold_seconds: float,
        seeder: Seeder,
    ) -> Admission:
        from redis import RedisError

        pipe = self._pipe
        prefix = _prefix(workspace_id)
        now = now_seconds()
        window, reset = rate_window(now)
        keys = [k for counter, _ in amounts for k in (prefix + counter.key, prefix + counter.key + ":holds")]
        keys += [f"{prefix}{limit.key}:{window}" for limit, _ in rates]
        hold_id = uuid.uuid4().hex
        args = [
            int(now * 1000),
            hold_id,
            int((now + hold_seconds) * 1000),
            len(amounts),
            len(rates),
            2 * RATE_WINDOW_SECONDS,
        ]
        for counter, amount in amounts:
            args += [counter.kind, counter.limit, amount, int(counter.soft), counter_ttl(counter, now)]
        for limit, amount in rates:
            args += [limit.limit, amount]
        try:
            for _ in range(len(amounts) + 1):
                reply = await pipe.evalsha(RESERVE_SCRIPT, keys, args)
                if reply[0] != "seed":
                    break
                counter = amounts[int(reply[1]) - 1][0]
                spent, credit = await sync_to_async(seeder, thread_sensitive=True)(counter)
                await pipe.evalsha(SEED_SCRIPT, [prefix + counter.key], [spent, credit, counter_ttl(counter, now)])
        except RedisError as exc:
            raise AdmissionUnavailable(str(exc)) from exc
        if reply[0] == "refused":
            return Admission(False, refused_counter=amounts[int(reply[1]) - 1][0], available=int(reply[2]))
        if reply[0] == "rate":
            limit, amount = rates[int(reply[1]) - 1]
            counted = int(reply[2])
            state = RateState(limit, max(0, limit.limit - counted), reset)
            return Admission(False, refused_rate=limit, retry_after=reset, rates=[state])
        counted = [int(c) for c in reply[1]]
        states = [
            RateState(limit, max(0, limit.limit - c), reset) for (limit, _), c in zip(rates, counted, strict=True)
        ]
        windows = zip(keys[2 * len(amounts) :], rates, strict=True)
        token_windows = [(key, amount) for key, (limit, amount) in windows if limit.kind == TOKENS and amount]
        hold = Hold(hold_id, workspace_id, amounts, token_windows)
        return Admission(True, hold=hold, rates=states)

    async def settle(self, hold: Hold, actual: dict[str, int], *, tokens: int) -> dict[str, int]:
        """Replace the hold by what the call really cost (counter key → units or tokens; missing: nothing); returns
        what went past each soft counter's limit. A settlement lost with its process is released at the hold's
        expiry instead."""
        from redis import RedisError

        prefix = _prefix(hold.workspace_id)
        keys = [k for counter, _ in hold.amounts for k in (prefix + counter.key, prefix + counter.key + ":holds")]
        keys += [key for key, _ in hold.token_windows]
        args = [hold.id, len(hold.amounts), len(hold.token_windows)]
        for counter, _ in hold.amounts:
            args += [actual.get(counter.key, 0), counter.limit, int(counter.soft)]
        args += [tokens - estimated for _, estimated in hold.token_windows]
        try:
            over = await self._pipe.evalsha(SETTLE_SCRIPT, keys, args)
        except RedisError as exc:
            raise AdmissionUnavailable(str(exc)) from exc
        return {counter.key: int(o) for (counter, _), o in zip(hold.amounts, over, strict=True) if int(o)}

    def credits_changed(self, workspace_id: int, units: int) -> None:
        if self._sync is None:
            import redis

            self._sync = redis.Redis.from_url(self.url, decode_responses=True, **self._timeouts())
            self._credit_script = self._sync.register_script(CREDIT_LUA)
        self._credit_script(keys=[_prefix(workspace_id) + CREDITS], args=[units])

    def reset(self) -> None:
        """Forget every counter (tests)."""
        import redis

        client = redis.Redis.from_url(self.url)
        for key in client.scan_iter("sy:bill:*", count=1000):
            client.delete(key)
        client.close()
