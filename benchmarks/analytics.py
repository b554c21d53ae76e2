"""Time the analytics of a big workspace: --records usage records (1M by default) over --days days, rolled up by the
hourly job, then /api/analytics/llm/summary, /usage and /costs and the usage dashboard page (/usage/, as a signed-in
member; also with --fresh records not rolled up yet, as between two runs of the job) timed server-side.

    .venv/bin/python benchmarks/analytics.py [--records 1000000] [--days 90] [--repeat 15]

The records go into a throwaway database created for the run and dropped afterwards, never your own data: a
temporary SQLite file by default, or `test_<name>` on the server DATABASE_URL points at (PostgreSQL: inserted with
COPY). The requests go through Django's whole stack in-process (middleware, API-key authentication, the view, JSON
rendering) with no network, so the time is the server's; the figures printed are medians (target: < 300 ms).
"""

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000
TARGET_MS = 300


def _rows(*, count: int, days: int, workspace_id: int, models, agents, fields, seed: int):
    """Batches of rows in `fields` order. As real traffic: each agent calls through its own API key, its primary model
    4 times in 5 and otherwise its fallback; 2% of requests fail; the router analysed 9 prompts in 10 (its
    `task_scores`), named only the task of 1 in 20 and said nothing of the rest."""
    from apps.routing.prompt_analysis import TASKS

    rng = random.Random(seed)
    now = datetime.datetime.now(datetime.UTC)
    span = max(int(days * 86400), 1)
    defaults = {f.attname: f.get_default() for f in fields}
    defaults.update(attempts="[]", routing="{}", endpoint="chat.completions")
    batch = []
    for n in range(count):
        agent_id, key_id, primary, fallback = rng.choice(agents)
        model_pk, model_name, provider_pk, provider_slug = models[primary if rng.random() < 0.8 else fallback]
        prompt, completion = rng.randint(50, 4000), rng.randint(10, 1500)
        failed = rng.random() < 0.02
        analysed = rng.random()
        if analysed < 0.9:
            weights = [rng.random() ** 3 for _ in TASKS]
            scores = {task: round(w / sum(weights), 4) for task, w in zip(TASKS, weights, strict=True)}
            routing = json.dumps({"task": max(scores, key=scores.get), "task_scores": scores})
        else:
            routing = json.dumps({"task": rng.choice(TASKS)}) if analysed < 0.95 else "{}"
        row = {
            **defaults,
            "generation_id": f"bench-{seed}-{n:09d}",
            "workspace_id": workspace_id,
            "agent_id": agent_id,
            "api_key_id": key_id,
            "requested_model": model_name,
            "routing": routing,
            "model_id": model_pk,
            "model_name": model_name,
            "provider_id": provider_pk,
            "provider_slug": provider_slug,
            "prompt_tokens": 0 if failed else prompt,
            "completion_tokens": 0 if failed else completion,
            "cost_usd": None if failed else Decimal(prompt * 15 + completion * 60) / Decimal(100_000_000),
            "latency_ms": rng.randint(150, 9000),
            "status": "error" if failed else "success",
            "error_type": "upstream_5xx" if failed else "",
            "http_status": 502 if failed else 200,
            "created_at": now - datetime.timedelta(seconds=rng.randrange(span)),
        }
        batch.append([row[f.attname] for f in fields])
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(connection, table: str, fields, batches) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
            for batch in batches:
                for row in batch:
                    copy.write_row(row)
        return
    sql = f"INSERT INTO {quote(table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        for batch in batches:
            cursor.executemany(sql, [[_sqlite_value(value) for value in row] for row in batch])


