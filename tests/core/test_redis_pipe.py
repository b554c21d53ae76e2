"""The pipelined asyncio Redis client of the hot path: against the real Redis of REDIS_URL (those tests are skipped
without it) and against a fake server on 127.0.0.1 for failures a real one will not produce on demand."""

import asyncio
import enum
import time

import pytest
import redis
from django.conf import settings

from apps.core.redis_pipe import INCOMPLETE, RedisPipe, Script, pack_command, parse_reply
from tests.core.redis_fakes import CLOSE, OK, REFUSE_AUTH, SILENT, FakeRedis

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
ECHO = Script("return ARGV[1]")


def _pipe(url: str | None = None, **options) -> RedisPipe:
    return RedisPipe(url or settings.REDIS_URL, **{"timeout": 2.0, **options})


def _sync_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


# --- against the real Redis ------------------------------------------------------------------------------------------


@needs_redis
def test_replies_of_every_type():
    pipe = _pipe()
    nested = Script("return {1, 'two', {3, {'four', false}, {}}, false, redis.status_reply('FINE')}")

    async def scenario() -> list:
        big = "é" * 300_000  # 600 kB: arrives over several reads
        return [
            await pipe.execute("PING"),
            await pipe.execute("SET", "pipe:s", big),
            await pipe.execute("GET", "pipe:s") == big,
            await pipe.execute("GET", "pipe:missing"),
            await pipe.execute("SET", "pipe:empty", ""),
            await pipe.execute("GET", "pipe:empty"),
            await pipe.execute("INCRBY", "pipe:n", -7),
            await pipe.execute("LRANGE", "pipe:missing", 0, -1),
            await pipe.evalsha(nested),
            await pipe.execute("ECHO", b"\x00bytes\r\n"),
        ]

    assert asyncio.run(scenario()) == [
        "PONG",
        "OK",
        True,
        None,
        "OK",
        "",
        -7,
        [],
        [1, "two", [3, ["four", None], []], None, "FINE"],
        "\x00bytes\r\n",
    ]


@needs_redis
def test_many_concurrent_calls_on_one_connection_each_get_their_own_reply():
    pipe = _pipe()

    async def scenario() -> tuple:
        first_id = await pipe.execute("CLIENT", "ID")
        replies = await asyncio.gather(*(pipe.evalsha(ECHO, [], [f"call {i}"]) for i in range(500)))
        return first_id, replies, await pipe.execute("CLIENT", "ID")

    first_id, replies, last_id = asyncio.run(scenario())
    assert replies == [f"call {i}" for i in range(500)]
    assert first_id == last_id  # one connection did it all


