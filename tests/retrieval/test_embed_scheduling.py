"""The local embedder's scheduling, in process with a stand-in encoder that runs
one batch only when the test lets it: order and cancellation, no timing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import numpy as np
import pytest

from services.retrieval.embedders import LocalEmbedder, Priority, _Slots

WAIT = 60.0  # generous bound on waiting for the worker thread; never a measure


class GatedEncoder:
    """Records each batch when it starts and finishes it only when released."""

    dimension = 2

    def __init__(self) -> None:
        self.started: list[list[str]] = []
        self._permits = threading.Semaphore(0)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.started.append(list(texts))
        if not self._permits.acquire(timeout=WAIT):
            raise TimeoutError("the test never released this batch")
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    def release(self, batches: int = 1) -> None:
        for _ in range(batches):
            self._permits.release()


@pytest.fixture
async def gated():
    embedder = LocalEmbedder(batch_size=2, workers=1)
    encoder = GatedEncoder()
    embedder._encoder = encoder
    embedder.dimension = encoder.dimension
    yield embedder, encoder
    encoder.release(100)
    await embedder.close()


async def until(condition: Callable[[], bool]) -> None:
    """Poll (the worker thread cannot signal the loop) until the condition holds."""

    async def poll() -> None:
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT)


async def started(encoder: GatedEncoder, count: int) -> None:
    await until(lambda: len(encoder.started) >= count)


async def queued(embedder: LocalEmbedder, count: int) -> None:
    await until(lambda: sum(1 for *_, f in embedder._slots._waiters if not f.done()) >= count)


async def test_batches_are_embedding_batch_size_and_rows_keep_their_order(gated):
    embedder, encoder = gated
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    encoder.release(3)
    rows = await asyncio.wait_for(embedder.embed(texts), WAIT)
    assert encoder.started == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    assert rows[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


async def test_a_query_goes_ahead_of_queued_ingest_batches(gated):
    embedder, encoder = gated
    ingest = asyncio.create_task(embedder.embed([f"doc {i}" for i in range(10)]))
    other_ingest = asyncio.create_task(embedder.embed(["other 1", "other 2", "other 3"]))
    await started(encoder, 1)  # the first ingest batch runs; the rest wait
    await queued(embedder, 1)  # the other ingest's first batch
    query = asyncio.create_task(embedder.embed(["query"], priority=Priority.INTERACTIVE))
    await queued(embedder, 2)
    encoder.release()  # finish the running batch: the query is next
    await started(encoder, 2)
    assert encoder.started[1] == ["query"]
    encoder.release()
    await asyncio.wait_for(query, WAIT)
    assert not ingest.done()
    # Then the two ingests share the model batch by batch, in arrival order.
    encoder.release(7)
    await asyncio.wait_for(asyncio.gather(ingest, other_ingest), WAIT)
    assert encoder.started[2:5] == [["other 1", "other 2"], ["doc 2", "doc 3"], ["other 3"]]


async def test_a_cancelled_call_stops_at_the_next_batch(gated):
    embedder, encoder = gated
    ingest = asyncio.create_task(embedder.embed([f"doc {i}" for i in range(10)]))
    await started(encoder, 1)
    ingest.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ingest  # promptly, while its running batch is still running
    assert len(encoder.started) == 1
    # The slot is still taken by the running batch: the next call waits for it,
    # then runs, and nothing of the cancelled call runs any more.
    later = asyncio.create_task(embedder.embed(["later"]))
    await asyncio.sleep(0)
    assert len(encoder.started) == 1
    encoder.release(2)
    await asyncio.wait_for(later, WAIT)
    assert encoder.started == [["doc 0", "doc 1"], ["later"]]


async def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on():
    slots = _Slots(1)
    await slots.acquire(Priority.INGEST)
    first = asyncio.create_task(slots.acquire(Priority.INGEST))
    second = asyncio.create_task(slots.acquire(Priority.INGEST))
    await asyncio.sleep(0)
    slots.release()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(second, WAIT)
    assert first.cancelled()
    slots.release()
    await asyncio.wait_for(slots.acquire(Priority.INTERACTIVE), WAIT)  # nothing leaked


async def test_a_cancelled_waiter_leaves_the_queue():
    slots = _Slots(1)
    await slots.acquire(Priority.INGEST)
    waiter = asyncio.create_task(slots.acquire(Priority.INTERACTIVE))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    slots.release()
    await asyncio.wait_for(slots.acquire(Priority.INGEST), WAIT)
