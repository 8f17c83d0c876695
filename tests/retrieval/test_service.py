"""The retrieval service over real gRPC with embedded Qdrant on disk."""

from __future__ import annotations

import math
import uuid

import grpc
import pytest

from aimesh.retrieval.v1 import retrieval_pb2 as pb
from tests.retrieval.helpers import Client, bad_fields, error_reason, long_text, retrieval

STORED, FAILED = pb.DOCUMENT_STATUS_STORED, pb.DOCUMENT_STATUS_FAILED


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with retrieval(tmp_path_factory.mktemp("qdrant") / "store") as running:
        yield running


@pytest.fixture
def client(service):
    c = Client(service.target)
    yield c
    c.close()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_upsert_then_search_returns_chunks_with_ranges(client, tenant):
    text = "Honeybees dance to tell the hive where flowers are. The waggle dance encodes distance."
    response = client.upsert(
        tenant,
        pb.Document(id="bees", title="Bees", text=text, metadata={"kind": "insect"}),
        pb.Document(id="ships", title="Ships", text="Container ships carry steel boxes."),
    )
    assert [r.status for r in response.results] == [STORED, STORED]
    assert (response.succeeded, response.failed) == (2, 0)
    for mode in (pb.SEARCH_MODE_HYBRID, pb.SEARCH_MODE_DENSE, pb.SEARCH_MODE_KEYWORD):
        results = client.search(tenant, "how do bees communicate the waggle dance", mode=mode)
        top = results[0]
        assert top.document_id == "bees"
        assert top.text == text[top.start : top.end]
        assert top.title == "Bees" and dict(top.metadata) == {"kind": "insect"}
    scores = [r.score for r in client.search(tenant, "bees dance", top_k=2)]
    assert scores == sorted(scores, reverse=True)


def test_embed_returns_normalised_vectors(client):
    response = client.stub.Embed(pb.EmbedRequest(texts=["a cat", "a cat", "quantum physics"]))
    assert response.dimension == 384 and response.model == "all-MiniLM-L6-v2"
    vectors = [list(e.values) for e in response.embeddings]
    assert all(math.isclose(sum(v * v for v in vec), 1.0, rel_tol=1e-4) for vec in vectors)
    # Same text, same vector up to float rounding (BLAS may sum a row differently by its
    # place in the batch); a different text is far off.
    same = zip(vectors[0], vectors[1], strict=True)
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in same)
    assert sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True)) < 0.9


def test_reingest_is_idempotent(client, tenant):
    doc = pb.Document(id="d1", title="Tides", text=long_text("the tide", 40))
    first = client.upsert(tenant, doc).results[0]
    second = client.upsert(tenant, doc).results[0]
    assert first.chunks == second.chunks > 1
    hits = client.search(tenant, "tide condition", top_k=100, mode=pb.SEARCH_MODE_KEYWORD)
    assert len(hits) == first.chunks
    assert len({h.chunk_index for h in hits}) == first.chunks  # no duplicates
    assert client.delete(tenant, "d1").deleted_chunks == first.chunks


def test_shrunken_document_leaves_no_stale_chunks(client, tenant):
    long = client.upsert(tenant, pb.Document(id="d", text=long_text("glaciers", 60))).results[0]
    assert long.chunks > 2
    short = client.upsert(tenant, pb.Document(id="d", text="Volcanoes erupt lava.")).results[0]
    assert short.chunks == 1
    assert client.search(tenant, "glaciers condition", mode=pb.SEARCH_MODE_KEYWORD) == []
    [hit] = client.search(tenant, "volcano lava", top_k=10)
    assert hit.text == "Volcanoes erupt lava."
    deleted = client.delete(tenant, "d")
    assert (deleted.deleted_documents, deleted.deleted_chunks) == (1, 1)


