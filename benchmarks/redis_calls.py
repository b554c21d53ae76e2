"""Redis calls of the billing hot path: reserve + settle pairs through RedisAdmission, run on redis-py's asyncio
client (what the backends used before) and on apps/core/redis_pipe.py, side by side in one run.

    .venv/bin/python benchmarks/redis_calls.py [--redis redis://127.0.0.1:6379/9] [--pairs 2000] [--tasks 32]
                                               [--rounds 5] [--loop uvloop|asyncio]

The Redis database of --redis is flushed first. Each pair is what one gateway call with billing on costs: a
reservation against a budget and a token quota with the API key's and the workspace's RPM and TPM limits, then its
settlement. Every round runs, for each client in turn (the order alternates between rounds): --pairs pairs one
after the other, then --pairs pairs spread over --tasks concurrent tasks. Printed per pair: CPU µs (this process's
CPU: the client's work, Redis's own is not counted) and wall µs; medians over the rounds.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
import redis.asyncio  # noqa: E402

from apps.billing.admission import BUDGET, QUOTA, REQUESTS, TOKENS, Counter, RateLimit, RedisAdmission  # noqa: E402
from apps.billing.admission.redis_backend import REDIS_TIMEOUT_SECONDS  # noqa: E402
from apps.core.redis_pipe import RedisPipe, Script  # noqa: E402


class RedisPyClient:
    """What the backends ran on before: redis-py's asyncio client on a blocking pool of 64 connections, the scripts
    registered on it (EVALSHA, loading the script on NOSCRIPT)."""

    def __init__(self, url: str):
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            decode_responses=True,
            max_connections=64,
            timeout=REDIS_TIMEOUT_SECONDS * 4,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._client = redis.asyncio.Redis(connection_pool=pool)
        self._scripts: dict[str, object] = {}

    async def evalsha(self, script: Script, keys=(), args=()):
        registered = self._scripts.get(script.sha)
        if registered is None:
            registered = self._scripts[script.sha] = self._client.register_script(script.source)
        return await registered(keys=keys, args=args)


def call_limits(workspace_id: int) -> tuple[list, list]:
    """The counters and rate limits of one call, with room for any number of calls."""
    expires = time.time() + 86_400
    amounts = [
        (Counter(f"budget:{workspace_id}:bench", BUDGET, 10**15, expires, "budget", seed=(BUDGET,)), 20_000),
        (Counter("quota:bench", QUOTA, 10**15, expires, "quota", seed=(QUOTA,)), 1_500),
    ]
    rates = [
        (RateLimit("rpm:key:1", REQUESTS, 2_000_000_000, "API key"), 1),
        (RateLimit("tpm:key:1", TOKENS, 2_000_000_000, "API key"), 1_500),
        (RateLimit("rpm:workspace", REQUESTS, 2_000_000_000, "workspace"), 1),
        (RateLimit("tpm:workspace", TOKENS, 2_000_000_000, "workspace"), 1_500),
    ]
    return amounts, rates


async def run_pairs(backend: RedisAdmission, workspace_id: int, pairs: int) -> None:
    amounts, rates = call_limits(workspace_id)
    actual = {amounts[0][0].key: 7_000, amounts[1][0].key: 400}
    for _ in range(pairs):
        admission = await backend.reserve(workspace_id, amounts, rates, hold_seconds=60, seeder=lambda c: (0, 0))
        if not admission.allowed:
            raise RuntimeError(f"a benchmark call was refused: {admission}")
        await backend.settle(admission.hold, actual, tokens=400)


async def measure(backend: RedisAdmission, workspace_id: int, pairs: int, tasks: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per pair, the pairs spread over `tasks` concurrent tasks."""
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run_pairs(backend, workspace_id, pairs // tasks) for _ in range(tasks)))
    done = pairs // tasks * tasks
    return (time.process_time() - cpu) / done * 1e6, (time.perf_counter() - wall) / done * 1e6


async def main(args: argparse.Namespace) -> None:
    redis.Redis.from_url(args.redis).flushdb()
    clients = {
        f"redis-py {redis.__version__}": RedisAdmission(args.redis, client=RedisPyClient(args.redis)),
        "redis_pipe": RedisAdmission(args.redis, client=RedisPipe(args.redis, timeout=REDIS_TIMEOUT_SECONDS)),
    }
    workspaces = {name: 900_001 + i for i, name in enumerate(clients)}
    modes = {"sequential": 1, f"{args.tasks} tasks": args.tasks}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for name, backend in clients.items():  # warm up: connections, scripts, seeded counters
        await measure(backend, workspaces[name], max(args.tasks, args.pairs // 10), args.tasks)
    for number in range(args.rounds):
        order = list(clients) if number % 2 == 0 else list(reversed(clients))
        for name in order:
            for mode, tasks in modes.items():
                results.setdefault((name, mode), []).append(
                    await measure(clients[name], workspaces[name], args.pairs, tasks)
                )
        print(f"round {number + 1}/{args.rounds}", file=sys.stderr)

    print(f"\n{args.pairs} reserve+settle pairs per measurement, medians of {args.rounds} rounds ({args.loop} loop)")
    print(f"{'client':<18}{'mode':<12}{'CPU µs/pair':>14}{'wall µs/pair':>14}")
    medians = {}
    for (name, mode), figures in results.items():
        cpu, wall = (statistics.median(f[i] for f in figures) for i in (0, 1))
        medians[(name, mode)] = (cpu, wall)
        print(f"{name:<18}{mode:<12}{cpu:>14.0f}{wall:>14.0f}")
    before, after = list(clients)
    for mode in modes:
        (cpu_before, wall_before), (cpu_after, wall_after) = medians[(before, mode)], medians[(after, mode)]
        print(
            f"{mode}: redis_pipe uses {cpu_after / cpu_before:.0%} of the CPU and {wall_after / wall_before:.0%} "
            f"of the wall time of redis-py per pair"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="its database is flushed")
    parser.add_argument("--pairs", type=int, default=2000, help="reserve+settle pairs per measurement")
    parser.add_argument("--tasks", type=int, default=32, help="concurrent tasks of the concurrent measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"], help="uvloop: the gateway's")
    arguments = parser.parse_args()
    if arguments.loop == "uvloop":
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
