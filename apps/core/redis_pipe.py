"""A minimal asyncio Redis client for the gateway's hot path: EVALSHA and a few plain commands, pipelined on one
connection per process and event loop.

redis-py's asyncio client spends ~190 µs of CPU per EVALSHA (command packing, the pool's get/release, a timeout
context per call); a gateway request has a budget of about a millisecond. Here a call packs its command, writes it
at once and awaits a future; the connection's protocol parses RESP2 replies as they arrive and resolves the futures
in the order the commands were written. No pool, no task per call, one timer per timeout period.

- Replies as redis-py gives them with decode_responses=True: bulk and simple strings as str, integers as int, nil as
  None, arrays as lists (nested). An error reply raises redis.ResponseError (NoScriptError, …) for its call only.
- The connection opens on the first call of a loop (AUTH and SELECT from the URL) and closes itself when the loop's
  tasks are cancelled at its end (asyncio.run).
- A connection failure, or a call unanswered for `timeout` seconds, fails every call in flight with
  redis.ConnectionError / redis.TimeoutError (both redis.RedisError, which the backends treat as "Redis unavailable")
  and drops the connection; the next call opens a new one. At most `max_pending` calls wait on a connection: past
  that a call fails at once, so a server that stops reading cannot make the process grow without limit.
- EVALSHA of a script Redis does not have (a SCRIPT FLUSH, a restart) loads it and tries again.

Everything else (sync calls, Django's cache, Celery) stays on redis-py.
"""

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

DEFAULT_MAX_PENDING = 10_000  # calls in flight on one connection; each holds a future and its written command

Arg = str | bytes | int | float


class Script:
    """A Lua script known by its SHA1, as EVALSHA wants it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str):
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


def pack_command(args: Sequence[Arg]) -> bytes:
    """A RESP array of bulk strings."""
    # The usual command is keys, numbers and a SHA1: str and int, all ASCII, so one str is built and encoded once.
    parts = [f"*{len(args)}\r\n"]
    for arg in args:
        kind = type(arg)
        if kind is int:
            arg = str(arg)
        elif kind is not str:
            return _pack_any(args)
        parts.append(f"${len(arg)}\r\n{arg}\r\n")
    text = "".join(parts)
    return text.encode() if text.isascii() else _pack_any(args)


def _pack_any(args: Sequence[Arg]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        kind = type(arg)
        if kind is str:
            data = arg.encode()
        elif kind is int:
            data = b"%d" % arg
        elif kind is bytes:
            data = arg
        elif kind is float:
            data = repr(arg).encode()
        elif isinstance(arg, str):  # str enums: their value
            data = str.__str__(arg).encode()
        elif isinstance(arg, int) and kind is not bool:  # int enums: their value (bools are refused, as redis-py does)
            data = b"%d" % arg
        else:
            raise TypeError(f"a Redis argument must be str, bytes, int or float, not {kind.__name__}")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class ProtocolError(RedisConnectionError):
    """The server sent something that is not RESP2, or a reply nobody asked for."""


INCOMPLETE = object()  # what parse_reply returns until the whole reply has arrived


def _fresh(exc: Exception) -> Exception:
    """A new exception like `exc`: one instance raised in many calls would gather all their tracebacks."""
    return type(exc)(*exc.args)


def _error_reply(message: str) -> ResponseError:
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


def parse_reply(buf: bytes, pos: int) -> tuple[object, int]:
    """One RESP2 reply of `buf` starting at `pos`: (the value, where the next reply starts), or (INCOMPLETE, pos)
    when `buf` does not hold all of it yet. Error replies are returned as ResponseError instances, not raised."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return INCOMPLETE, pos
    kind = buf[pos]
    if kind == 36:  # $ bulk string
        size = int(buf[pos + 1 : end])
        if size < 0:
            return None, end + 2
        start = end + 2
        stop = start + size
        if len(buf) < stop + 2:
            return INCOMPLETE, pos
        return buf[start:stop].decode(), stop + 2
    if kind == 58:  # : integer
        return int(buf[pos + 1 : end]), end + 2
    if kind == 42:  # * array
        count = int(buf[pos + 1 : end])
        if count < 0:
            return None, end + 2
        items = []
        at = end + 2
        for _ in range(count):
            item, at = parse_reply(buf, at)
            if item is INCOMPLETE:
                return INCOMPLETE, pos
            items.append(item)
        return items, at
    if kind == 43:  # + simple string
        return buf[pos + 1 : end].decode(), end + 2
    if kind == 45:  # - error
        return _error_reply(buf[pos + 1 : end].decode()), end + 2
    raise ProtocolError(f"unexpected reply type byte {bytes([kind])!r}")