def test_bad_documents_fail_alone(client, tenant):
    response = client.upsert(
        tenant,
        pb.Document(id="good-1", text="Penguins live in the southern hemisphere."),
        pb.Document(id="empty", text="   "),
        pb.Document(id="", text="no id"),
        pb.Document(id="good-1", text="duplicate id in one request"),
        pb.Document(id="bad-meta", text="Some text.", metadata={"a.b": "x"}),
        pb.Document(id="good-2", text="Owls hunt at night."),
    )
    outcomes = [(r.document_id, r.status, r.error_reason) for r in response.results]
    assert outcomes == [
        ("good-1", STORED, ""),
        ("empty", FAILED, "EMPTY_TEXT"),
        ("", FAILED, "INVALID_DOCUMENT_ID"),
        ("good-1", FAILED, "DUPLICATE_DOCUMENT_ID"),
        ("bad-meta", FAILED, "INVALID_METADATA"),
        ("good-2", STORED, ""),
    ]
    assert all(r.error_message for r in response.results if r.status == FAILED)
    assert (response.succeeded, response.failed) == (2, 4)
    found = {h.document_id for h in client.search(tenant, "penguins owls", top_k=10)}
    assert found == {"good-1", "good-2"}


def test_too_large_document_fails_alone(tmp_path):
    env = {"AIMESH_RETRIEVAL_MAX_DOCUMENT_CHARS": "1000"}
    with retrieval(tmp_path / "q", env) as running:
        client = Client(running.target)
        response = client.upsert(
            "t",
            pb.Document(id="big", text="x " * 600),
            pb.Document(id="ok", text="Fine."),
        )
        assert [r.error_reason for r in response.results] == ["TEXT_TOO_LARGE", ""]
        client.close()


def test_metadata_filter_and_score_threshold(client, tenant):
    client.upsert(
        tenant,
        pb.Document(id="en", text="Rivers flow to the sea.", metadata={"lang": "en"}),
        pb.Document(id="fr", text="Rivers flow to the ocean too.", metadata={"lang": "fr"}),
    )
    hits = client.search(tenant, "rivers flow", filter={"lang": "fr"}, top_k=10)
    assert [h.document_id for h in hits] == ["fr"]
    assert client.search(tenant, "rivers flow", filter={"lang": "de"}) == []
    dense = client.search(tenant, "rivers flow", mode=pb.SEARCH_MODE_DENSE, top_k=10)
    cut = (dense[0].score + dense[1].score) / 2
    above = client.search(
        tenant, "rivers flow", mode=pb.SEARCH_MODE_DENSE, top_k=10, score_threshold=cut
    )
    assert [h.document_id for h in above] == [dense[0].document_id]


def test_tenants_are_isolated(client):
    alice, mallory = f"alice-{uuid.uuid4().hex[:6]}", f"mallory-{uuid.uuid4().hex[:6]}"
    secret = "The launch code of project nightingale is tangerine."
    client.upsert(alice, pb.Document(id="secret", text=secret, metadata={"owner": alice}))

    # Searching: every mode, with crafted filters, finds nothing of alice's.
    for mode in (pb.SEARCH_MODE_HYBRID, pb.SEARCH_MODE_DENSE, pb.SEARCH_MODE_KEYWORD):
        assert client.search(mallory, "launch code nightingale tangerine", mode=mode) == []
    assert client.search(mallory, "nightingale", filter={"owner": alice}) == []
    assert client.search(mallory, "nightingale", filter={"tenant": alice}) == []
    for key in ("../tenant", "tenant.x", "metadata.owner", "", "a b"):
        with pytest.raises(grpc.RpcError) as raised:
            client.search(mallory, "nightingale", filter={key: alice})
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Deleting alice's id as mallory removes nothing.
    assert client.delete(mallory, "secret").deleted_chunks == 0

    # Upserting the same id as mallory makes mallory's own copy, not an overwrite.
    client.upsert(mallory, pb.Document(id="secret", text="Mallory's decoy text."))
    [hit] = client.search(alice, "launch code", top_k=10)
    assert hit.text == secret
    [hit] = client.search(mallory, "launch code decoy", top_k=10)
    assert hit.text == "Mallory's decoy text."

    # A tenant name that looks like a filter or a prefix is just another tenant.
    for other in (alice[:-1], alice + " ", alice.upper(), "*", f"{alice}\x00"):
        try:
            assert client.search(other, "launch code nightingale") == []
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.delete(alice, "secret").deleted_documents == 1


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.upsert("", pb.Document(id="a", text="x")), "tenant"),
        (lambda c: c.upsert("t"), "documents"),
        (lambda c: c.search("", "q"), "tenant"),
        (lambda c: c.search("t", "   "), "query"),
        (lambda c: c.search("t", "q", top_k=101), "top_k"),
        (lambda c: c.search("t", "q", top_k=-1), "top_k"),
        (lambda c: c.search("t", "q", mode=42), "mode"),
        (lambda c: c.search("t", "q", score_threshold=float("nan")), "score_threshold"),
        (lambda c: c.search("t", "q" * 10_000), "query"),
        (lambda c: c.delete("t"), "document_ids"),
        (lambda c: c.delete("", "a"), "tenant"),
        (lambda c: c.delete("t", "ok", ""), "document_ids[1]"),
        (lambda c: c.stub.Embed(pb.EmbedRequest()), "texts"),
        (lambda c: c.stub.Embed(pb.EmbedRequest(texts=["x"] * 257)), "texts"),
    ],
)
def test_bad_input_is_invalid_argument_naming_the_field(client, call, field):
    with pytest.raises(grpc.RpcError) as raised:
        call(client)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(raised.value) == [field]
    assert error_reason(raised.value) == "INVALID_ARGUMENT"


