"""A per-process cache with a time to live and one load at a time per key (no stampede when an entry expires).

The gateway's warm path reads only from these caches; the loaders run on the cold path, in Django's sync
thread. The TTL bounds how stale a process can be: revoking a key reaches every process within it.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from asgiref.sync import sync_to_async

T = TypeVar("T")


class TTLCache(Generic[T]):
    def __init__(self, loader: Callable[[str], T], *, ttl: Callable[[], float], max_entries: int = 100_000):
        self._loader = sync_to_async(loader, thread_sensitive=True)
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, T]] = {}
        self._loading: dict[str, asyncio.Future] = {}

    async def get(self, key: str) -> T:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await self._loader(key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(value)
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl(), value)
            return value
        finally:
            del self._loading[key]

    def clear(self) -> None:
        self._entries.clear()
