import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from apps.routing.mock.server import MockProvider, MockState


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (local memory, or the test Redis database)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@dataclass
class RunningMock:
    url: str
    state: MockState

    def reset(self) -> None:
        self.state.rules.clear()
        self.state.requests.clear()


@pytest.fixture(scope="session")
def _mock_server() -> Iterator[RunningMock]:
    """The mock provider on a free 127.0.0.1 port, served over real HTTP from a background thread."""
    state = MockState()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def start() -> None:
        runner = web.AppRunner(
            MockProvider(state).app(), access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = site._server.sockets[0].getsockname()[1]
        started.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, name="mock-provider", daemon=True)
    thread.start()
    assert started.wait(10), "mock provider did not start"
    yield RunningMock(url=f"http://127.0.0.1:{holder['port']}", state=state)
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def mock_provider(_mock_server: RunningMock) -> Iterator[RunningMock]:
    _mock_server.reset()
    yield _mock_server
    _mock_server.reset()
