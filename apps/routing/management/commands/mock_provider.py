import asyncio

import uvloop
from aiohttp import web
from django.core.management.base import BaseCommand

from apps.routing.mock.server import MockProvider, MockState


class Command(BaseCommand):
    help = "Serve the mock provider (OpenAI, Anthropic and Gemini wire formats, faults on demand) on 127.0.0.1."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--no-record", action="store_true", help="Do not keep received requests (benchmarks).")

    def handle(self, *args, host, port, no_record, **options):
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        provider = MockProvider(MockState(record=not no_record))
        self.stdout.write(f"Mock provider on http://{host}:{port} (OpenAI /v1, Anthropic /v1/messages, Gemini /v1beta)")
        web.run_app(provider.app(), host=host, port=port, print=None, access_log=None, handler_cancellation=True)
