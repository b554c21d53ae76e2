import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.analytics.rollups import usage_rollup_build


def _moment(text: str) -> datetime.datetime:
    moment = parse_datetime(text)
    if moment is None:
        raise CommandError(f"'{text}' is not an ISO date-time, e.g. 2026-11-01T00:00:00Z.")
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


class Command(BaseCommand):
    help = (
        "Fold newly ingested usage records into the hourly UsageRollup rows (beat does it every "
        "USAGE_ROLLUP_INTERVAL_SECONDS); with --since/--until, rebuild every hour with raw records in that range."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", type=_moment, help="ISO date-time (UTC unless it says otherwise)")
        parser.add_argument("--until", type=_moment, help="ISO date-time, exclusive")

    def handle(self, *args, since=None, until=None, **options):
        if since and until and since >= until:
            raise CommandError("--since must be before --until.")
        run = usage_rollup_build(since=since, until=until)
        self.stdout.write(
            f"Recomputed {run.hours} workspace-hours into {run.rows} rollup rows; "
            f"records read up to id {run.last_record_id}."
        )
