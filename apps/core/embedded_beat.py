"""The embedded mode's beat: without Redis there is no Celery worker or beat, so the server runs the periodic jobs
of CELERY_BEAT_SCHEDULE itself (usage rollups, health rollups, budget alerts, retention, …), one at a time, in
Django's sync thread. With Redis, Celery beat runs them once for every process instead.
"""

import asyncio
import logging

from asgiref.sync import sync_to_async
from celery.schedules import maybe_schedule
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)
TICK_SECONDS = 1.0


def beat_entries() -> list[tuple[str, object, object]]:
    """(name, task, schedule) for every entry; the task is called directly, as Celery's eager mode would."""
    return [
        (name, import_string(spec["task"]), maybe_schedule(spec["schedule"]))
        for name, spec in settings.CELERY_BEAT_SCHEDULE.items()
    ]


async def run_due(entries, last_run: dict) -> list[str]:
    """Run the entries that are due since their last run; returns their names. A failing job is logged and tried
    again when next due, like a beat task that raised."""
    ran = []
    for name, task, schedule in entries:
        due, _ = schedule.is_due(last_run[name])
        if not due:
            continue
        last_run[name] = timezone.now()
        ran.append(name)
        try:
            await sync_to_async(task, thread_sensitive=True)()
        except Exception:
            logger.exception("embedded beat: %s failed; will retry when next due", name)
    return ran


async def run_beat_forever() -> None:
    entries = beat_entries()
    started = timezone.now()
    last_run = {name: started for name, _, _ in entries}
    while True:
        await asyncio.sleep(TICK_SECONDS)
        await run_due(entries, last_run)
