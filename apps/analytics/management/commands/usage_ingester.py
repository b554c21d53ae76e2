import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.analytics.usage import UsageSpool


class Command(BaseCommand):
    help = (
        "Move the gateway workers' usage spool files into the database as they close (run one per node). "
        "While it runs, the workers leave ingestion to it and keep their CPU for requests."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=settings.USAGE_FLUSH_INTERVAL)

    def handle(self, *args, interval, **options):
        spool = UsageSpool(settings.USAGE_SPOOL_DIR)
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        self.stdout.write(f"Ingesting usage from {settings.USAGE_SPOOL_DIR} every {interval}s.")
        while not stopping:
            spool.beat()
            try:
                spool.ingest()
            except Exception as exc:  # the files stay; the next cycle retries them
                self.stderr.write(f"ingest failed, will retry: {exc}")
            time.sleep(interval)
        spool.ingest()
