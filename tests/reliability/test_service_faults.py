"""Service faults: a downstream service killed with SIGKILL in the middle of a
call. The client gets a clean status, never INTERNAL or a hang; the edge reports
NOT_SERVING while the service is gone and recovers as soon as it is back; an
ingest interrupted by a crash and re-run ends with exact counts."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from tests.reliability.conftest import Mesh, start_mesh
from tests.support import ServiceProcess

CLEAN_FAILURES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FaultMesh:
    """A mesh whose downstream services listen on fixed ports, so they can be
    killed and restarted where the edge expects them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = {name: free_port() for name in ("llm", "retrieval", "guardrails")}
        self.env = {
            name: {f"AIMESH_{name.upper()}_PORT": str(port)} for name, port in self.ports.items()
        }
        self.env["retrieval"]["AIMESH_RETRIEVAL_QDRANT_PATH"] = str(tmp / "qdrant")
        self.mesh: Mesh = start_mesh(tmp, f"aimesh-faults-{os.getpid()}-{tmp.name}:", env=self.env)
        self.channel = grpc.insecure_channel(self.mesh.edge.target)
        self.edge = edge_pb2_grpc.EdgeServiceStub(self.channel)
        self.auth = [("authorization", f"Bearer {self.mesh.api_key}")]
        self.extra: list[ServiceProcess] = []

    def restart(self, name: str) -> ServiceProcess:
        service = ServiceProcess(name, self.env[name]).start()
        self.extra.append(service)
        setattr(self.mesh, name, service)
        return service

    def close(self) -> None:
        self.channel.close()
        for service in [
            self.mesh.edge,
            self.mesh.guardrails,
            self.mesh.retrieval,
            self.mesh.llm,
            *self.extra,
        ]:
            service.terminate()


@pytest.fixture
def faults(tmp_path: Path) -> Iterator[FaultMesh]:
    running = FaultMesh(tmp_path)
    try:
        yield running
    finally:
        running.close()


def long_story() -> edge_pb2.ChatStreamRequest:
    return edge_pb2.ChatStreamRequest(
        messages=[edge_pb2.Message(role="user", content="Write a long story about a lighthouse.")],
        max_tokens=400,
        temperature=0.8,
    )


@pytest.mark.parametrize("victim", ["llm", "guardrails"])
def test_service_killed_mid_stream(faults: FaultMesh, victim: str):
    stream = faults.edge.ChatStream(long_story(), metadata=faults.auth, timeout=120)
    first = next(stream)
    assert first.text or first.model  # the stream had started
    faults.mesh.by_name(victim).kill()
    with pytest.raises(grpc.RpcError) as raised:
        for chunk in stream:
            assert not chunk.HasField("usage"), "a cut stream must not look complete"
    assert raised.value.code() in CLEAN_FAILURES, raised.value.details()

    # The edge stops advertising itself while a dependency it needs is gone...
    faults.mesh.edge.wait_for_health("NOT_SERVING", timeout=30)
    # ...and serves again as soon as the service is back.
    faults.restart(victim)
    faults.mesh.edge.wait_for_health("SERVING", timeout=60)
    chunks = list(faults.edge.ChatStream(long_story(), metadata=faults.auth, timeout=120))
    assert chunks[-1].usage.output_tokens > 0


def ingest_batches(count: int, batch: int) -> list[edge_pb2.IngestDocumentsRequest]:
    documents = [
        edge_pb2.Document(
            id=f"doc-{i:04d}",
            title=f"Report {i}",
            text=f"Report {i} covers lighthouse number {i}. " * 40,
            metadata={"n": str(i)},
        )
        for i in range(count)
    ]
    return [
        edge_pb2.IngestDocumentsRequest(documents=documents[i : i + batch])
        for i in range(0, count, batch)
    ]


def test_ingest_survives_a_crash_and_rerun_is_exact(faults: FaultMesh):
    batches = ingest_batches(240, 20)
    acknowledged: list[str] = []
    chunks_of: dict[str, int] = {}
    for index, batch in enumerate(batches):
        call = faults.edge.IngestDocuments.future(batch, metadata=faults.auth, timeout=120)
        if index == len(batches) // 2:
            time.sleep(0.1)  # the batch is being embedded when the service dies
            faults.mesh.retrieval.kill()
        try:
            response = call.result()
        except grpc.RpcError as error:
            assert error.code() in CLEAN_FAILURES, error.details()
            continue
        for result in response.results:
            assert result.status == edge_pb2.DOCUMENT_STATUS_STORED, result.error_message
            acknowledged.append(result.document_id)
            chunks_of[result.document_id] = result.chunks
    assert 0 < len(acknowledged) < 240

    # Acknowledged documents survived the crash.
    faults.restart("retrieval")
    faults.mesh.edge.wait_for_health("SERVING", timeout=60)
    found = faults.edge.Search(
        edge_pb2.SearchRequest(query="lighthouse number 3", top_k=50),
        metadata=faults.auth,
        timeout=60,
    )
    assert {r.document_id for r in found.results} <= set(acknowledged)
    assert found.results

    # Re-running the whole ingest stores every document exactly once.
    for batch in batches:
        response = faults.edge.IngestDocuments(batch, metadata=faults.auth, timeout=120)
        for result in response.results:
            assert result.status == edge_pb2.DOCUMENT_STATUS_STORED
            chunks_of[result.document_id] = result.chunks
    assert len(chunks_of) == 240
    ids = sorted(chunks_of)
    deleted = faults.edge.DeleteDocuments(
        edge_pb2.DeleteDocumentsRequest(document_ids=ids), metadata=faults.auth, timeout=120
    )
    assert deleted.deleted_documents == 240
    assert deleted.deleted_chunks == sum(chunks_of.values())
