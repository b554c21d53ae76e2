from django.core.management.base import BaseCommand

from apps.billing.tasks import budget_alerts_check_task


class Command(BaseCommand):
    help = "Send the budget alerts newly due: each threshold once per budget window (beat does it every minute)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--workspace", type=int, action="append", dest="workspace_ids", help="Only this workspace id (repeatable)."
        )

    def handle(self, *args, workspace_ids=None, **options):
        sent = budget_alerts_check_task(workspace_ids=workspace_ids)
        self.stdout.write(f"Sent {sent} budget alert{'' if sent == 1 else 's'}.")
