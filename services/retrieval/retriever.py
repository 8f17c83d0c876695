"""The retrieval domain: ingest documents (chunk, embed, store) and search them."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.common.errors import InvalidArgument, ServiceError
from services.retrieval import keywords, validation
from services.retrieval.chunking import Chunk, Chunker
from services.retrieval.embedders import Embedder, Priority
from services.retrieval.metrics import SEARCH_SECONDS, UPSERTS
from services.retrieval.store import ChunkStore, Fusion, Hit, Mode, StoredChunk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentIn:
    id: str
    title: str
    text: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentOutcome:
    document_id: str
    chunks: int = 0
    error_reason: str = ""
    error_message: str = ""

    @property
    def stored(self) -> bool:
        return not self.error_reason


def embedding_text(title: str, chunk_text: str) -> str:
    # The title gives every chunk of a document its topic (SciFact-style corpora
    # put the key terms there); the model truncates past its 256 word pieces.
    return f"{title}\n{chunk_text}" if title else chunk_text


class Retriever:
    def __init__(
        self,
        embedder: Embedder,
        store: ChunkStore,
        chunker: Chunker,
        *,
        max_document_chars: int,
        max_documents: int,
        default_top_k: int,
        fusion: Fusion,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.chunker = chunker
        self.max_document_chars = max_document_chars
        self.max_documents = max_documents
        self.default_top_k = default_top_k
        self.fusion = fusion

    def _problem(self, doc: DocumentIn, seen: set[str]) -> tuple[str, str] | None:
        if problem := validation.document_id_problem(doc.id):
            return "INVALID_DOCUMENT_ID", problem
        if doc.id in seen:
            return "DUPLICATE_DOCUMENT_ID", "the same id appears earlier in this request"
        if not doc.text.strip():
            return "EMPTY_TEXT", "document text is empty"
        if len(doc.text) > self.max_document_chars:
            return (
                "TEXT_TOO_LARGE",
                f"{len(doc.text)} characters, more than the limit of {self.max_document_chars}",
            )
        if len(doc.title) > validation.MAX_TITLE_CHARS:
            return "TITLE_TOO_LARGE", f"title longer than {validation.MAX_TITLE_CHARS} characters"
        if problem := validation.metadata_problem(doc.metadata):
            return "INVALID_METADATA", problem
        return None

    async def upsert(self, tenant: str, documents: Sequence[DocumentIn]) -> list[DocumentOutcome]:
        validation.tenant(tenant)
        if not documents:
            raise InvalidArgument("documents", "must hold at least one document")
        if len(documents) > self.max_documents:
            raise InvalidArgument("documents", f"at most {self.max_documents} per request")
        outcomes: list[DocumentOutcome | None] = [None] * len(documents)
        seen: set[str] = set()
        accepted: list[tuple[int, DocumentIn, list[Chunk]]] = []
        for position, doc in enumerate(documents):
            problem = self._problem(doc, seen)
            seen.add(doc.id)
            if problem:
                outcomes[position] = DocumentOutcome(doc.id, 0, *problem)
                continue
            chunks = self.chunker.split(doc.text)
            if not chunks:
                outcomes[position] = DocumentOutcome(doc.id, 0, "EMPTY_TEXT", "no text to index")
                continue
            accepted.append((position, doc, chunks))

        # One embedding pass over every accepted chunk: batching across documents.
        # The embedder awaits batch by batch at ingest priority: Searches go ahead of
        # the queued batches, and if the caller goes away (cancelled, deadline) the
        # CancelledError stops the ingest at the next batch, before anything is stored.
        texts = [embedding_text(doc.title, c.text) for _, doc, chunks in accepted for c in chunks]
        vectors = await self.embedder.embed(texts, priority=Priority.INGEST) if texts else None
        row = 0
        for position, doc, chunks in accepted:
            stored = [
                StoredChunk(
                    document_id=doc.id,
                    chunk_index=c.index,
                    start=c.start,
                    end=c.end,
                    text=c.text,
                    title=doc.title,
                    metadata=doc.metadata,
                    dense=vectors[row + i].tolist() if vectors is not None else [],
                    keywords=keywords.document_vector(embedding_text(doc.title, c.text)),
                )
                for i, c in enumerate(chunks)
            ]
            row += len(chunks)
            try:
                await self.store.replace_document(tenant, doc.id, stored)
                outcomes[position] = DocumentOutcome(doc.id, len(chunks))
            except ServiceError:
                raise  # the store as a whole is unusable (e.g. dimension mismatch)
            except Exception as exc:
                log.warning(
                    "document not stored",
                    extra={"document_id": doc.id, "error": type(exc).__name__},
                )
                outcomes[position] = DocumentOutcome(
                    doc.id, 0, "STORAGE_FAILED", "the vector store rejected the document"
                )
        await self.store.refresh_count()
        final = [o for o in outcomes if o is not None]
        for outcome in final:
            UPSERTS.labels(
                "stored" if outcome.stored else "failed", outcome.error_reason or "NONE"
            ).inc()
        return final

    async def delete(self, tenant: str, document_ids: Sequence[str]) -> tuple[int, int]:
        validation.tenant(tenant)
        if not document_ids:
            raise InvalidArgument("document_ids", "must hold at least one id")
        for i, doc_id in enumerate(document_ids):
            if problem := validation.document_id_problem(doc_id):
                raise InvalidArgument(f"document_ids[{i}]", problem)
        return await self.store.delete_documents(tenant, list(dict.fromkeys(document_ids)))

    async def search(
        self,
        tenant: str,
        query: str,
        *,
        top_k: int,
        mode: Mode,
        metadata_filter: Mapping[str, str],
        score_threshold: float | None,
    ) -> list[Hit]:
        validation.tenant(tenant)
        validation.query(query)
        limit = validation.top_k(top_k, self.default_top_k)
        metadata_filter = validation.filter_entries(metadata_filter)
        threshold = validation.score_threshold(score_threshold)
        started = time.perf_counter()
        dense = None
        if mode != "keyword":
            query_rows = await self.embedder.embed([query], priority=Priority.INTERACTIVE)
            dense = query_rows[0].tolist()
        query_terms = keywords.query_vector(query)
        if not query_terms.indices and mode == "keyword":
            return []  # only stop words: nothing to match
        sparse = query_terms if query_terms.indices else None
        hits = await self.store.search(
            tenant,
            mode=mode,
            dense=dense,
            keywords=sparse,
            limit=limit,
            metadata=metadata_filter,
            score_threshold=threshold,
            fusion=self.fusion,
        )
        SEARCH_SECONDS.labels(mode).observe(time.perf_counter() - started)
        return hits

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            raise InvalidArgument("texts", "must hold at least one text")
        if len(texts) > validation.MAX_EMBED_TEXTS:
            raise InvalidArgument("texts", f"at most {validation.MAX_EMBED_TEXTS} texts")
        for i, text in enumerate(texts):
            if len(text) > validation.MAX_EMBED_TEXT_CHARS:
                raise InvalidArgument(
                    f"texts[{i}]", f"at most {validation.MAX_EMBED_TEXT_CHARS} characters"
                )
        # A caller waits for these: interactive, like a query (at most 256 texts, cut
        # into batches that interleave with Searches).
        rows = await self.embedder.embed(list(texts), priority=Priority.INTERACTIVE)
        return [r.tolist() for r in rows]
