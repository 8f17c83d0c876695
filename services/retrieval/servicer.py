"""aimesh.retrieval.v1.RetrievalService: proto <-> domain conversion only."""

from __future__ import annotations

from collections.abc import Callable

from grpc import aio

from aimesh.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.common.context import set_tenant
from services.common.errors import InvalidArgument
from services.retrieval.retriever import DocumentIn, Retriever
from services.retrieval.store import Mode

_MODES: dict[int, Mode] = {
    retrieval_pb2.SEARCH_MODE_UNSPECIFIED: "hybrid",
    retrieval_pb2.SEARCH_MODE_HYBRID: "hybrid",
    retrieval_pb2.SEARCH_MODE_DENSE: "dense",
    retrieval_pb2.SEARCH_MODE_KEYWORD: "keyword",
}


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(self, retriever: Callable[[], Retriever]) -> None:
        # A getter: the retriever exists only once the model and store are up.
        self._retriever = retriever

    async def Embed(
        self, request: retrieval_pb2.EmbedRequest, context: aio.ServicerContext
    ) -> retrieval_pb2.EmbedResponse:
        rows = await self._retriever().embed(list(request.texts))
        embedder = self._retriever().embedder
        return retrieval_pb2.EmbedResponse(
            embeddings=[retrieval_pb2.Embedding(values=r) for r in rows],
            model=embedder.model,
            dimension=embedder.dimension,
        )

    async def UpsertDocuments(
        self, request: retrieval_pb2.UpsertDocumentsRequest, context: aio.ServicerContext
    ) -> retrieval_pb2.UpsertDocumentsResponse:
        set_tenant(request.tenant)
        documents = [
            DocumentIn(id=d.id, title=d.title, text=d.text, metadata=dict(d.metadata))
            for d in request.documents
        ]
        outcomes = await self._retriever().upsert(request.tenant, documents)
        results = [
            retrieval_pb2.DocumentResult(
                document_id=o.document_id,
                status=retrieval_pb2.DOCUMENT_STATUS_STORED
                if o.stored
                else retrieval_pb2.DOCUMENT_STATUS_FAILED,
                chunks=o.chunks,
                error_reason=o.error_reason,
                error_message=o.error_message,
            )
            for o in outcomes
        ]
        stored = sum(1 for o in outcomes if o.stored)
        return retrieval_pb2.UpsertDocumentsResponse(
            results=results, succeeded=stored, failed=len(outcomes) - stored
        )

    async def DeleteDocuments(
        self, request: retrieval_pb2.DeleteDocumentsRequest, context: aio.ServicerContext
    ) -> retrieval_pb2.DeleteDocumentsResponse:
        set_tenant(request.tenant)
        documents, chunks = await self._retriever().delete(
            request.tenant, list(request.document_ids)
        )
        return retrieval_pb2.DeleteDocumentsResponse(
            deleted_documents=documents, deleted_chunks=chunks
        )

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        set_tenant(request.tenant)
        mode = _MODES.get(request.mode)
        if mode is None:
            raise InvalidArgument("mode", f"unknown search mode {request.mode}")
        hits = await self._retriever().search(
            request.tenant,
            request.query,
            top_k=request.top_k,
            mode=mode,
            metadata_filter=dict(request.filter),
            score_threshold=request.score_threshold
            if request.HasField("score_threshold")
            else None,
        )
        return retrieval_pb2.SearchResponse(
            results=[
                retrieval_pb2.SearchResult(
                    document_id=h.document_id,
                    text=h.text,
                    score=h.score,
                    title=h.title,
                    chunk_index=h.chunk_index,
                    start=h.start,
                    end=h.end,
                    metadata=h.metadata,
                )
                for h in hits
            ]
        )
