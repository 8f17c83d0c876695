"""The retrieval service's own Prometheus series (aimesh_retrieval_*)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

EMBED_SECONDS = Histogram(
    "aimesh_retrieval_embed_seconds",
    "Time to embed one batch of texts (at most embedding_batch_size), queueing excluded.",
    ("backend",),
    buckets=_LATENCY_BUCKETS,
)
EMBED_QUEUE_SECONDS = Histogram(
    "aimesh_retrieval_embed_queue_seconds",
    "Local model: time a batch waited for a free embedding thread or worker, by priority"
    " (interactive: Search queries and Embed; ingest: upserted chunks).",
    ("priority",),
    buckets=_LATENCY_BUCKETS,
)
EMBEDDED_TEXTS = Counter(
    "aimesh_retrieval_embedded_texts_total", "Texts embedded (chunks and queries).", ("backend",)
)
SEARCH_SECONDS = Histogram(
    "aimesh_retrieval_search_seconds",
    "Time of one Search, query embedding included.",
    ("mode",),
    buckets=_LATENCY_BUCKETS,
)
CHUNKS_STORED = Gauge(
    "aimesh_retrieval_chunks_stored", "Chunks (points) in the collection, all tenants."
)
UPSERTS = Counter(
    "aimesh_retrieval_upserts_total",
    "Documents upserted, by outcome and failure reason.",
    ("outcome", "reason"),
)
DELETED_CHUNKS = Counter(
    "aimesh_retrieval_deleted_chunks_total",
    "Chunks removed from the store, by cause: delete (DeleteDocuments) or shrink (an"
    " upserted document replaced by one with fewer chunks; its chunks past the new end).",
    ("cause",),
)
for _cause in ("delete", "shrink"):
    DELETED_CHUNKS.labels(_cause)  # both series exist (at 0) from the start