class _Connection(asyncio.Protocol):
    """One TCP connection: commands written in order, their futures resolved in the same order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, max_pending: int):
        self.loop = loop
        self.timeout = timeout
        self.max_pending = max_pending
        self.transport: asyncio.Transport | None = None
        self.failure: Exception | None = None  # set once the connection is unusable
        self._pending: deque[tuple[asyncio.Future, float]] = deque()  # (future, deadline) per written command
        self._buffer = b""
        self._timer: asyncio.TimerHandle | None = None
        self._watched: tuple | None = None  # the pending entry the timer was set for
        self._keeper: asyncio.Task | None = None

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        # Closes the connection when asyncio.run (or uvicorn) cancels the loop's tasks at its end.
        self._keeper = self.loop.create_task(self._close_at_loop_end())

    def data_received(self, data: bytes) -> None:
        buf = self._buffer + data if self._buffer else data
        pos, pending = 0, self._pending
        try:
            while True:
                reply, after = parse_reply(buf, pos)
                if reply is INCOMPLETE:
                    break
                pos = after
                if not pending:
                    raise ProtocolError("Redis sent a reply nobody asked for")
                future = pending.popleft()[0]
                if not future.done():  # a cancelled caller's reply is read and dropped
                    if isinstance(reply, ResponseError):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except (ValueError, IndexError, ProtocolError) as exc:
            self.fail(exc if isinstance(exc, ProtocolError) else ProtocolError(f"unreadable reply from Redis: {exc}"))
            return
        self._buffer = buf[pos:] if pos < len(buf) else b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"Redis closed the connection{f': {exc}' if exc else ''}"))

    # --- calls ---

    def send(self, command: bytes) -> asyncio.Future:
        if self.failure is not None:
            raise _fresh(self.failure)
        pending = self._pending
        if len(pending) >= self.max_pending:
            raise RedisConnectionError(f"{len(pending)} Redis calls already wait for a reply on this connection")
        future = self.loop.create_future()
        entry = (future, self.loop.time() + self.timeout)
        pending.append(entry)
        self.transport.write(command)
        if self._timer is None:
            self._watch(entry)
        return future

    def _watch(self, entry: tuple) -> None:
        self._watched = entry
        self._timer = self.loop.call_at(entry[1], self._check_timeout)

    def _check_timeout(self) -> None:
        """The oldest call still waiting is the one the timer was set for: it has had its whole timeout."""
        self._timer = None
        if not self._pending:
            return
        if self._pending[0] is self._watched:
            self.fail(RedisTimeoutError(f"Redis did not answer within {self.timeout} s"))
        else:
            self._watch(self._pending[0])

    def fail(self, exc: Exception) -> None:
        """Fail every call in flight with `exc` and drop the connection."""
        if self.failure is None:
            self.failure = exc
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, deque()
        for future, _ in pending:
            if not future.done():
                future.set_exception(_fresh(exc))
        if self.transport is not None:
            self.transport.abort()
        if self._keeper is not None and self._keeper is not asyncio.current_task(self.loop):
            self._keeper.cancel()

    async def _close_at_loop_end(self) -> None:
        try:
            await self.loop.create_future()
        except asyncio.CancelledError:
            if self.failure is None:
                self.fail(RedisConnectionError("the event loop is closing"))


def _parse_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"a Redis URL starts with redis:// or rediss://, not {parts.scheme}://")
    path = parts.path.strip("/")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 6379,
        "db": int(path) if path else 0,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "tls": parts.scheme == "rediss",
    }


class RedisPipe:
    """The client of one Redis URL: one pipelined connection per event loop."""

    def __init__(self, url: str, *, timeout: float, max_pending: int = DEFAULT_MAX_PENDING):
        self._address = _parse_url(url)
        self.timeout = timeout
        self.max_pending = max_pending
        self._connections: dict[asyncio.AbstractEventLoop, _Connection] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Future] = {}

    async def execute(self, *args: Arg):
        """Send one command and return its reply."""
        command = pack_command(args)
        connection = self._connections.get(asyncio.get_running_loop())
        if connection is None or connection.failure is not None:
            connection = await self._connection()
        return await connection.send(command)

    async def evalsha(self, script: Script, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()):
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.execute("SCRIPT", "LOAD", script.source)
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def aclose(self) -> None:
        """Close the running loop's connection (the next call opens another)."""
        connection = self._connections.pop(asyncio.get_running_loop(), None)
        if connection is not None:
            connection.fail(RedisConnectionError("the connection was closed"))

    async def _connection(self) -> _Connection:
        """The running loop's connection, opened by one caller while the others wait for it."""
        loop = asyncio.get_running_loop()
        opening = self._opening.get(loop)
        if opening is None:
            opening = self._opening[loop] = loop.create_task(self._open(loop))
            opening.add_done_callback(lambda task: self._opened(loop, task))
        return await asyncio.shield(opening)

    def _opened(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
        self._opening.pop(loop, None)
        if not task.cancelled():
            task.exception()  # seen by the callers; read here too in case they were all cancelled

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        # Connections of loops that have ended are forgotten (they closed themselves when their tasks were cancelled).
        for old in list(self._connections):  # list(): other threads' loops may add theirs meanwhile
            if old.is_closed():
                self._connections.pop(old, None)
        address = self._address
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(loop, self.timeout, self.max_pending),
                    address["host"],
                    address["port"],
                    ssl=ssl.create_default_context() if address["tls"] else None,
                ),
                self.timeout,
            )
        except OSError as exc:  # refused, unreachable, timed out (TimeoutError), TLS failed (SSLError)
            raise RedisConnectionError(
                f"cannot connect to Redis at {address['host']}:{address['port']}: {str(exc) or 'timed out'}"
            ) from exc
        handshake = []
        if address["password"] is not None:
            credentials = [address["username"], address["password"]] if address["username"] else [address["password"]]
            handshake.append(connection.send(pack_command(["AUTH", *credentials])))
        if address["db"]:
            handshake.append(connection.send(pack_command(["SELECT", address["db"]])))
        try:
            await asyncio.gather(*handshake)
        except ResponseError as exc:
            connection.fail(AuthenticationError(f"Redis refused the connection's AUTH or SELECT: {exc}"))
            raise connection.failure from exc
        self._connections[loop] = connection
        return connection


_shared: dict[tuple[str, float], RedisPipe] = {}


def shared_redis_pipe(url: str, *, timeout: float) -> RedisPipe:
    """The process's client of `url`: the backends that use the same Redis share its connection."""
    pipe = _shared.get((url, timeout))
    if pipe is None:
        pipe = _shared[(url, timeout)] = RedisPipe(url, timeout=timeout)
    return pipe
