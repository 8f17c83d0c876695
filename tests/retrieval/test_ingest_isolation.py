"""A big ingest neither holds up other tenants' searches nor outlives its caller.

Real service on loopback with small chunks and embedding batches, so that one
document makes many batches. Assertions are on order and on counts; the waits
only bound how long to poll.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import grpc
import pytest

from aimesh.retrieval.v1 import retrieval_pb2 as pb
from tests.retrieval.helpers import Client, long_text, retrieval

STORED = pb.DOCUMENT_STATUS_STORED
POLL_LIMIT = 120.0  # seconds; generous on a loaded machine, never an expectation


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    env = {
        "AIMESH_RETRIEVAL_CHUNK_TOKENS": "64",
        "AIMESH_RETRIEVAL_CHUNK_OVERLAP_TOKENS": "8",
        "AIMESH_RETRIEVAL_EMBEDDING_BATCH_SIZE": "2",
    }
    with retrieval(tmp_path_factory.mktemp("qdrant") / "store", env) as running:
        yield running


@pytest.fixture
def client(service):
    c = Client(service.target)
    yield c
    c.close()


def big_document() -> pb.Document:
    # ~400 sentences: about a hundred 64-token chunks, some fifty batches of 2.
    return pb.Document(id="big", title="Tides", text=long_text("the tide", 400))


def embedded_texts(service) -> float:
    found = re.search(
        r'^aimesh_retrieval_embedded_texts_total\{backend="local"\} (\S+)$',
        service.metrics_text(),
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def settled(service, quiet_for: float = 3.0) -> float:
    """The embedded-texts counter once it has stopped moving for `quiet_for` s."""
    deadline = time.monotonic() + POLL_LIMIT
    value, since = embedded_texts(service), time.monotonic()
    while time.monotonic() - since < quiet_for:
        if time.monotonic() > deadline:
            raise TimeoutError("embedding never stopped")
        time.sleep(0.25)
        now = embedded_texts(service)
        if now != value:
            value, since = now, time.monotonic()
    return value


def test_search_of_another_tenant_completes_before_a_big_ingest(service, client):
    ingester, searcher = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    client.upsert(searcher, pb.Document(id="owls", text="Owls hunt small mammals at night."))
    before = embedded_texts(service)
    upsert = client.stub.UpsertDocuments.future(
        pb.UpsertDocumentsRequest(tenant=ingester, documents=[big_document()]), timeout=600
    )
    wait_until(lambda: embedded_texts(service) > before, "the ingest never started embedding")

    hits = client.search(searcher, "what do owls hunt")
    # Texts embedded when the search had its answer, less the search's own query.
    ingested_by_then = embedded_texts(service) - before - 1

    assert not upsert.done(), "the search waited for the other tenant's ingest"
    assert [h.document_id for h in hits] == ["owls"]
    [result] = upsert.result().results
    assert result.status == STORED and result.chunks > 50
    assert ingested_by_then < result.chunks, "the search waited for the ingest's embedding"


def test_a_cancelled_ingest_stops_embedding(service, client):
    tenant = f"c-{uuid.uuid4().hex[:8]}"
    request = pb.UpsertDocumentsRequest(tenant=tenant, documents=[big_document()])
    before = embedded_texts(service)
    upsert = client.stub.UpsertDocuments.future(request, timeout=600)
    wait_until(lambda: embedded_texts(service) > before, "the ingest never started embedding")
    upsert.cancel()
    with pytest.raises(grpc.FutureCancelledError):
        upsert.result()
    wait_until(
        lambda: any(line.get("code") == "CANCELLED" for line in service.logs("rpc")),
        "the service never saw the cancellation",
    )
    partly = settled(service) - before

    # Nothing was stored, and the whole document is many more chunks than were embedded.
    assert client.search(tenant, "tide condition", mode=pb.SEARCH_MODE_KEYWORD) == []
    start = embedded_texts(service)
    [result] = client.upsert(tenant, big_document()).results
    assert result.status == STORED
    assert partly < result.chunks / 2
    # The re-run embedded exactly its own chunks: the cancelled one stays stopped.
    assert settled(service) - start == result.chunks