def _sqlite_value(value):
    """What Django would store: decimals and UTC date-times as text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(" ")
    return value


def _time(client, url: str, repeat: int, headers: dict) -> tuple[float, int]:
    timings = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:500]
        size = len(response.content)
    return statistics.median(timings), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90, help="the records' spread, up to now")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--fresh", type=int, default=1000, help="records of the last hour left for the dashboard to read raw"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one 90-day dashboard view: its SQL and Python hot spots"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    workdir = Path(tempfile.mkdtemp(prefix="analytics-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'analytics.sqlite3'}")

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the in-process client's host through ALLOWED_HOSTS
    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(workdir / "test_analytics.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    try:
        _run(args, connection)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


def _run(args, connection) -> None:
    from django.test import Client

    from apps.analytics.models import UsageRecord, UsageRollup
    from apps.analytics.rollups import usage_rollup_build
    from tests.catalog.factories import ModelFactory, ProviderFactory
    from tests.core.factories import UserFactory
    from tests.keys.factories import ApiKeyFactory
    from tests.workspaces.factories import AgentFactory, MembershipFactory, WorkspaceFactory

    workspace = WorkspaceFactory(slug="bench")
    providers = [ProviderFactory(slug=f"bench-p{n}") for n in range(4)]
    catalog = [ModelFactory(provider=providers[n % 4], upstream_name=f"model-{n}") for n in range(20)]
    models = [(m.pk, m.model_id, m.provider_id, m.provider.slug) for m in catalog]
    agents = [(None, ApiKeyFactory(workspace=workspace).pk, 0, 1)]  # calls as no agent
    for n in range(10):
        agent = AgentFactory(workspace=workspace, primary_model=catalog[n])
        agents.append((agent.pk, ApiKeyFactory(workspace=workspace, agent=agent).pk, n, 10 + n))
    _, secret = ApiKeyFactory.create_with_secret(workspace=workspace, name="bench")
    fields = [f for f in UsageRecord._meta.concrete_fields if f.attname != "id"]

    started = time.perf_counter()
    batches = _rows(
        count=args.records,
        days=args.days,
        workspace_id=workspace.pk,
        models=models,
        agents=agents,
        fields=fields,
        seed=1,
    )
    _insert(connection, UsageRecord._meta.db_table, fields, batches)
    inserted = UsageRecord.objects.count()
    print(f"inserted {inserted:,} usage records over {args.days} days: {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    started = time.perf_counter()
    run = usage_rollup_build()
    print(
        f"first rollup: {time.perf_counter() - started:.1f} s ({run.hours:,} workspace-hours, {run.rows:,} rollup rows)"
    )
    started = time.perf_counter()
    run = usage_rollup_build()
    print(
        f"second rollup, nothing new (reads the first run's ids again): {time.perf_counter() - started:.1f} s "
        f"({run.hours:,} workspace-hours)"
    )
    late = list(
        _rows(
            count=1000,
            days=args.days,
            workspace_id=workspace.pk,
            models=models,
            agents=agents,
            fields=fields,
            seed=2,
        )
    )
    _insert(connection, UsageRecord._meta.db_table, fields, late)
    started = time.perf_counter()
    run = usage_rollup_build()
    print(
        f"incremental rollup of 1,000 late records: {time.perf_counter() - started:.2f} s "
        f"({run.hours:,} workspace-hours recomputed)"
    )
    print(f"rollup rows in all: {UsageRollup.objects.count():,}")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have by now: the planner knows the rollups' size

    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    figures = {}
    for label, url in (
        ("summary (30d)", "/api/analytics/llm/summary"),
        ("summary (90d)", "/api/analytics/llm/summary?period=90d"),
        ("usage (30d, per day and model)", "/api/analytics/llm/usage?period=30d&interval=day&group_by=model"),
        ("usage (7d, per hour and agent)", "/api/analytics/llm/usage?period=7d&interval=hour&group_by=agent"),
        ("costs (90d, per model)", "/api/analytics/llm/costs?period=90d"),
        ("recommendations (30d)", "/api/analytics/llm/recommendations"),
        ("recommendations (90d)", "/api/analytics/llm/recommendations?days=90"),
    ):
        client.get(url, **headers)  # warm up: connection, caches
        figures[label] = _time(client, url, args.repeat, headers)

    member = Client()
    member.force_login(MembershipFactory(workspace=workspace, user=UserFactory(username="bench")).user)
    pages = (
        ("dashboard page (7d)", "/usage/?range=7d"),
        ("dashboard page (30d)", "/usage/"),
        ("dashboard page (90d)", "/usage/?range=90d"),
        ("dashboard CSV (90d)", "/usage/export.csv?range=90d"),
    )
    first_views = {}
    for label, url in pages:
        started = time.perf_counter()
        member.get(url)  # the first view: a fresh connection's and caches' first use
        if "CSV" not in label:
            first_views[label] = (time.perf_counter() - started) * 1000
        figures[label] = _time(member, url, args.repeat, {})
    if args.fresh:
        # Between two runs of the rollup job: the last hour's new records are read raw by the dashboard.
        fresh = _rows(
            count=args.fresh,
            days=1 / 24,
            workspace_id=workspace.pk,
            models=models,
            agents=agents,
            fields=fields,
            seed=3,
        )
        _insert(connection, UsageRecord._meta.db_table, fields, fresh)
        for label, url in pages[1:2]:
            figures[f"{label}, {args.fresh:,} records not rolled up"] = _time(member, url, args.repeat, {})
    print(f"medians of {args.repeat} requests each (server time, in-process):")
    for label, (median, size) in figures.items():
        verdict = "ok" if median < TARGET_MS else f"OVER the {TARGET_MS} ms target"
        print(f"  {label}: {median:.1f} ms ({size:,} bytes) {verdict}")
    print("first view of each:")
    for label, elapsed in first_views.items():
        print(f"  {label}: {elapsed:.1f} ms")
    if args.profile:
        _profile(member, "/usage/?range=90d")


def _profile(client, url: str) -> None:
    """Where one view's time goes: each SQL statement's time, and the Python functions by cumulative time."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    print(f"SQL of {url}: {len(queries)} statements, {sum(float(q['time']) for q in queries) * 1000:.1f} ms")
    for query in sorted(queries, key=lambda q: -float(q["time"]))[:8]:
        print(f"  {float(query['time']) * 1000:7.1f} ms  {query['sql'][:150]}")
    profiler = cProfile.Profile()
    profiler.runcall(client.get, url)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