@needs_redis
def test_an_error_reply_fails_only_its_call():
    pipe = _pipe()

    async def scenario() -> list:
        calls = [
            pipe.execute("ECHO", "before"),
            pipe.evalsha(Script("return redis.error_reply('BOOM the script says no')")),
            pipe.execute("ECHO", "after"),
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    before, error, after = asyncio.run(scenario())
    assert (before, after) == ("before", "after")
    assert isinstance(error, redis.ResponseError) and str(error) == "BOOM the script says no"


@needs_redis
def test_a_flushed_script_is_loaded_again_without_the_caller_seeing_it():
    pipe = _pipe()
    script = Script("return 'flushed and back ' .. ARGV[1]")

    async def scenario() -> list:
        first = await pipe.evalsha(script, [], ["1"])
        await pipe.execute("SCRIPT", "FLUSH")
        assert await pipe.execute("SCRIPT", "EXISTS", script.sha) == [0]
        return [first, await pipe.evalsha(script, [], ["2"]), await pipe.execute("SCRIPT", "EXISTS", script.sha)]

    assert asyncio.run(scenario()) == ["flushed and back 1", "flushed and back 2", [1]]


@needs_redis
def test_keys_and_args_reach_the_script():
    pipe = _pipe()
    script = Script("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], #ARGV}")
    reply = asyncio.run(pipe.evalsha(script, ["pipe:a", "pipe:b"], ["x", 5, 2.5]))
    assert reply == ["pipe:a", "pipe:b", "x", "5", "2.5", 3]


@needs_redis
def test_a_connection_killed_by_the_server_fails_the_calls_in_flight_and_the_next_call_reconnects():
    pipe = _pipe(timeout=5.0)
    admin = _sync_redis()

    async def scenario() -> tuple:
        killed_id = await pipe.execute("CLIENT", "ID")
        waiting = asyncio.ensure_future(pipe.execute("BLPOP", "pipe:never-pushed", 4))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        admin.execute_command("CLIENT", "KILL", "ID", killed_id)  # only this connection: others share the server
        with pytest.raises(redis.ConnectionError):
            await waiting
        failed_after = time.monotonic() - started
        return killed_id, failed_after, await pipe.execute("CLIENT", "ID"), await pipe.execute("ECHO", "back")

    killed_id, failed_after, new_id, echoed = asyncio.run(scenario())
    assert failed_after < 1  # at once, not at the BLPOP's or the client's timeout
    assert new_id != killed_id and echoed == "back"


@needs_redis
def test_a_cancelled_call_does_not_shift_the_replies_of_the_next_ones():
    pipe = _pipe()

    async def scenario() -> list:
        cancelled = asyncio.ensure_future(pipe.execute("ECHO", "cancelled"))
        await asyncio.sleep(0)  # written, its reply not read yet
        cancelled.cancel()
        return await asyncio.gather(pipe.execute("ECHO", "one"), pipe.execute("ECHO", "two"))

    assert asyncio.run(scenario()) == ["one", "two"]


@needs_redis
def test_each_event_loop_has_its_own_connection_closed_when_the_loop_ends():
    pipe = _pipe()
    first_id = asyncio.run(pipe.execute("CLIENT", "ID"))
    second_id = asyncio.run(pipe.execute("CLIENT", "ID"))
    assert first_id != second_id
    deadline = time.monotonic() + 2  # the server notices the close a moment later
    while str(first_id) in {c["id"] for c in _sync_redis().client_list()} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert str(first_id) not in {c["id"] for c in _sync_redis().client_list()}


@needs_redis
def test_select_picks_the_urls_database():
    other_db = (int(settings.REDIS_URL.rsplit("/", 1)[1]) + 1) % 16
    url = settings.REDIS_URL.rsplit("/", 1)[0] + f"/{other_db}"

    async def scenario() -> int:
        return await RedisPipe(url, timeout=2.0).execute("CLIENT", "INFO")

    assert f" db={other_db} " in asyncio.run(scenario())


# --- against a fake server ---------------------------------------------------------------------------------------


def test_auth_and_select_come_first_with_the_urls_credentials_and_database():
    async def scenario(credentials: str, db: int | None) -> list:
        async with FakeRedis(OK) as fake:
            pipe = RedisPipe(fake.url(credentials, db), timeout=2.0)
            await asyncio.gather(pipe.execute("PING"), pipe.execute("ECHO", "x"))
            await pipe.aclose()
            return fake.commands

    assert asyncio.run(scenario("app:s%40cret@", 3)) == [
        ["AUTH", "app", "s@cret"],
        ["SELECT", "3"],
        ["PING"],
        ["ECHO", "x"],
    ]
    assert asyncio.run(scenario(":only-a-password@", 0)) == [["AUTH", "only-a-password"], ["PING"], ["ECHO", "x"]]
    assert asyncio.run(scenario("", None)) == [["PING"], ["ECHO", "x"]]


def test_a_refused_password_is_a_connection_error_and_no_command_follows():
    async def scenario() -> list:
        async with FakeRedis(REFUSE_AUTH) as fake:
            pipe = RedisPipe(fake.url(":hunter2@", 2), timeout=2.0)
            with pytest.raises(redis.AuthenticationError) as refused:
                await pipe.execute("PING")
            assert "hunter2" not in str(refused.value)  # the password is never in a message
            return fake.commands

    assert asyncio.run(scenario()) == [["AUTH", "hunter2"], ["SELECT", "2"]]


def test_a_server_that_closes_fails_the_calls_in_flight_and_the_next_call_reconnects():
    async def scenario() -> tuple:
        async with FakeRedis(CLOSE) as fake:
            pipe = RedisPipe(fake.url(), timeout=5.0)
            started = time.monotonic()
            results = await asyncio.gather(*(pipe.execute("ECHO", i) for i in range(3)), return_exceptions=True)
            failed_after = time.monotonic() - started
            with pytest.raises(redis.ConnectionError):
                await pipe.execute("PING")
            return results, failed_after, fake.connections

    results, failed_after, connections = asyncio.run(scenario())
    assert all(isinstance(r, redis.ConnectionError) for r in results)
    assert failed_after < 1
    assert connections == 2


def test_a_server_that_never_answers_times_out_within_the_timeout_and_the_next_call_reconnects():
    async def scenario() -> tuple:
        async with FakeRedis(SILENT) as fake:
            pipe = RedisPipe(fake.url(), timeout=0.3)
            first = asyncio.ensure_future(pipe.execute("PING"))
            await asyncio.sleep(0.1)
            later = asyncio.ensure_future(pipe.execute("PING"))
            started = time.monotonic()
            results = await asyncio.gather(first, later, return_exceptions=True)
            waited = time.monotonic() - started
            with pytest.raises(redis.TimeoutError):
                await pipe.execute("PING")
            return results, waited, fake.connections

    results, waited, connections = asyncio.run(scenario())
    assert all(isinstance(r, redis.TimeoutError) for r in results)  # the later call fails with the first
    assert 0.1 < waited < 0.45  # the first call's 0.3 s, less the 0.1 s already waited
    assert connections == 2


def test_calls_past_the_pending_bound_fail_at_once():
    async def scenario() -> tuple:
        async with FakeRedis(SILENT) as fake:
            pipe = RedisPipe(fake.url(), timeout=1.0, max_pending=5)
            waiting = [asyncio.ensure_future(pipe.execute("PING")) for _ in range(5)]
            await asyncio.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(redis.ConnectionError, match="already wait"):
                await pipe.execute("PING")
            refused_after = time.monotonic() - started
            await asyncio.gather(*waiting, return_exceptions=True)
            return refused_after, len(fake.commands)

    refused_after, received = asyncio.run(scenario())
    assert refused_after < 0.1 and received == 5


def test_nothing_listening_is_a_connection_error():
    with pytest.raises(redis.ConnectionError, match="cannot connect"):
        asyncio.run(RedisPipe("redis://127.0.0.1:1/0", timeout=0.5).execute("PING"))


def test_a_url_of_another_scheme_is_refused():
    with pytest.raises(ValueError, match="redis://"):
        RedisPipe("http://127.0.0.1:6379/0", timeout=0.5)


# --- the wire format -------------------------------------------------------------------------------------------


class Kind(enum.StrEnum):
    BUDGET = "budget"


class Limit(enum.IntEnum):
    TEN = 10


def test_commands_are_packed_as_arrays_of_bulk_strings():
    assert pack_command(["SET", "k", 12, 0.5, b"\x00"]) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$3\r\n0.5\r\n$1\r\n\x00\r\n"
    )
    assert pack_command(["SET", "clé", "é"]) == "*3\r\n$3\r\nSET\r\n$4\r\nclé\r\n$2\r\né\r\n".encode()  # bytes
    assert pack_command([Kind.BUDGET, Limit.TEN]) == b"*2\r\n$6\r\nbudget\r\n$2\r\n10\r\n"  # enums: their values
    with pytest.raises(TypeError):
        pack_command(["SET", "k", True])
    with pytest.raises(TypeError):
        pack_command(["SET", "k", None])


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        (b"+OK\r\n", "OK"),
        (b":-12\r\n", -12),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"$0\r\n\r\n", ""),
        (b"*2\r\n*1\r\n$1\r\na\r\n$-1\r\n", [["a"], None]),
    ],
)
def test_a_reply_is_read_only_once_all_of_it_has_arrived(wire, value):
    for cut in range(len(wire)):
        assert parse_reply(wire[:cut], 0) == (INCOMPLETE, 0)
    assert parse_reply(wire + b"+next\r\n", 0) == (value, len(wire))


def test_a_rediss_url_speaks_tls():
    async def scenario() -> bytes:
        first_bytes = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            first_bytes.set_result(await reader.read(3))
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(redis.ConnectionError):
            await RedisPipe(f"rediss://127.0.0.1:{port}/0", timeout=2.0).execute("PING")
        server.close()
        await server.wait_closed()
        return await first_bytes

    assert asyncio.run(scenario())[:2] == b"\x16\x03"  # a TLS handshake record, not a RESP command
