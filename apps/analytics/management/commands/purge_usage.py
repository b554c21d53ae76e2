from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.analytics.retention import RETENTION_BATCH_SIZE, usage_retention_cutoff, usage_retention_purge


class Command(BaseCommand):
    help = "Delete raw usage records older than USAGE_RETENTION_DAYS, in batches; hourly rollups are kept."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="Override USAGE_RETENTION_DAYS for this run (0 keeps all).")
        parser.add_argument("--batch-size", type=int, default=RETENTION_BATCH_SIZE, help="Ids per DELETE.")

    def handle(self, *args, days=None, batch_size=RETENTION_BATCH_SIZE, **options):
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        now = timezone.now()
        cutoff = usage_retention_cutoff(days=days, now=now)
        if cutoff is None:
            self.stdout.write("Usage retention is off (0 days); nothing deleted.")
            return
        deleted = usage_retention_purge(days=days, now=now, batch_size=batch_size)
        self.stdout.write(f"Deleted {deleted} usage records created before {cutoff:%Y-%m-%d %H:%M} UTC.")
