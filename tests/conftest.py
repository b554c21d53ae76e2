import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from aiohttp import web
from asgiref.sync import SyncToAsync
from django.db import connections

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


@pytest.fixture(scope="session")
def gateway_url() -> Iterator[str]:
    from config.asgi import application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, lifespan="on", log_level="warning", timeout_graceful_shutdown=1)
    )

    def serve() -> None:
        asyncio.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=serve, name="gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    # The gateway's database work ran on asgiref's sync thread: close its connections so the test database can go.
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """Debian's Chromium driven by Playwright, one browser per test module (`make test` installs it)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing and could not be installed (`make test` installs it with apt-get)."
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps its event loop marked as running in this thread, so Django would refuse the
        # test's own (synchronous) ORM calls and the database flush after each test.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
            yield browser
            browser.close()


@pytest.fixture
def page(chromium) -> Iterator:
    """A fresh browser tab (tests/browser.py); `page.problems` collects console errors and failed requests."""
    from tests.browser import browser_page

    tab = browser_page(chromium)
    yield tab
    tab.context.close()
