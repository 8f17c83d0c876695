"""Authentication and tenant isolation, against the real mesh.

Every edge RPC refuses a call without a key, with a malformed authorization
header or with a wrong key: UNAUTHENTICATED, and nothing happens behind it (no
downstream service ever sees the call's request id, nothing is stored, deleted
or charged). Two tenants with their own keys: tenant B never reads, searches,
asks about, overwrites, deletes or spends tenant A's documents, cached answers
or budget, however it crafts filters (on "tenant", on internal payload keys)
and document ids (A's own, with path and quote characters).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from services.edge.auth import add_to_key_file, make_record, new_key
from tests.edge.mesh import CATALOGUE, details
from tests.reliability.conftest import Mesh, start_mesh

# Tenant A's secret, in words no other document shares.
SECRET = "The Quillmark vault code is 4417 and the heron statue hides the spare key."
QUESTION = "What is the Quillmark vault code?"
# A's document ids: ordinary, and ones with path, quote and wildcard characters.
A_IDS = [
    "plans",
    "../bravo/plans",
    "alpha/../../etc/passwd",
    'it\'s "quoted"',
    "back\\slash",
    "' OR '1'='1",
    "%2e%2e%2fplans",
    "*",
    "tenant",
    "ünïcødé id",
]


@dataclass
class Tenants:
    mesh: Mesh
    keys: dict[str, str]
    stub: edge_pb2_grpc.EdgeServiceStub

    def auth(self, tenant: str, request_id: str | None = None) -> list[tuple[str, str]]:
        metadata = [("authorization", f"Bearer {self.keys[tenant]}")]
        if request_id:
            metadata.append(("x-request-id", request_id))
        return metadata


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    tmp: Path = tmp_path_factory.mktemp("auth-isolation")
    keys = {"alpha": new_key(), "bravo": new_key()}
    for tenant, key in keys.items():
        add_to_key_file(tmp / "api_keys.json", make_record(key, tenant, "paid"))
    catalogue = tmp / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)  # the local model, with a price: spend is real
    mesh = start_mesh(
        tmp,
        f"aimesh-auth-isolation-{os.getpid()}-{uuid.uuid4().hex[:8]}:",
        env={
            "llm": {"AIMESH_LLM_CATALOGUE_PATH": str(catalogue)},
            # Every refused call below comes from one address: no per-address limit here.
            "edge": {"AIMESH_EDGE_UNAUTHENTICATED_REQUESTS_PER_WINDOW": "100000"},
        },
    )
    channel = grpc.insecure_channel(mesh.edge.target)
    running = Tenants(mesh, keys, edge_pb2_grpc.EdgeServiceStub(channel))
    try:
        stored = running.stub.IngestDocuments(
            edge_pb2.IngestDocumentsRequest(
                documents=[
                    edge_pb2.Document(
                        id=doc_id,
                        title=f"Alpha internal {i}",
                        text=SECRET,
                        metadata={"kind": "secret", "tenant": "alpha", "owner": "alpha"},
                    )
                    for i, doc_id in enumerate(A_IDS)
                ]
            ),
            metadata=running.auth("alpha"),
            timeout=120,
        )
        assert stored.succeeded == len(A_IDS), stored
        bravo = running.stub.IngestDocuments(
            edge_pb2.IngestDocumentsRequest(
                documents=[
                    edge_pb2.Document(
                        id="bravo-notes",
                        title="Bravo notes",
                        text="Bravo's garden grows tomatoes and beans every summer.",
                    )
                ]
            ),
            metadata=running.auth("bravo"),
            timeout=120,
        )
        assert bravo.succeeded == 1
        yield running
    finally:
        channel.close()
        for service in (mesh.edge, mesh.guardrails, mesh.retrieval, mesh.llm):
            service.terminate()


def search(
    t: Tenants, tenant: str, query: str = QUESTION, **fields: Any
) -> edge_pb2.SearchResponse:
    return t.stub.Search(
        edge_pb2.SearchRequest(query=query, top_k=50, **fields),
        metadata=t.auth(tenant),
        timeout=60,
    )


def a_documents_intact(t: Tenants) -> None:
    found = search(t, "alpha")
    assert {r.document_id for r in found.results} == set(A_IDS)
    assert all(r.text == SECRET for r in found.results)


def spent(t: Tenants, tenant: str) -> int:
    usage = t.stub.GetUsage(edge_pb2.GetUsageRequest(), metadata=t.auth(tenant), timeout=10)
    assert usage.tenant == tenant
    return int(usage.spent_micros)


# --- authentication ------------------------------------------------------------

PROBE_ID = "unauthenticated-probe"


def rpc_calls() -> dict[str, Callable[[edge_pb2_grpc.EdgeServiceStub, Any], object]]:
    """Each RPC with a request that would have an effect if it were let in."""
    chat: dict[str, Any] = {
        "messages": [edge_pb2.Message(role="user", content="Say hi")],
        "max_tokens": 4,
    }
    ask: dict[str, Any] = {"question": QUESTION, "max_tokens": 4}
    return {
        "Chat": lambda s, md: s.Chat(edge_pb2.ChatRequest(**chat), metadata=md, timeout=30),
        "ChatStream": lambda s, md: list(
            s.ChatStream(edge_pb2.ChatStreamRequest(**chat), metadata=md, timeout=30)
        ),
        "Ask": lambda s, md: s.Ask(edge_pb2.AskRequest(**ask), metadata=md, timeout=30),
        "AskStream": lambda s, md: list(
            s.AskStream(edge_pb2.AskStreamRequest(**ask), metadata=md, timeout=30)
        ),
        "IngestDocuments": lambda s, md: s.IngestDocuments(
            edge_pb2.IngestDocumentsRequest(
                documents=[edge_pb2.Document(id=PROBE_ID, title="probe", text=SECRET)]
            ),
            metadata=md,
            timeout=30,
        ),
        "DeleteDocuments": lambda s, md: s.DeleteDocuments(
            edge_pb2.DeleteDocumentsRequest(document_ids=A_IDS), metadata=md, timeout=30
        ),
        "Search": lambda s, md: s.Search(
            edge_pb2.SearchRequest(query=QUESTION), metadata=md, timeout=30
        ),
        "GetUsage": lambda s, md: s.GetUsage(edge_pb2.GetUsageRequest(), metadata=md, timeout=30),
    }


def bad_credentials(keys: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    a = keys["alpha"]
    return {
        "no-key": [],
        "empty-bearer": [("authorization", "Bearer ")],
        "scheme-only": [("authorization", "Bearer")],
        "no-scheme": [("authorization", a)],
        "basic-scheme": [("authorization", f"Basic {a}")],
        "two-tokens": [("authorization", f"Bearer {a} {keys['bravo']}")],
        "wrong-key": [("authorization", f"Bearer {new_key()}")],
        "truncated-key": [("authorization", f"Bearer {a[:-1]}")],
        "extended-key": [("authorization", f"Bearer {a}x")],
        "other-header": [("x-api-key", a)],
        "malformed-first": [("authorization", "Token abc"), ("authorization", f"Bearer {a}")],
    }


CREDENTIALS = sorted(bad_credentials({"alpha": "a", "bravo": "b"}))


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("rpc", sorted(rpc_calls()))
def test_every_rpc_refuses_a_missing_malformed_or_wrong_key(
    tenants: Tenants, rpc: str, credential: str
) -> None:
    request_id = f"unauth-{rpc}-{credential}-{uuid.uuid4().hex[:8]}"
    metadata = [*bad_credentials(tenants.keys)[credential], ("x-request-id", request_id)]
    with pytest.raises(grpc.RpcError) as raised:
        rpc_calls()[rpc](tenants.stub, metadata)
    error = raised.value
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (error.code(), error.details())
    info = details(error)["ErrorInfo"]
    assert info.reason in {"API_KEY_MISSING", "API_KEY_INVALID"}  # type: ignore[attr-defined]
    # The key presented is never echoed back.
    assert tenants.keys["alpha"] not in (error.details() or "")
    # Nothing happened behind the refusal: no downstream service saw the call.
    for service in (tenants.mesh.llm, tenants.mesh.retrieval, tenants.mesh.guardrails):
        assert not [line for line in service.lines if line.get("request_id") == request_id], (
            f"{service.name} served part of an unauthenticated {rpc}"
        )


def test_refused_calls_left_no_trace(tenants: Tenants) -> None:
    """After every refused call (whatever order the tests ran in): nothing stored,
    nothing deleted, nothing charged."""
    before = {tenant: spent(tenants, tenant) for tenant in ("alpha", "bravo")}
    for credential in CREDENTIALS:
        for rpc, call in rpc_calls().items():
            metadata = bad_credentials(tenants.keys)[credential]
            with pytest.raises(grpc.RpcError) as raised:
                call(tenants.stub, metadata)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED, rpc
    a_documents_intact(tenants)
    for tenant in ("alpha", "bravo"):
        found = search(tenants, tenant, "probe " + SECRET)
        assert PROBE_ID not in {r.document_id for r in found.results}
    assert {tenant: spent(tenants, tenant) for tenant in ("alpha", "bravo")} == before
    edge_log = tenants.mesh.edge.lines
    refused = [line for line in edge_log if line.get("code") == "UNAUTHENTICATED"]
    assert refused and all(not line.get("tenant") for line in refused)


# --- isolation -------------------------------------------------------------------


# Filters on metadata entries: A's own ("tenant", "owner", "kind" are entries A
# set on its documents), and names of stored fields that are not metadata.
CRAFTED_FILTERS: list[dict[str, str]] = [
    {"tenant": "alpha"},
    {"owner": "alpha"},
    {"kind": "secret"},
    {"tenant": "bravo", "kind": "secret"},
    {"document_id": "plans"},
    {"metadata": "alpha"},
    {"text": SECRET},
]
# Keys that would address the stored payload itself rather than the metadata.
PAYLOAD_KEYS: list[dict[str, str]] = [
    {"metadata.tenant": "alpha"},
    {"tenant.value": "alpha"},
    {"../tenant": "alpha"},
    {"$or": "alpha"},
    {"tenant OR 1=1": "alpha"},
    {"tenant\u0000": "alpha"},
    {"": "alpha"},
]


def assert_no_alpha(results: Any) -> None:
    for r in results:
        assert "Quillmark" not in r.text, r
        assert r.document_id not in A_IDS or r.text != SECRET, r


@pytest.mark.parametrize("crafted", CRAFTED_FILTERS, ids=lambda f: ",".join(f))
def test_b_cannot_search_a_with_crafted_metadata_filters(
    tenants: Tenants, crafted: dict[str, str]
) -> None:
    found = search(tenants, "bravo", filter=crafted)
    assert_no_alpha(found.results)
    assert not found.results  # B has no document matching these filters
    # The same filter serves A its own documents when they match it: the filter
    # narrows, the tenant (from the key) bounds.
    theirs = search(tenants, "alpha", filter=crafted).results
    a_metadata = {"kind": "secret", "tenant": "alpha", "owner": "alpha"}
    if crafted.items() <= a_metadata.items():
        assert {r.document_id for r in theirs} == set(A_IDS)
    else:
        assert not theirs


@pytest.mark.parametrize("crafted", PAYLOAD_KEYS, ids=repr)
def test_filters_on_internal_payload_keys_are_refused(
    tenants: Tenants, crafted: dict[str, str]
) -> None:
    for tenant in ("bravo", "alpha"):
        with pytest.raises(grpc.RpcError) as raised:
            search(tenants, tenant, filter=crafted)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
        fields = [v.field for v in details(raised.value)["BadRequest"].field_violations]  # type: ignore[attr-defined]
        assert fields and all(f.startswith("filter") for f in fields)


@pytest.mark.parametrize("filter_", [{}, {"tenant": "alpha"}, {"kind": "secret"}], ids=repr)
@pytest.mark.parametrize("rpc", ["Ask", "AskStream"])
def test_b_cannot_ask_about_a(tenants: Tenants, rpc: str, filter_: dict[str, str]) -> None:
    before = spent(tenants, "alpha")
    if rpc == "Ask":
        answer = tenants.stub.Ask(
            edge_pb2.AskRequest(question=QUESTION, max_tokens=8, filter=filter_),
            metadata=tenants.auth("bravo"),
            timeout=120,
        )
        final, text = answer, answer.text
    else:
        replies = list(
            tenants.stub.AskStream(
                edge_pb2.AskStreamRequest(question=QUESTION, max_tokens=8, filter=filter_),
                metadata=tenants.auth("bravo"),
                timeout=120,
            )
        )
        final, text = replies[-1], "".join(r.text for r in replies)
    # Nothing of B's is relevant: B is told so; A's document is neither used nor cited.
    assert final.escalate and not final.citations
    assert "4417" not in text and "Quillmark" not in text.replace(QUESTION, "")
    assert spent(tenants, "alpha") == before


def test_b_cannot_delete_or_overwrite_a_documents(tenants: Tenants) -> None:
    deleted = tenants.stub.DeleteDocuments(
        edge_pb2.DeleteDocumentsRequest(document_ids=A_IDS),
        metadata=tenants.auth("bravo"),
        timeout=60,
    )
    assert (deleted.deleted_documents, deleted.deleted_chunks) == (0, 0)
    a_documents_intact(tenants)

    # B stores documents under A's very ids: B gets its own copies, A keeps its own.
    decoy = "Bravo decoy text about the Quillmark vault: nothing to see."
    stored = tenants.stub.IngestDocuments(
        edge_pb2.IngestDocumentsRequest(
            documents=[edge_pb2.Document(id=doc_id, text=decoy) for doc_id in A_IDS]
        ),
        metadata=tenants.auth("bravo"),
        timeout=120,
    )
    assert stored.succeeded == len(A_IDS), stored
    try:
        a_documents_intact(tenants)
        theirs = search(tenants, "bravo")
        assert {r.document_id for r in theirs.results} >= set(A_IDS)
        assert all(r.text != SECRET and "4417" not in r.text for r in theirs.results)
    finally:
        removed = tenants.stub.DeleteDocuments(
            edge_pb2.DeleteDocumentsRequest(document_ids=A_IDS),
            metadata=tenants.auth("bravo"),
            timeout=60,
        )
    assert removed.deleted_documents == len(A_IDS)
    a_documents_intact(tenants)


def test_b_never_sees_a_cached_answers_nor_spends_a_budget(tenants: Tenants) -> None:
    a_before, b_before = spent(tenants, "alpha"), spent(tenants, "bravo")
    chat = edge_pb2.ChatRequest(
        messages=[edge_pb2.Message(role="user", content="Name one colour.")],
        max_tokens=4,
        temperature=0,
    )
    a_reply = tenants.stub.Chat(chat, metadata=tenants.auth("alpha"), timeout=120)
    assert a_reply.cost_micros > 0 and not a_reply.cached
    ask = edge_pb2.AskRequest(question=QUESTION, max_tokens=8, temperature=0)
    a_answer = tenants.stub.Ask(ask, metadata=tenants.auth("alpha"), timeout=120)
    assert not a_answer.escalate and a_answer.cost_micros > 0
    # A's repeat is served from A's cache (so the cache is on)...
    assert tenants.stub.Chat(chat, metadata=tenants.auth("alpha"), timeout=120).cached
    assert tenants.stub.Ask(ask, metadata=tenants.auth("alpha"), timeout=120).cached
    a_spent = spent(tenants, "alpha")
    assert a_spent - a_before == a_reply.cost_micros + a_answer.cost_micros

    # ...but never to B: B's identical requests are generated (and paid) by B.
    b_reply = tenants.stub.Chat(chat, metadata=tenants.auth("bravo"), timeout=120)
    assert not b_reply.cached and b_reply.cost_micros > 0
    b_answer = tenants.stub.Ask(ask, metadata=tenants.auth("bravo"), timeout=120)
    assert not b_answer.cached and b_answer.escalate and not b_answer.citations
    assert "4417" not in b_answer.text

    # Each GetUsage shows its own tenant's spend only.
    assert spent(tenants, "bravo") - b_before == b_reply.cost_micros + b_answer.cost_micros
    assert spent(tenants, "alpha") == a_spent
