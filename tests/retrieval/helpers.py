"""Shared helpers for the retrieval tests: stubs, status details, documents."""

from __future__ import annotations

from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aimesh.retrieval.v1 import retrieval_pb2 as pb
from aimesh.retrieval.v1 import retrieval_pb2_grpc as pb_grpc
from tests.support import ServiceProcess


def retrieval(path: Path, env: dict[str, str] | None = None, **kwargs) -> ServiceProcess:
    return ServiceProcess(
        "retrieval", {"AIMESH_RETRIEVAL_QDRANT_PATH": str(path), **(env or {})}, **kwargs
    )


class Client:
    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = pb_grpc.RetrievalServiceStub(self.channel)

    def upsert(self, tenant: str, *docs: pb.Document) -> pb.UpsertDocumentsResponse:
        request = pb.UpsertDocumentsRequest(tenant=tenant, documents=docs)
        return self.stub.UpsertDocuments(request, timeout=120)

    def search(self, tenant: str, query: str, **kwargs) -> list[pb.SearchResult]:
        request = pb.SearchRequest(tenant=tenant, query=query, **kwargs)
        return list(self.stub.Search(request, timeout=60).results)

    def delete(self, tenant: str, *ids: str) -> pb.DeleteDocumentsResponse:
        request = pb.DeleteDocumentsRequest(tenant=tenant, document_ids=ids)
        return self.stub.DeleteDocuments(request, timeout=60)

    def close(self) -> None:
        self.channel.close()


def bad_fields(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            return [v.field for v in bad_request.field_violations]
    return []


def error_reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def long_text(topic: str, sentences: int) -> str:
    return " ".join(
        f"Paragraph {i} explains how {topic} behaves under condition number {i}."
        for i in range(sentences)
    )
