"""Gateway overhead: the same load against the mock provider directly and through Switchyard, side by side.

    .venv/bin/python benchmarks/gateway.py [--workers 2] [--duration 8] [--concurrency 1,16,64] [--repeat 3]
                                           [--litellm PATH/TO/litellm]

Starts, on 127.0.0.1: the mock provider; the floor (benchmarks/bare_forwarder.py: the same ASGI server and HTTP
client forwarding bytes, no gateway work at all); Switchyard (uvicorn with --workers ASGI workers and every
hot-path feature on: key auth, model resolution and plan checks, credential resolution, translation, usage
recording; its usage ingester runs too and its CPU counts with the gateway's) on a throwaway SQLite database;
and, with --litellm, a LiteLLM proxy (`pip install 'litellm[proxy]'` in its own venv) against the same mock.
The load generator is wrk (Debian: `apt-get install wrk`); --profile writes a py-spy profile of one worker.
Each round measures every target at every concurrency, non-streaming and streaming; the figures printed are
medians over the rounds.
"""

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MODEL = "gpt-4o-mini"
MESSAGES = '[{"role": "user", "content": "Say hello to the benchmark in one short sentence."}]'

SETUP = """
from decimal import Decimal
from apps.catalog.models import AdapterKind, Model, Provider
from apps.keys.services import api_key_create
from apps.workspaces.models import Plan
from apps.workspaces.services import model_install, workspace_create

provider = Provider.objects.create(slug="openai", name="OpenAI", adapter_kind=AdapterKind.OPENAI, enabled=True,
                                   base_url="{mock}/v1", platform_key="mock-key")
model = Model.objects.create(provider=provider, model_id="openai/gpt-4o-mini", upstream_name="gpt-4o-mini",
                             display_name="GPT-4o mini", input_price=Decimal("0.00000015"),
                             output_price=Decimal("0.0000006"), supports_tools=True)
workspace = workspace_create(name="Bench", slug="bench", plan=Plan.objects.get(slug="enterprise"))
model_install(workspace=workspace, model=model)
print("SECRET=" + api_key_create(workspace=workspace, name="bench")[1])
# The same, with admission on: a blocking budget and the key's RPM and TPM limits, far from being reached.
from apps.billing.models import Budget
billed = workspace_create(name="Bench billing", slug="bench-billing", plan=Plan.objects.get(slug="enterprise"))
model_install(workspace=billed, model=model)
Budget.objects.create(workspace=billed, limit_usd=Decimal("1000000"), action="block")
billed_key, billed_secret = api_key_create(workspace=billed, name="bench")
billed_key.rpm_limit, billed_key.tpm_limit = 2_000_000_000, 2_000_000_000
billed_key.save()
print("BILLED_SECRET=" + billed_secret)
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""

LITELLM_CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {mock}/v1
      api_key: mock-key
litellm_settings:
  drop_params: true
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(url: str, script: Path, *, concurrency: int, duration: int) -> dict:
    threads = min(concurrency, 2)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": int(errors.group(1)) if errors else 0}


def rss_mib(pids: list[int]) -> list[float]:
    sizes = []
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return sizes


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, IndexError):
                if int((entry / "stat").read_text().split(") ", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def asgi_server_command(args, port: int, app: str) -> list[str]:
    return [
        str(Path(PYTHON).parent / "uvicorn"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        app,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are printed")
    parser.add_argument("--litellm", help="a LiteLLM proxy executable to measure side by side")
    parser.add_argument("--profile", help="write a py-spy profile (raw format) of one gateway worker to this file")
    parser.add_argument("--profile-mode", default="plain", choices=["plain", "stream"])
    parser.add_argument(
        "--redis", help="a Redis URL (its database is flushed) for Switchyard's counters; without it, the database's"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed as the load generator: apt-get install wrk")
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    work = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    mock_port, gateway_port, litellm_port = free_port(), free_port(), free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "USAGE_SPOOL_DIR": str(work / "spool"),
    }
    env.pop("REDIS_URL", None)
    if args.redis:
        import redis

        redis.Redis.from_url(args.redis).flushdb()
        env["REDIS_URL"] = args.redis
    processes: list[subprocess.Popen] = []
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        setup = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", SETUP.replace("{mock}", mock_url)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = re.search(r"^SECRET=(\S+)", setup.stdout, re.M).group(1)
        billed_key = re.search(r"^BILLED_SECRET=(\S+)", setup.stdout, re.M).group(1)

        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        processes.append(
            subprocess.Popen(
                [PYTHON, "manage.py", "mock_provider", "--port", str(mock_port), "--no-record"],
                cwd=ROOT,
                env=env,
                **quiet,
            )
        )
        gateway = subprocess.Popen(
            asgi_server_command(args, gateway_port, "config.asgi:application"),
            cwd=ROOT,
            env=env,
            **quiet,
        )
        processes.append(gateway)
        ingester = subprocess.Popen([PYTHON, "manage.py", "usage_ingester"], cwd=ROOT, env=env, **quiet)
        processes.append(ingester)
        floor_port = free_port()
        floor = subprocess.Popen(
            asgi_server_command(args, floor_port, "bare_forwarder:app"),
            cwd=ROOT / "benchmarks",
            env={**env, "BARE_FORWARDER_UPSTREAM": f"{mock_url}/v1/chat/completions"},
            **quiet,
        )
        processes.append(floor)
        targets = {
            "direct": f"{mock_url}/v1/chat/completions",
            "floor": f"http://127.0.0.1:{floor_port}/",
            "switchyard": f"http://127.0.0.1:{gateway_port}/v1/chat/completions",
            # The same server, called with the key whose calls go through admission (budget, RPM, TPM).
            "switchyard+billing": f"http://127.0.0.1:{gateway_port}/v1/chat/completions",
        }
        if args.litellm:
            config = work / "litellm.yaml"
            config.write_text(LITELLM_CONFIG.replace("{mock}", mock_url))
            processes.append(
                subprocess.Popen(
                    [
                        args.litellm,
                        "--config",
                        str(config),
                        "--port",
                        str(litellm_port),
                        "--num_workers",
                        str(args.workers),
                    ],
                    cwd=work,
                    # The same Bearer key as Switchyard's, as the proxy's master key (it refuses to run without one).
                    env={**os.environ, "LITELLM_MASTER_KEY": key},
                    **quiet,
                )
            )
            targets["litellm"] = f"http://127.0.0.1:{litellm_port}/v1/chat/completions"
        for port in (mock_port, gateway_port, floor_port, *([litellm_port] if args.litellm else [])):
            wait_for_port(port, timeout=120)

        scripts, billed_scripts = {}, {}
        for mode, extra in (("plain", ""), ("stream", ', "stream": true, "stream_options": {"include_usage": true}')):
            body = f'{{"model": "{MODEL}", "messages": {MESSAGES}{extra}}}'
            for chosen, secret, suffix in ((scripts, key, ""), (billed_scripts, billed_key, "-billed")):
                script = work / f"{mode}{suffix}.lua"
                script.write_text(WRK_SCRIPT.format(body=body, key=secret))
                chosen[mode] = script

        def script_for(name: str, mode: str) -> Path:
            return (billed_scripts if name == "switchyard+billing" else scripts)[mode]

        for name, url in targets.items():  # warm up: caches, pools, imports
            for mode in scripts:
                run_wrk(url, script_for(name, mode), concurrency=4, duration=2)

        # CPU per request of the server side of each target (the mock's share included in "direct").
        server_pids = {name: [processes[0].pid] for name in targets}
        server_pids["switchyard"] = server_pids["switchyard+billing"] = [*children(gateway.pid), ingester.pid]
        server_pids["floor"] = children(floor.pid)
        if args.litellm:
            server_pids["litellm"] = [processes[-1].pid, *children(processes[-1].pid)]
        results: dict[tuple, list[dict]] = {}
        profiled = False
        for round_number in range(args.repeat):
            print(f"round {round_number + 1}/{args.repeat}", file=sys.stderr)
            for mode in scripts:
                for concurrency in concurrencies:
                    for name, url in targets.items():
                        script = script_for(name, mode)
                        cpu_before = cpu_seconds(server_pids[name])
                        profiler = None
                        if args.profile and name == "switchyard" and not profiled and mode == args.profile_mode:
                            profiled = True
                            profiler = subprocess.Popen(
                                [
                                    str(Path(PYTHON).parent / "py-spy"),
                                    "record",
                                    "-p",
                                    str(server_pids[name][0]),
                                    "-d",
                                    str(max(1, args.duration - 1)),
                                    "-r",
                                    "400",
                                    "-f",
                                    "raw",
                                    "-o",
                                    args.profile,
                                    "--nonblocking",
                                ],
                                **quiet,
                            )
                        result = run_wrk(url, script, concurrency=concurrency, duration=args.duration)
                        if profiler is not None:
                            profiler.wait(30)
                        requests = result["rps"] * args.duration
                        result["cpu_ms"] = (cpu_seconds(server_pids[name]) - cpu_before) * 1000 / max(requests, 1)
                        results.setdefault((mode, concurrency, name), []).append(result)
        workers_rss = rss_mib(children(gateway.pid))
        report(results, targets, scripts, concurrencies, workers_rss, args)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def report(results, targets, scripts, concurrencies, workers_rss, args) -> None:
    def median(mode, concurrency, name, field):
        return statistics.median(r[field] for r in results[(mode, concurrency, name)])

    print(
        f"\nMedians of {args.repeat} rounds, {args.duration}s each, uvicorn with {args.workers} workers, "
        "wrk on 127.0.0.1"
    )
    header = f"{'mode':7} {'conc':>4} {'target':18} {'RPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    header += f" {'vs direct':>10} {'vs floor':>9} {'server CPU ms/req':>18}"
    print(header)
    print("-" * len(header))
    for mode in scripts:
        for concurrency in concurrencies:
            direct = median(mode, concurrency, "direct", "rps")
            floor = median(mode, concurrency, "floor", "rps")
            for name in targets:
                rps = median(mode, concurrency, name, "rps")
                errors = sum(r["errors"] for r in results[(mode, concurrency, name)])
                print(
                    f"{mode:7} {concurrency:>4} {name:18} {rps:>8.0f} {median(mode, concurrency, name, 'p50'):>8.2f} "
                    f"{median(mode, concurrency, name, 'p99'):>8.2f} {errors:>6} {rps / direct:>9.2f}x "
                    f"{rps / floor:>8.2f}x {median(mode, concurrency, name, 'cpu_ms'):>18.3f}"
                )
    for name in targets:
        if name in ("direct", "floor") or 1 not in concurrencies:
            continue
        for mode in scripts:
            added_p50 = median(mode, 1, name, "p50") - median(mode, 1, "direct", "p50")
            added_p99 = median(mode, 1, name, "p99") - median(mode, 1, "direct", "p99")
            print(f"added latency at concurrency 1, {mode}, {name}: p50 {added_p50:.2f} ms, p99 {added_p99:.2f} ms")
    if workers_rss:
        print("gateway worker RSS (MiB): " + ", ".join(f"{size:.0f}" for size in workers_rss))


if __name__ == "__main__":
    main()
