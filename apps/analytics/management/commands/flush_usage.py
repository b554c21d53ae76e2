from django.core.management.base import BaseCommand

from apps.analytics.usage import usage_spool_ingest_orphans


class Command(BaseCommand):
    help = "Move usage records left in this node's spool by stopped gateway workers into the database."

    def handle(self, *args, **options):
        added = usage_spool_ingest_orphans()
        self.stdout.write(f"Ingested {added} usage records.")
