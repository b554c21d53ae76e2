"""Time the catalog sync: a first sync of the shipped LiteLLM map (+ an OpenRouter body) into an empty catalog, a
second sync of the same data (nothing to change), and a third where every LiteLLM price moved (one PriceChange per
priced model). Prints the median of each over --repeat runs.

    .venv/bin/python benchmarks/catalog_sync.py [--repeat 3] [--openrouter PATH] [--litellm PATH]

It runs against a throwaway database created for the run and dropped afterwards, never your own data: a temporary
SQLite file by default, or `test_<name>` on the server DATABASE_URL points at (e.g. PostgreSQL).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OPENROUTER = ROOT / "tests" / "catalog" / "fixtures" / "openrouter_models_small.json"


def _repriced_copy(source: Path, target: Path) -> None:
    """The LiteLLM map with every chat input price raised by 10%."""
    data = json.loads(source.read_bytes(), parse_float=Decimal)
    for entry in data.values():
        if isinstance(entry, dict) and entry.get("mode") == "chat" and entry.get("input_cost_per_token"):
            entry["input_cost_per_token"] = Decimal(entry["input_cost_per_token"]) * Decimal("1.1")
    target.write_text(json.dumps(data, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--litellm", type=Path, default=None, help="default: the shipped snapshot")
    parser.add_argument("--openrouter", type=Path, default=DEFAULT_OPENROUTER)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    workdir = Path(tempfile.mkdtemp(prefix="catalog-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'catalog.sqlite3'}")

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from apps.catalog.models import Model, ModelAlias, PriceChange, Provider
    from apps.catalog.services import catalog_sync

    litellm = args.litellm or Path(settings.CATALOG_LITELLM_SNAPSHOT)
    repriced = workdir / "litellm_repriced.json"
    _repriced_copy(litellm, repriced)

    if connection.vendor == "sqlite":
        # A file, as in the embedded mode (WAL), not the in-memory database tests use.
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(workdir / "test_catalog.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"litellm: {litellm}\nopenrouter: {args.openrouter}\nrepeat: {args.repeat}")
    timings: dict[str, list[float]] = {"first": [], "second (no change)": [], "every price changed": []}
    try:
        for run in range(args.repeat):
            PriceChange.objects.all().delete()
            ModelAlias.objects.all().delete()
            Model.objects.all().delete()
            Provider.objects.all().delete()
            for label, source in (
                ("first", litellm),
                ("second (no change)", litellm),
                ("every price changed", repriced),
            ):
                started = time.perf_counter()
                summary = catalog_sync(litellm_source=source, openrouter_source=args.openrouter)
                elapsed = time.perf_counter() - started
                timings[label].append(elapsed)
                changes = f"price changes {summary.price_changes}"
                print(f"run {run + 1} {label}: {elapsed:.2f} s ({summary.line()}, {changes})")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print("medians:")
    for label, values in timings.items():
        print(f"  {label}: {statistics.median(values):.2f} s")


if __name__ == "__main__":
    main()
