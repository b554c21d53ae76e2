"""The ASGI entry point: the two hot endpoints go to the gateway's own handler, everything else to Django.

Same process, settings, services and caches; Django's request handling (two thirds of the latency budget on
this path, see DESIGN.md) is skipped only where it matters.
"""

import asyncio
import contextlib
import functools
import logging

from asgiref.sync import sync_to_async
from django.conf import settings

from apps.core.embedded_beat import run_beat_forever

from . import chat, consensus
from .recording import usage_spool
from .upstream import close_sessions

logger = logging.getLogger(__name__)

# (method, path) -> handler(scope, receive, send)
HOT_ROUTES = {
    ("POST", "/v1/chat/completions"): functools.partial(chat.handle, wire=chat.OPENAI),
    ("POST", "/v1/messages"): functools.partial(chat.handle, wire=chat.ANTHROPIC),
    ("POST", "/v1/route"): chat.handle_route,
    ("POST", "/v1/consensus"): consensus.handle,
}
ORPHAN_SWEEP_EVERY = 60  # flush cycles between looks for files of dead workers


async def flush_usage_forever() -> None:
    """Close the spool file every interval; ingest it here only while the node has no live usage ingester."""
    spool = usage_spool()
    interval = settings.USAGE_FLUSH_INTERVAL
    cycle = 0
    while True:
        await asyncio.sleep(interval)
        cycle += 1
        try:
            if spool.pending:
                spool.rotate()
            if spool.ingester_alive(within=max(3.0, 5 * interval)):
                continue
            if cycle % ORPHAN_SWEEP_EVERY == 1 or any(spool.directory.glob("*.ready")):
                await sync_to_async(spool.ingest, thread_sensitive=True)()
        except Exception:  # the records stay in the spool and the next cycle retries them
            logger.exception("usage flush failed; will retry")


async def flush_usage_now() -> None:
    await sync_to_async(usage_spool().flush, thread_sensitive=True)()


class Application:
    def __init__(self, django_app):
        self.django_app = django_app
        self.flusher: asyncio.Task | None = None
        self.beat: asyncio.Task | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            handler = HOT_ROUTES.get((scope["method"], scope["path"]))
            if handler is not None:
                await self.ensure_flusher()
                await handler(scope, receive, send)
                return
            await self.django_app(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        else:
            await self.django_app(scope, receive, send)

    async def ensure_flusher(self) -> None:
        # Servers without lifespan support still get a flusher, started by the first hot request.
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(flush_usage_forever())
        # Embedded mode (no Redis, so no Celery beat): this process runs the periodic jobs itself.
        if settings.EMBEDDED_BEAT and (self.beat is None or self.beat.done()):
            self.beat = asyncio.create_task(run_beat_forever())

    async def lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.ensure_flusher()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in (self.flusher, self.beat):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                with contextlib.suppress(Exception):
                    await flush_usage_now()
                await close_sessions()
                await send({"type": "lifespan.shutdown.complete"})
                return
