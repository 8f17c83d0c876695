"""A bounded, fair wait queue in front of the local model's slots.

The embedded server decodes `slots` requests at once. More requests wait here,
served round-robin across tenants (FIFO within one tenant), so one busy tenant
cannot starve another; once `max_waiting` are waiting, a new request is refused
at once (RESOURCE_EXHAUSTED) instead of queueing into unbounded latency.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class QueueFull(Exception):
    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} requests already wait for the local model")
        self.waiting = waiting


class FairQueue:
    def __init__(self, slots: int, max_waiting: int) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self._busy = 0
        self._waiters: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self._waiting = 0

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def slot(self, key: str = "") -> AsyncIterator[None]:
        """Hold one slot for the body; wait fairly for it, or raise QueueFull."""
        if self._busy < self.slots and self._waiting == 0:
            self._busy += 1
        else:
            if self._waiting >= self.max_waiting:
                raise QueueFull(self._waiting)
            await self._wait(key)
        try:
            yield
        finally:
            self._release()

    async def _wait(self, key: str) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, deque()).append(future)
        self._waiting += 1
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                # Granted a slot just as we were cancelled: hand it on.
                self._release()
            else:
                self._forget(key, future)
            raise

    def _forget(self, key: str, future: asyncio.Future[None]) -> None:
        queue = self._waiters.get(key)
        if queue is not None and future in queue:
            queue.remove(future)
            self._waiting -= 1
            if not queue:
                del self._waiters[key]

    def _release(self) -> None:
        """Pass the slot to the next tenant in turn, or free it."""
        while self._waiters:
            key, queue = next(iter(self._waiters.items()))
            future = queue.popleft()
            self._waiting -= 1
            if queue:
                self._waiters.move_to_end(key)  # this tenant goes to the back of the line
            else:
                del self._waiters[key]
            if not future.done():
                future.set_result(None)  # the slot changes hands; _busy stays the same
                return
        self._busy -= 1
