from django.conf import settings
from django.core.management.base import BaseCommand

from apps.routing.tasks import model_health_rollup_task


class Command(BaseCommand):
    help = "Write the models' rolling-window health figures and circuits into ModelHealth (beat does it every minute)."

    def handle(self, *args, **options):
        if not settings.REDIS_URL:
            # Without Redis each process counts for itself, and this one has served no requests.
            self.stderr.write("No REDIS_URL: only this process's figures are seen, so every model shows no traffic.")
        written = model_health_rollup_task()
        self.stdout.write(f"Rolled up the health of {written} models.")
