"""Durable usage recording off the response's critical path.

Each gateway worker appends one JSON line per request to its own spool file (a single write() into the page
cache: it survives a crash of the worker and needs neither Redis nor the database) and closes the file every
half second. `manage.py usage_ingester`, one per node, moves closed files into the database in batches, off the
workers' CPU and GIL. While no ingester is alive (its heartbeat file is stale), the workers ingest their own files,
so records never wait on an operator. Files a dead worker left open are claimed by the next ingest on the node,
by `manage.py flush_usage` or by its beat task. Ingest is idempotent (generation_id is unique).
"""

import logging
import os
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import orjson
from django.conf import settings
from django.db import close_old_connections, connection, models, transaction
from django.utils import timezone

from apps.analytics.models import UsageRecord
from apps.billing.services import ledger_usage_charges_record, overage_records_from_usage
from apps.keys.services import api_keys_mark_used

logger = logging.getLogger(__name__)

# The spool dicts use the model's attribute names (workspace_id, cost_usd…).
INSERT_FIELDS = [f for f in UsageRecord._meta.concrete_fields if f.attname != "id"]
# Only these need Django's conversion to a database value; the rest go in as the spool holds them.
PREPARED_TYPES = (models.JSONField, models.DateTimeField, models.DecimalField)
NULLABLE_REFERENCES = ("agent_id", "api_key_id", "member_id", "model_id", "provider_id")
HEARTBEAT_FILE = "ingester.heartbeat"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _abandoned(pid_text: str) -> bool:
    """True when the process that wrote or claimed a file is gone (or is this one, from a previous life)."""
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    return pid == os.getpid() or not _pid_alive(pid)


def _row(record: dict) -> list:
    row = []
    for field in INSERT_FIELDS:
        value = record.get(field.attname, NOT_GIVEN)
        if value is NOT_GIVEN:
            value = field.get_default()
        if isinstance(field, PREPARED_TYPES) and value is not None:
            if isinstance(field, models.DecimalField):
                value = Decimal(value)
            elif isinstance(field, models.DateTimeField):
                value = datetime.fromisoformat(value)
            value = field.get_db_prep_save(value, connection)
        row.append(value)
    return row


NOT_GIVEN = object()


def _without_nul(value):
    """PostgreSQL refuses NUL in text and JSON: a client's model name or a provider's error text could carry one, and
    one such record must not stop its whole batch from being written."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def usage_records_ingest(*, records: list[dict]) -> int:
    """Insert usage records given as spool dicts; returns how many were new.

    One INSERT … ON CONFLICT DO NOTHING run over the batch: the ORM's bulk_create spends most of its time
    building SQL and preparing values that are already in database form.
    """
    records = _without_dead_references([_without_nul(record) for record in records])
    if not records:
        return 0
    ids = [r["generation_id"] for r in records]
    before = UsageRecord.objects.filter(generation_id__in=ids).count()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in INSERT_FIELDS)
    sql = (
        f"INSERT INTO {quote(UsageRecord._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(INSERT_FIELDS))}) ON CONFLICT ({quote('generation_id')}) DO NOTHING"
    )
    rows = [_row(r) for r in records]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        overage_records_from_usage(records=records)
        ledger_usage_charges_record(records=records)  # in the same transaction: charged exactly when recorded
    api_keys_mark_used(api_key_ids={r.get("api_key_id") for r in records} - {None}, used_at=timezone.now())
    return UsageRecord.objects.filter(generation_id__in=ids).count() - before


def _without_dead_references(records: list[dict]) -> list[dict]:
    """A row a record points at (agent, key, model…) may have been deleted since the call: keep the record and
    drop the dead reference. A record whose workspace is gone has nowhere to belong and is dropped."""
    for name in (*NULLABLE_REFERENCES, "workspace_id"):
        wanted = {r.get(name) for r in records} - {None}
        if not wanted:
            continue
        related = UsageRecord._meta.get_field(name.removesuffix("_id")).related_model
        alive = set(related.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        for record in records:
            if record.get(name) not in alive:
                record[name] = None
    dropped = [r["generation_id"] for r in records if r.get("workspace_id") is None]
    if dropped:
        logger.error("usage records %s dropped: their workspace no longer exists", ", ".join(dropped))
    return [r for r in records if r.get("workspace_id") is not None]


class UsageSpool:
    def __init__(self, directory: Path, *, max_lines_per_file: int = 5000):
        self.directory = Path(directory)
        self.max_lines_per_file = max_lines_per_file
        self._fd: int | None = None
        self._path: Path | None = None
        self._lines = 0
        self._sequence = 0
        self._lock = threading.Lock()  # the event loop appends while the flusher's thread rotates
        self._ingest_lock = threading.Lock()  # one ingest at a time per process: its own claims are reclaimable

    def append(self, record: dict) -> None:
        line = orjson.dumps(record, default=str) + b"\n"
        with self._lock:
            if self._fd is None:
                self._open()
            os.write(self._fd, line)
            self._lines += 1
            if self._lines >= self.max_lines_per_file:
                self._rotate()

    @property
    def pending(self) -> int:
        return self._lines

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        self._path = self.directory / f"{os.getpid()}-{self._sequence}.jsonl"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._lines = 0

    def rotate(self) -> None:
        """Close the current file and mark it ready for ingest."""
        with self._lock:
            self._rotate()

    def _rotate(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)
        self._path.rename(self._path.with_suffix(".ready"))
        self._fd, self._path, self._lines = None, None, 0

    def _claimable(self) -> list[Path]:
        if not self.directory.exists():
            return []
        ready = sorted(self.directory.glob("*.ready"))
        orphans = [p for p in self.directory.glob("*.jsonl") if p != self._path and _abandoned(p.name.split("-")[0])]
        # A claim whose ingest failed (the database was down, say) is retried by this or any later process.
        claims = [p for p in self.directory.glob("*.claimed-*") if _abandoned(p.name.rsplit("-", 1)[1])]
        return ready + sorted(orphans) + sorted(claims)

    def ingest(self) -> int:
        """Move every closed or orphaned spool file on this node into the database; returns records added."""
        with self._ingest_lock:
            return self._ingest()

    def _ingest(self) -> int:
        added = 0
        for path in self._claimable():
            claimed = path.with_name(f"{path.name.split('.')[0]}.claimed-{os.getpid()}")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another process claimed it first
            records = [orjson.loads(line) for line in claimed.read_bytes().splitlines() if line.strip()]
            if not connection.in_atomic_block:  # a long-lived flusher thread drops dead or stale connections
                close_old_connections()
            added += usage_records_ingest(records=records)
            claimed.unlink()
        return added

    def flush(self) -> int:
        self.rotate()
        return self.ingest()

    # The node's ingester says it is alive by touching a file; workers ingest themselves while it is stale.

    def beat(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / HEARTBEAT_FILE).touch()

    def ingester_alive(self, *, within: float) -> bool:
        try:
            return time.time() - (self.directory / HEARTBEAT_FILE).stat().st_mtime < within
        except FileNotFoundError:
            return False


def usage_spool_ingest_orphans() -> int:
    """Ingest the spool files of this node that no live process is writing (for beat and `flush_usage`)."""
    return UsageSpool(settings.USAGE_SPOOL_DIR).ingest()
