"""make eval-retrieval: SciFact through the real service, dense vs keyword vs hybrid.

Starts the retrieval service as its own process (embedded Qdrant in a fresh
directory), ingests the corpus over gRPC, runs every dev claim in each search
mode and prints nDCG@10 and recall@10 (document level: a document's rank is
that of its best chunk), ingest throughput and Search latency.

    python -m services.retrieval.eval [--reuse] [--sweep]

--reuse keeps an already ingested store (skips the ingest measurement);
--sweep also prints nDCG@10 of weighted-RRF settings fused from the dense and
keyword lists, the way Qdrant fuses them, to choose the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import statistics
import time
from collections import defaultdict
from pathlib import Path

import grpc

from aimesh.retrieval.v1 import retrieval_pb2 as pb
from aimesh.retrieval.v1 import retrieval_pb2_grpc as pb_grpc
from services.retrieval.settings import REPO_ROOT
from tests.support import ServiceProcess

DATA = REPO_ROOT.parent / "shared" / "data" / "retrieval" / "scifact"
TENANT = "eval-scifact"
BATCH = 32
CANDIDATES = 100  # chunks fetched per query, enough for 10 distinct documents
MODES = {
    "dense": pb.SEARCH_MODE_DENSE,
    "keyword": pb.SEARCH_MODE_KEYWORD,
    "hybrid": pb.SEARCH_MODE_HYBRID,
}


def load(data: Path) -> tuple[list[dict[str, str]], dict[str, str], dict[str, set[str]]]:
    corpus = [json.loads(line) for line in (data / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries-dev.jsonl").open())}
    qrels: dict[str, set[str]] = defaultdict(set)
    for line in (data / "qrels" / "dev.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            qrels[query_id].add(doc_id)
    return corpus, {q: t for q, t in queries.items() if q in qrels}, qrels


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal


def recall_at_10(ranked: list[str], relevant: set[str]) -> float:
    return len(set(ranked[:10]) & relevant) / len(relevant)


def distinct_documents(chunk_doc_ids: list[str]) -> list[str]:
    return list(dict.fromkeys(chunk_doc_ids))


def rrf(lists: list[list[str]], weights: list[float], k: int) -> list[str]:
    """Qdrant's weighted RRF over chunk keys: 1 / ((rank + 1) / w + k - 1)."""
    scores: dict[str, float] = defaultdict(float)
    for ranked, weight in zip(lists, weights, strict=True):
        if weight <= 0:
            continue
        for position, key in enumerate(ranked):
            scores[key] += 1 / ((position + 1.0) / weight + k - 1.0)
    return sorted(scores, key=lambda key: -scores[key])


async def ingest(
    stub: pb_grpc.RetrievalServiceStub, corpus: list[dict[str, str]]
) -> tuple[float, int]:
    started = time.perf_counter()
    chunks = failed = 0
    for i in range(0, len(corpus), BATCH):
        docs = [
            pb.Document(id=d["_id"], title=d.get("title", ""), text=d["text"])
            for d in corpus[i : i + BATCH]
        ]
        response = await stub.UpsertDocuments(
            pb.UpsertDocumentsRequest(tenant=TENANT, documents=docs), timeout=600
        )
        chunks += sum(r.chunks for r in response.results)
        failed += response.failed
        done = min(i + BATCH, len(corpus))
        if done % (BATCH * 20) == 0 or done == len(corpus):
            rate = done / (time.perf_counter() - started)
            print(f"  ingested {done}/{len(corpus)} documents, {rate:.1f} docs/s", flush=True)
    if failed:
        print(f"  {failed} documents failed")
    return time.perf_counter() - started, chunks


async def run(args: argparse.Namespace) -> None:
    corpus, queries, qrels = load(Path(args.data))
    env = {
        "AIMESH_RETRIEVAL_QDRANT_PATH": args.store,
        "AIMESH_RETRIEVAL_EMBEDDING_WORKERS": str(args.workers),
    }
    with ServiceProcess("retrieval", env, start_timeout=300) as service:
        async with grpc.aio.insecure_channel(service.target) as channel:
            stub = pb_grpc.RetrievalServiceStub(channel)
            probe = await stub.Search(
                pb.SearchRequest(tenant=TENANT, query="test", top_k=1, mode=pb.SEARCH_MODE_KEYWORD)
            )
            ingest_line = "reused an existing store (no ingest measured)"
            if not (args.reuse and probe.results):
                print(f"ingesting {len(corpus)} SciFact abstracts over gRPC ...", flush=True)
                seconds, chunks = await ingest(stub, corpus)
                ingest_line = (
                    f"{len(corpus)} documents -> {chunks} chunks in {seconds:.0f} s:"
                    f" {len(corpus) / seconds:.1f} docs/s end to end (chunk, embed, store)"
                )
            results: dict[str, dict[str, list[str]]] = {}
            latencies: dict[str, list[float]] = {}
            metrics: dict[str, tuple[float, float]] = {}
            for name, mode in MODES.items():
                ranked_chunks: dict[str, list[str]] = {}
                times = []
                ndcg, recall = [], []
                for query_id, text in queries.items():
                    started = time.perf_counter()
                    response = await stub.Search(
                        pb.SearchRequest(tenant=TENANT, query=text, top_k=CANDIDATES, mode=mode)
                    )
                    times.append(time.perf_counter() - started)
                    keys = [f"{r.document_id}#{r.chunk_index}" for r in response.results]
                    ranked_chunks[query_id] = keys
                    docs = distinct_documents([r.document_id for r in response.results])
                    ndcg.append(ndcg_at_10(docs, qrels[query_id]))
                    recall.append(recall_at_10(docs, qrels[query_id]))
                results[name] = ranked_chunks
                latencies[name] = times
                metrics[name] = (statistics.mean(ndcg), statistics.mean(recall))

    print(f"\nSciFact dev: {len(queries)} claims, {len(corpus)} abstracts\n")
    print("| mode | nDCG@10 | recall@10 | Search p50 ms | Search p99 ms |")
    print("|---|---|---|---|---|")
    for name in MODES:
        times = sorted(latencies[name])
        p50 = times[len(times) // 2] * 1000
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
        ndcg_mean, recall_mean = metrics[name]
        print(f"| {name} | {ndcg_mean:.4f} | {recall_mean:.4f} | {p50:.1f} | {p99:.1f} |")
    print(f"\ningest: {ingest_line}")
    print(f"(Search latency with top_k={CANDIDATES}, query embedding included, over gRPC)")
    if args.sweep:
        sweep(results, queries, qrels)


def sweep(
    results: dict[str, dict[str, list[str]]], queries: dict[str, str], qrels: dict[str, set[str]]
) -> None:
    print("\nweighted RRF sweep (dense weight, keyword weight, k) -> nDCG@10")
    for k in (2, 10, 30, 60):
        for dense_w, keyword_w in ((1, 1), (1, 1.5), (1, 2), (1.5, 1), (2, 1)):
            scores = []
            for query_id in queries:
                fused = rrf(
                    [results["dense"][query_id], results["keyword"][query_id]],
                    [dense_w, keyword_w],
                    k,
                )
                docs = distinct_documents([key.split("#")[0] for key in fused])
                scores.append(ndcg_at_10(docs, qrels[query_id]))
            print(f"  {dense_w} {keyword_w} k={k}: {statistics.mean(scores):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--store", default=str(REPO_ROOT / "var" / "eval-qdrant"))
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--workers", type=int, default=4, help="embedding worker processes")
    args = parser.parse_args()
    if not args.reuse:
        shutil.rmtree(args.store, ignore_errors=True)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
