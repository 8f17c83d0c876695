"""Chunks in Qdrant: one collection for every tenant, isolated by a payload filter.

Tenant isolation. Every point carries its tenant in the payload, and every
read, count and delete goes through `_scope()`, which puts `tenant == <caller's
tenant>` in the `must` clause; caller filters can only add conditions on
`metadata.<key>` (keys are validated to plain names), so they can narrow a
search but never widen it. Point ids are uuid5 of (tenant, document id, chunk
index), so the same document id under two tenants names two different points
and an upsert of one tenant can never overwrite another's. One collection with
a tenant-keyed payload index (`is_tenant`) is Qdrant's recommended multitenancy
layout: it scales to many small tenants, where collection-per-tenant does not.

Qdrant runs embedded (qdrant-client local mode, persisted on disk under
`qdrant_path`) or as a server (`qdrant_url`): the same client API, the same
code. The sync client runs in a worker thread so that local mode's
brute-force scans never block the event loop; local mode is not thread-safe,
so it gets exactly one worker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

from qdrant_client import QdrantClient, models

from services.common.errors import FailedPrecondition
from services.retrieval.metrics import CHUNKS_STORED, DELETED_CHUNKS
from services.retrieval.settings import RetrievalSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

DENSE = "dense"
KEYWORDS = "keywords"
_NAMESPACE = uuid.UUID("8f0f6f4e-5d0b-4c55-9a7e-2f4a0e1b6c3d")

Mode = Literal["hybrid", "dense", "keyword"]


def point_id(tenant: str, document_id: str, chunk_index: int) -> str:
    """Stable id: re-ingesting a document overwrites its chunks in place."""
    # NUL cannot occur in a tenant or id (validated), so the fields cannot run together.
    return str(uuid.uuid5(_NAMESPACE, f"{tenant}\0{document_id}\0{chunk_index}"))


@dataclass(frozen=True)
class StoredChunk:
    document_id: str
    chunk_index: int
    start: int
    end: int
    text: str
    title: str
    metadata: Mapping[str, str]
    dense: Sequence[float]
    keywords: models.SparseVector


@dataclass(frozen=True)
class Hit:
    document_id: str
    chunk_index: int
    start: int
    end: int
    text: str
    title: str
    metadata: dict[str, str]
    score: float


@dataclass(frozen=True)
class Fusion:
    k: int = 10
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    candidates: int = 100


@dataclass
class _State:
    dimension_error: str | None = None
    opened: bool = False


def _scope(
    tenant: str,
    *,
    document_ids: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
    min_chunk_index: int | None = None,
) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))
    ]
    if document_ids:
        must.append(
            models.FieldCondition(key="document_id", match=models.MatchAny(any=list(document_ids)))
        )
    for key, value in sorted((metadata or {}).items()):
        must.append(
            models.FieldCondition(key=f"metadata.{key}", match=models.MatchValue(value=value))
        )
    if min_chunk_index is not None:
        must.append(
            models.FieldCondition(key="chunk_index", range=models.Range(gte=min_chunk_index))
        )
    return models.Filter(must=must)


class ChunkStore:
    def __init__(self, settings: RetrievalSettings, dimension: int) -> None:
        self.collection = settings.collection
        self.dimension = dimension
        self._settings = settings
        self._client: QdrantClient | None = None
        self._state = _State()
        self.local = not settings.qdrant_url
        # Local mode is a single in-process store: one thread at a time.
        self._pool = ThreadPoolExecutor(1 if self.local else 8, thread_name_prefix="qdrant")

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    @property
    def client(self) -> QdrantClient:
        if self._client is None:
            raise FailedPrecondition("vector store is not open", reason="STORE_NOT_READY")
        return self._client

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        s = self._settings
        if self.local:
            s.qdrant_path.mkdir(parents=True, exist_ok=True)
            self._client = QdrantClient(path=str(s.qdrant_path))
        else:
            key = s.qdrant_api_key.get_secret_value() if s.qdrant_api_key else None
            self._client = QdrantClient(
                url=s.qdrant_url, api_key=key, timeout=s.qdrant_timeout_seconds
            )
        self._ensure_collection()
        self._state.opened = True
        self._refresh_count()

    def _ensure_collection(self) -> None:
        client = self.client
        if client.collection_exists(self.collection):
            vectors = client.get_collection(self.collection).config.params.vectors
            existing = vectors.get(DENSE) if isinstance(vectors, dict) else None
            if existing is None or existing.size != self.dimension:
                found = "none" if existing is None else str(existing.size)
                self._state.dimension_error = (
                    f"collection {self.collection!r} holds {DENSE!r} vectors of dimension {found},"
                    f" but the configured embedding model produces dimension {self.dimension};"
                    " use another collection or re-ingest into a new one"
                )
                log.error(
                    "embedding dimension mismatch", extra={"detail": self._state.dimension_error}
                )
            return
        client.create_collection(
            self.collection,
            vectors_config={
                DENSE: models.VectorParams(size=self.dimension, distance=models.Distance.COSINE)
            },
            sparse_vectors_config={
                KEYWORDS: models.SparseVectorParams(modifier=models.Modifier.IDF)
            },
        )
        if not self.local:  # local mode has no payload indexes
            client.create_payload_index(
                self.collection,
                "tenant",
                models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            )
            client.create_payload_index(
                self.collection, "document_id", models.PayloadSchemaType.KEYWORD
            )
            client.create_payload_index(
                self.collection, "chunk_index", models.PayloadSchemaType.INTEGER
            )

    def _check_usable(self) -> QdrantClient:
        if self._state.dimension_error:
            raise FailedPrecondition(
                self._state.dimension_error, reason="EMBEDDING_DIMENSION_MISMATCH"
            )
        return self.client

    async def ready(self) -> bool:
        if not self._state.opened or self._state.dimension_error:
            return False
        if self.local:
            # In-process and open: it answers. Queuing a probe behind a long scan on
            # the single store thread would only make health flap under load.
            return True
        return await self._run(lambda: self.client.collection_exists(self.collection))

    def _refresh_count(self) -> None:
        if not self._state.dimension_error:
            CHUNKS_STORED.set(self.client.count(self.collection, exact=True).count)

    async def replace_document(
        self, tenant: str, document_id: str, chunks: Sequence[StoredChunk]
    ) -> None:
        """Write a document's chunks, then drop its chunks past the new end (if it shrank)."""

        def run() -> None:
            client = self._check_usable()
            points = [
                models.PointStruct(
                    id=point_id(tenant, document_id, c.chunk_index),
                    vector={DENSE: list(c.dense), KEYWORDS: c.keywords},
                    payload={
                        "tenant": tenant,
                        "document_id": document_id,
                        "chunk_index": c.chunk_index,
                        "start": c.start,
                        "end": c.end,
                        "text": c.text,
                        "title": c.title,
                        "metadata": dict(c.metadata),
                    },
                )
                for c in chunks
            ]
            client.upsert(self.collection, points, wait=True)
            # Chunk indexes are contiguous from 0, so the document shrank exactly when
            # a chunk at the new length exists: one lookup by id, not a filtered scan.
            next_id = point_id(tenant, document_id, len(chunks))
            if client.retrieve(self.collection, [next_id], with_payload=False):
                stale = _scope(tenant, document_ids=[document_id], min_chunk_index=len(chunks))
                # Counted first (rare: only when a document shrank), for the metric.
                removed = client.count(self.collection, count_filter=stale, exact=True).count
                client.delete(self.collection, models.FilterSelector(filter=stale), wait=True)
                DELETED_CHUNKS.labels("shrink").inc(removed)

        await self._run(run)

    async def refresh_count(self) -> None:
        await self._run(self._refresh_count)

    async def delete_documents(self, tenant: str, document_ids: Sequence[str]) -> tuple[int, int]:
        """Remove the tenant's chunks of these documents; (documents, chunks) removed."""

        def run() -> tuple[int, int]:
            client = self._check_usable()
            scope = _scope(tenant, document_ids=document_ids)
            found: set[str] = set()
            chunks = 0
            offset = None
            while True:
                points, offset = client.scroll(
                    self.collection,
                    scroll_filter=scope,
                    limit=1024,
                    offset=offset,
                    with_payload=["document_id"],
                    with_vectors=False,
                )
                chunks += len(points)
                found.update(str((p.payload or {}).get("document_id")) for p in points)
                if offset is None:
                    break
            if chunks:
                client.delete(self.collection, models.FilterSelector(filter=scope), wait=True)
                DELETED_CHUNKS.labels("delete").inc(chunks)
            self._refresh_count()
            return len(found), chunks

        return await self._run(run)

    async def search(
        self,
        tenant: str,
        *,
        mode: Mode,
        dense: Sequence[float] | None,
        keywords: models.SparseVector | None,
        limit: int,
        metadata: Mapping[str, str],
        score_threshold: float | None,
        fusion: Fusion,
    ) -> list[Hit]:
        scope = _scope(tenant, metadata=metadata)
        # Keyword IDF from the caller's tenant only (Qdrant >= 1.19, local mode too):
        # collection-wide statistics would let other tenants' documents move this
        # tenant's scores (and reveal which words they contain). The corpus is the
        # whole tenant, not the metadata filter, so a filter does not rescale scores.
        tenant_idf = models.SearchParams(idf=models.IdfCorpusParams(corpus=_scope(tenant)))

        def run() -> list[Hit]:
            client = self._check_usable()
            params = None
            if mode == "dense" or (mode == "hybrid" and keywords is None):
                query: models.Query | list[float] | models.SparseVector | None = list(dense or [])
                using: str | None = DENSE
                prefetch = None
            elif mode == "keyword":
                query, using, prefetch, params = keywords, KEYWORDS, None, tenant_idf
            else:
                candidates = max(limit, fusion.candidates)
                prefetch = [
                    models.Prefetch(
                        query=list(dense or []), using=DENSE, filter=scope, limit=candidates
                    ),
                    models.Prefetch(
                        query=keywords,
                        using=KEYWORDS,
                        filter=scope,
                        params=tenant_idf,
                        limit=candidates,
                    ),
                ]
                query = models.RrfQuery(
                    rrf=models.Rrf(k=fusion.k, weights=[fusion.dense_weight, fusion.keyword_weight])
                )
                using = None
            response = client.query_points(
                self.collection,
                query=query,
                using=using,
                prefetch=prefetch,
                query_filter=scope,
                search_params=params,
                limit=limit,
                with_payload=True,
                with_vectors=False,
                score_threshold=score_threshold,
            )
            return [_hit(p) for p in response.points]

        return await self._run(run)

    async def close(self) -> None:
        def run() -> None:
            if self._client is not None:
                self._client.close()
                self._client = None

        await self._run(run)
        self._pool.shutdown(wait=True)


def _hit(point: models.ScoredPoint) -> Hit:
    p = point.payload or {}
    return Hit(
        document_id=str(p.get("document_id", "")),
        chunk_index=int(p.get("chunk_index", 0)),
        start=int(p.get("start", 0)),
        end=int(p.get("end", 0)),
        text=str(p.get("text", "")),
        title=str(p.get("title", "")),
        metadata={str(k): str(v) for k, v in dict(p.get("metadata") or {}).items()},
        score=float(point.score),
    )