def test_metrics_are_exported(service, client, tenant):
    client.upsert(tenant, pb.Document(id="m", text="Metrics matter."))
    client.search(tenant, "metrics")
    text = service.metrics_text()
    for series in (
        "aimesh_retrieval_embed_seconds_bucket",
        "aimesh_retrieval_search_seconds_bucket",
        "aimesh_retrieval_chunks_stored",
        'aimesh_retrieval_upserts_total{outcome="stored",reason="NONE"}',
        'aimesh_dependency_up{dependency="qdrant"} 1.0',
        'aimesh_dependency_up{dependency="embedding_model"} 1.0',
    ):
        assert series in text


def deleted_chunks(service, cause: str) -> float:
    prefix = f'aimesh_retrieval_deleted_chunks_total{{cause="{cause}"}} '
    [line] = [x for x in service.metrics_text().splitlines() if x.startswith(prefix)]
    return float(line.removeprefix(prefix))


def test_deleted_chunks_are_counted_by_cause(service, client, tenant):
    before = {cause: deleted_chunks(service, cause) for cause in ("delete", "shrink")}
    long = client.upsert(tenant, pb.Document(id="d", text=long_text("dunes", 60))).results[0]
    short = client.upsert(tenant, pb.Document(id="d", text=long_text("dunes", 20))).results[0]
    assert long.chunks > short.chunks > 0
    assert deleted_chunks(service, "shrink") - before["shrink"] == long.chunks - short.chunks
    client.upsert(tenant, pb.Document(id="d", text=long_text("dunes", 20)))  # same size
    assert deleted_chunks(service, "shrink") - before["shrink"] == long.chunks - short.chunks
    assert deleted_chunks(service, "delete") == before["delete"]

    deleted = client.delete(tenant, "d", "never-stored")
    assert deleted.deleted_chunks == short.chunks
    assert deleted_chunks(service, "delete") - before["delete"] == short.chunks
    assert client.delete(tenant, "d").deleted_chunks == 0
    assert deleted_chunks(service, "delete") - before["delete"] == short.chunks


def test_keyword_scores_come_from_the_tenants_own_documents(client):
    owner, other = f"owner-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    client.upsert(
        owner,
        pb.Document(id="own", text="The zorblax sensor failed twice."),
        pb.Document(id="filler", text="Rivers flow to the sea."),
    )

    def score() -> float:
        hits = client.search(owner, "zorblax", mode=pb.SEARCH_MODE_KEYWORD, top_k=10)
        return next(h.score for h in hits if h.document_id == "own")

    alone = score()
    # Another tenant's documents with the same rare word change nothing, stored or deleted.
    others = [pb.Document(id=f"d{i}", text=f"Zorblax note number {i}.") for i in range(20)]
    client.upsert(other, *others)
    assert math.isclose(score(), alone, rel_tol=1e-6)
    for mode in (pb.SEARCH_MODE_HYBRID, pb.SEARCH_MODE_KEYWORD):
        assert {h.document_id for h in client.search(other, "zorblax", mode=mode)} <= {
            d.id for d in others
        }
    client.delete(other, *(d.id for d in others))
    assert math.isclose(score(), alone, rel_tol=1e-6)
    # The tenant's own documents do count: the word is no longer unique to one.
    client.upsert(owner, pb.Document(id="own-2", text="Another zorblax."))
    assert score() < alone
