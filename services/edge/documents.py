"""Ingest, delete and search: retrieval calls scoped to the caller's tenant.

The tenant always comes from the API key, never from the request, so no
request can reach another tenant's documents. Every change to a tenant's
documents bumps its corpus generation, retiring its cached answers.
"""

from __future__ import annotations

import grpc

from aimesh.edge.v1 import edge_pb2
from aimesh.retrieval.v1 import retrieval_pb2
from services.edge.cache import ResponseCache
from services.edge.downstream import Downstream, translate, with_recovery
from services.edge.gate import Caller


class Documents:
    def __init__(self, downstream: Downstream, cache: ResponseCache) -> None:
        self.down = downstream
        self.cache = cache

    async def ingest(
        self, caller: Caller, request: edge_pb2.IngestDocumentsRequest, call_timeout: float
    ) -> edge_pb2.IngestDocumentsResponse:
        upsert = retrieval_pb2.UpsertDocumentsRequest(
            tenant=caller.tenant,
            documents=[
                retrieval_pb2.Document(id=d.id, title=d.title, text=d.text, metadata=d.metadata)
                for d in request.documents
            ],
        )
        try:
            # Idempotent: re-sending a document replaces its chunks.
            response = await with_recovery(
                self.down,
                "retrieval",
                lambda: self.down.retrieval.UpsertDocuments(upsert, timeout=call_timeout),
            )
        except grpc.RpcError as exc:
            raise translate("retrieval", exc) from None
        finally:
            # Even a failed call may have stored some documents.
            await self.cache.bump_corpus(caller.tenant)
        return edge_pb2.IngestDocumentsResponse(
            results=[
                edge_pb2.DocumentResult(
                    document_id=r.document_id,
                    status=r.status,
                    chunks=r.chunks,
                    error_reason=r.error_reason,
                    error_message=r.error_message,
                )
                for r in response.results
            ],
            succeeded=response.succeeded,
            failed=response.failed,
        )

    async def delete(
        self, caller: Caller, request: edge_pb2.DeleteDocumentsRequest, call_timeout: float
    ) -> edge_pb2.DeleteDocumentsResponse:
        try:
            delete = retrieval_pb2.DeleteDocumentsRequest(
                tenant=caller.tenant, document_ids=request.document_ids
            )
            response = await with_recovery(
                self.down,
                "retrieval",
                lambda: self.down.retrieval.DeleteDocuments(delete, timeout=call_timeout),
            )
        except grpc.RpcError as exc:
            raise translate("retrieval", exc) from None
        finally:
            await self.cache.bump_corpus(caller.tenant)
        return edge_pb2.DeleteDocumentsResponse(
            deleted_documents=response.deleted_documents, deleted_chunks=response.deleted_chunks
        )

    async def search(
        self, caller: Caller, request: edge_pb2.SearchRequest, call_timeout: float
    ) -> edge_pb2.SearchResponse:
        search = retrieval_pb2.SearchRequest(
            tenant=caller.tenant,
            query=request.query,
            top_k=request.top_k or 5,
            filter=request.filter,
        )
        if request.HasField("score_threshold"):
            search.score_threshold = request.score_threshold
        try:
            response = await with_recovery(
                self.down,
                "retrieval",
                lambda: self.down.retrieval.Search(search, timeout=call_timeout),
            )
        except grpc.RpcError as exc:
            raise translate("retrieval", exc) from None
        return edge_pb2.SearchResponse(
            results=[
                edge_pb2.SearchResult(
                    document_id=r.document_id,
                    text=r.text,
                    score=r.score,
                    title=r.title,
                    start=r.start,
                    end=r.end,
                    metadata=r.metadata,
                )
                for r in response.results
            ]
        )
