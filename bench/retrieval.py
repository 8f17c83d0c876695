"""Retrieval: embedding throughput, end-to-end upsert throughput, Search latency.

- Embedding: the torch-free NumPy MiniLM on SciFact abstracts (texts/s, tokens/s).
- Upsert: UpsertDocuments over gRPC to a real service process (chunk, embed, store),
  as a ratio to embedding alone (what the store and gRPC add).
- Search: embedded Qdrant (local mode) filled with synthetic chunks (random unit
  vectors and random-word keyword vectors: no embedding time), one tenant, as a
  ratio to an exact NumPy scan of the same vectors. 100k chunks in local mode
  is opt-in (AIMESH_BENCH_RETRIEVAL_100K=1: building it takes many minutes,
  since local mode persists every point to SQLite); otherwise the 100k row is
  the NumPy floor only. With AIMESH_BENCH_QDRANT_URL set, a Qdrant server is
  measured at both sizes as well.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

from aimesh.retrieval.v1 import retrieval_pb2 as pb
from aimesh.retrieval.v1 import retrieval_pb2_grpc as pb_grpc
from services.retrieval import keywords
from services.retrieval.encoder import MiniLmEncoder
from services.retrieval.settings import REPO_ROOT, RetrievalSettings
from services.retrieval.store import ChunkStore, Fusion, Mode, StoredChunk
from tests.support import ServiceProcess

CORPUS = REPO_ROOT.parent / "shared" / "data" / "retrieval" / "scifact" / "corpus.jsonl"
RUNS = 3
QUERIES = 30
VOCABULARY = [f"term{i}" for i in range(30_000)]


def texts(n: int) -> list[dict[str, str]]:
    with CORPUS.open() as corpus:
        return [json.loads(line) for line, _ in zip(corpus, range(n), strict=False)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def bench_embedding(encoder: MiniLmEncoder, docs: list[dict[str, str]]) -> float:
    batch = [f"{d['title']}\n{d['text']}" for d in docs]
    tokens = sum(len(ids) for ids in encoder.token_ids(batch))
    rates = []
    for _ in range(RUNS):
        started = time.perf_counter()
        encoder.encode(batch)
        rates.append(len(batch) / (time.perf_counter() - started))
    rate = statistics.median(rates)
    print(
        f"| embedding (NumPy MiniLM, {len(batch)} abstracts) | {rate:.1f} texts/s"
        f" ({rate * tokens / len(batch):.0f} tokens/s) | 1.00 (baseline) |"
    )
    return rate


async def bench_upsert(docs: list[dict[str, str]], embed_rate: float) -> None:
    rates = []
    with tempfile.TemporaryDirectory() as store:
        env = {"AIMESH_RETRIEVAL_QDRANT_PATH": str(Path(store) / "q")}
        with ServiceProcess("retrieval", env) as service:
            async with grpc.aio.insecure_channel(service.target) as channel:
                stub = pb_grpc.RetrievalServiceStub(channel)
                for run in range(RUNS):
                    started = time.perf_counter()
                    for i in range(0, len(docs), 16):
                        request = pb.UpsertDocumentsRequest(
                            tenant=f"bench-{run}",
                            documents=[
                                pb.Document(id=d["_id"], title=d["title"], text=d["text"])
                                for d in docs[i : i + 16]
                            ],
                        )
                        await stub.UpsertDocuments(request, timeout=600)
                    rates.append(len(docs) / (time.perf_counter() - started))
    rate = statistics.median(rates)
    print(
        f"| UpsertDocuments over gRPC ({len(docs)} abstracts, batches of 16) |"
        f" {rate:.1f} docs/s | {rate / embed_rate:.2f} of embedding alone |"
    )


def synthetic(n: int, dimension: int, seed: int) -> tuple[np.ndarray, list[StoredChunk]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = []
    for i in range(n):
        words = " ".join(VOCABULARY[j] for j in rng.integers(0, len(VOCABULARY), 60))
        chunks.append(
            StoredChunk(
                document_id=f"doc{i // 10}",
                chunk_index=i % 10,
                start=0,
                end=len(words),
                text=words,
                title="",
                metadata={},
                dense=vectors[i].tolist(),
                keywords=keywords.document_vector(words),
            )
        )
    return vectors, chunks


async def bench_search(size: int, settings: RetrievalSettings, label: str, build: bool) -> None:
    vectors, chunks = synthetic(size, 384, seed=size)
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((QUERIES, 384)).astype(np.float32)
    floor = []
    for q in queries:
        started = time.perf_counter()
        np.argpartition(-(vectors @ q), 10)[:10]
        floor.append(time.perf_counter() - started)
    floor_p50 = percentile(floor, 0.5) * 1000
    print(f"| exact NumPy scan, {size:,} chunks | p50 {floor_p50:.2f} ms | 1.00 (baseline) |")
    if not build:
        return
    store = ChunkStore(settings, 384)
    await store.open()
    started = time.perf_counter()
    for i in range(0, size, 10):
        await store.replace_document("bench", chunks[i].document_id, chunks[i : i + 10])
    build_rate = size / (time.perf_counter() - started)
    print(f"| {label}: store {size:,} chunks | {build_rate:.0f} chunks/s | |")
    modes: tuple[Mode, ...] = ("dense", "keyword", "hybrid")
    for mode in modes:
        times = []
        for q in queries:
            words = " ".join(VOCABULARY[j] for j in rng.integers(0, len(VOCABULARY), 6))
            started = time.perf_counter()
            await store.search(
                "bench",
                mode=mode,
                dense=q.tolist(),
                keywords=keywords.query_vector(words),
                limit=10,
                metadata={},
                score_threshold=None,
                fusion=Fusion(),
            )
            times.append(time.perf_counter() - started)
        p50, p99 = percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000
        print(
            f"| {label} Search {mode}, {size:,} chunks | p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            f" | {p50 / floor_p50:.0f}x the scan |"
        )
    await store.close()


async def run() -> None:
    print("| measure | result | ratio |")
    print("|---|---|---|")
    encoder = MiniLmEncoder()
    docs = texts(32)
    embed_rate = bench_embedding(encoder, docs)
    await bench_upsert(docs, embed_rate)
    with tempfile.TemporaryDirectory() as tmp:
        big = os.environ.get("AIMESH_BENCH_RETRIEVAL_100K") == "1"
        for size in (10_000, 100_000):
            settings = RetrievalSettings(qdrant_path=Path(tmp) / str(size), collection="bench")
            await bench_search(size, settings, "embedded Qdrant", build=size == 10_000 or big)
        url = os.environ.get("AIMESH_BENCH_QDRANT_URL")
        if url:
            for size in (10_000, 100_000):
                settings = RetrievalSettings(qdrant_url=url, collection=f"bench_{size}")
                await bench_search(size, settings, "Qdrant server", build=True)
    print(
        "\nGoal: Search at 100k chunks under 20 ms p50. Embedded Qdrant scans every point"
        " in Python (filters and sparse vectors too), so it is for development and small"
        " stores; past ~10k chunks point AIMESH_RETRIEVAL_QDRANT_URL at a Qdrant server"
        " (HNSW index, tenant payload index)."
    )


def main() -> None:
    asyncio.run(run())
