"""The embedded store across restarts, and a collection of the wrong dimension."""

from __future__ import annotations

import time

import grpc
import pytest
from qdrant_client import QdrantClient, models

from aimesh.retrieval.v1 import retrieval_pb2 as pb
from tests.retrieval.helpers import Client, error_reason, retrieval


def test_embedded_store_survives_a_restart(tmp_path):
    path = tmp_path / "store"
    with retrieval(path) as first:
        client = Client(first.target)
        response = client.upsert("t", pb.Document(id="kept", text="Durable facts persist."))
        assert response.succeeded == 1
        client.close()
    with retrieval(path) as second:
        client = Client(second.target)
        [hit] = client.search("t", "durable facts", top_k=5)
        assert (hit.document_id, hit.text) == ("kept", "Durable facts persist.")
        assert "aimesh_retrieval_chunks_stored 1.0" in second.metrics_text()
        client.close()


def test_dimension_mismatch_is_a_clear_failed_precondition(tmp_path):
    path = tmp_path / "store"
    path.mkdir()
    existing = QdrantClient(path=str(path))
    existing.create_collection(
        "aimesh_chunks",
        vectors_config={"dense": models.VectorParams(size=8, distance=models.Distance.COSINE)},
    )
    existing.close()
    with retrieval(path, wait_serving=False) as running:
        deadline = time.monotonic() + 60
        while not running.logs("started") and time.monotonic() < deadline:
            time.sleep(0.05)
        # Started, yet health stays NOT_SERVING, and calls say why.
        running.wait_for_health("NOT_SERVING")
        client = Client(running.target)
        with pytest.raises(grpc.RpcError) as raised:
            client.search("t", "anything")
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_reason(raised.value) == "EMBEDDING_DIMENSION_MISMATCH"
        details = raised.value.details() or ""
        assert "dimension 8" in details and "dimension 384" in details
        assert running.health() == "NOT_SERVING"
        assert any(line.get("msg") == "embedding dimension mismatch" for line in running.lines)
        client.close()
