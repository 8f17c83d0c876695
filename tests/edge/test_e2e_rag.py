"""End to end with documents: ingest, AskStream with citations, escalation,
tenant isolation of documents, and the clients (Node.js, the CLI, grpcurl).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aimesh.edge.v1 import edge_pb2
from tests.edge.mesh import Mesh
from tests.support import ROOT

CORPUS = {
    "zephyr": (
        "Zephyr Point Lighthouse",
        "The Zephyr Point lighthouse was built in 1887 by the engineer Mara Quill. "
        "Its lamp can be seen from 22 nautical miles away.",
    ),
    "bakery": (
        "Hollow Oak Bakery",
        "Hollow Oak Bakery opens at six in the morning on weekdays. Its best-known bread "
        "is a rye sourdough called Nightloaf.",
    ),
    "kestrel": (
        "Kestrel-9 satellite",
        "The research satellite Kestrel-9 circles the earth every 97 minutes at an "
        "altitude of 540 kilometres.",
    ),
    "garden": (
        "Verdance Garden",
        "The Verdance community garden grows forty varieties of heirloom tomato and holds "
        "a harvest fair every September.",
    ),
}
QUESTION = "When was the Zephyr Point lighthouse built?"


@pytest.fixture(scope="module")
def corpus(mesh: Mesh) -> dict[str, int]:
    """The small corpus, ingested for tenant acme in one batch: chunks per document."""
    response = mesh.stub.IngestDocuments(
        edge_pb2.IngestDocumentsRequest(
            documents=[
                edge_pb2.Document(id=doc_id, title=title, text=text, metadata={"kind": "fact"})
                for doc_id, (title, text) in CORPUS.items()
            ]
        ),
        metadata=mesh.auth("acme"),
        timeout=120,
    )
    assert response.succeeded == len(CORPUS) and response.failed == 0
    return {r.document_id: r.chunks for r in response.results}


def ask_stream(
    mesh: Mesh, tenant: str, question: str, temperature: float | None = None
) -> list[edge_pb2.AskStreamResponse]:
    request = edge_pb2.AskStreamRequest(question=question, max_tokens=24, temperature=temperature)
    return list(mesh.stub.AskStream(request, metadata=mesh.auth(tenant), timeout=120))


def test_ask_stream_gives_a_grounded_streamed_answer_with_citations(
    mesh: Mesh, corpus: dict[str, int]
) -> None:
    messages = ask_stream(mesh, "acme", QUESTION, temperature=0.0)
    assert len(messages) >= 3, "the answer streams in pieces"
    text = "".join(m.text for m in messages)
    final = messages[-1]
    assert text.strip()
    assert "1887" in text
    cited = [c.document_id for c in final.citations]
    assert cited and cited[0] == "zephyr"
    assert set(cited) <= set(CORPUS)
    zephyr = next(c for c in final.citations if c.document_id == "zephyr")
    assert zephyr.index >= 1 and 0 <= zephyr.start < zephyr.end <= len(CORPUS["zephyr"][1])
    assert not final.escalate
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    assert final.cost_micros == final.usage.input_tokens + 2 * final.usage.output_tokens
    assert final.model == "smollm2-135m" and final.provider == "local"
    assert all(not m.HasField("usage") for m in messages[:-1])


def test_nothing_relevant_escalates_without_sources(mesh: Mesh) -> None:
    (*_, final) = ask_stream(mesh, "empty", "What is the warranty period of the Orion blender?")
    assert final.escalate
    assert not final.citations
    assert final.cost_micros == 0


def test_search_ingest_and_delete_stay_within_the_tenant(
    mesh: Mesh, corpus: dict[str, int]
) -> None:
    secret = edge_pb2.Document(
        id="zephyr",
        title="Globex plans",
        text="Globex will open the Zephyr Point lighthouse museum.",
    )
    stored = mesh.stub.IngestDocuments(
        edge_pb2.IngestDocumentsRequest(documents=[secret]),
        metadata=mesh.auth("globex"),
        timeout=120,
    )
    assert stored.succeeded == 1
    # acme's search and answers never see globex's document (same id, other tenant).
    found = mesh.stub.Search(
        edge_pb2.SearchRequest(query="Zephyr Point lighthouse museum", top_k=20),
        metadata=mesh.auth("acme"),
        timeout=60,
    )
    assert found.results and all("Globex" not in r.text for r in found.results)
    # A filter naming another tenant changes nothing: the tenant comes from the key.
    crafted = mesh.stub.Search(
        edge_pb2.SearchRequest(query="museum", top_k=20, filter={"tenant": "globex"}),
        metadata=mesh.auth("acme"),
        timeout=60,
    )
    assert all("Globex" not in r.text for r in crafted.results)
    theirs = mesh.stub.Search(
        edge_pb2.SearchRequest(query="museum", top_k=20),
        metadata=mesh.auth("globex"),
        timeout=60,
    )
    assert {r.document_id for r in theirs.results} == {"zephyr"}
    # globex deleting "zephyr" removes its own document only.
    deleted = mesh.stub.DeleteDocuments(
        edge_pb2.DeleteDocumentsRequest(document_ids=["zephyr", "bakery"]),
        metadata=mesh.auth("globex"),
        timeout=60,
    )
    assert deleted.deleted_documents == 1
    still = mesh.stub.Search(
        edge_pb2.SearchRequest(query="When was the lighthouse built", top_k=5),
        metadata=mesh.auth("acme"),
        timeout=60,
    )
    assert "zephyr" in {r.document_id for r in still.results}


def test_the_node_client_gets_an_answer(mesh: Mesh, corpus: dict[str, int]) -> None:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed")
    client_dir = ROOT / "examples" / "node"
    if not (client_dir / "node_modules" / "@grpc" / "grpc-js").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=client_dir, check=True, timeout=240
        )
    result = subprocess.run(
        [node, "ask.js", QUESTION],
        cwd=client_dir,
        env={
            **os.environ,
            "AIMESH_TARGET": mesh.edge.target,
            "AIMESH_API_KEY": mesh.keys["acme"],
            "AIMESH_MAX_TOKENS": "16",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "(zephyr," in result.stdout
    assert "model smollm2-135m" in result.stdout


def test_cli_ingests_and_asks(mesh: Mesh, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ferry.md").write_text("The Larkspur ferry leaves the harbour at 7:15 every day.")
    env = {**os.environ, "AIMESH_API_KEY": mesh.keys["cache"]}
    base = [sys.executable, "-m", "services.edge.cli", "--target", mesh.edge.target]
    ingest = subprocess.run(
        [*base, "ingest", str(notes)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ingest.returncode == 0, ingest.stderr
    assert "stored 1 of 1 documents" in ingest.stdout
    ask = subprocess.run(
        [*base, "ask", "When does the Larkspur ferry leave?", "--max-tokens", "16"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ask.returncode == 0, ask.stderr
    assert "ferry.md" in ask.stdout
    usage = subprocess.run(
        [*base, "usage"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert "tenant cache (paid tier)" in usage.stdout


def test_grpcurl_runs_the_readme_ask_stream(mesh: Mesh, corpus: dict[str, int]) -> None:
    grpcurl = Path(sys.executable).parent / "grpcurl"
    if not grpcurl.exists():
        pytest.skip("grpcurl is not installed")
    result = subprocess.run(
        [
            str(grpcurl),
            "-plaintext",
            "-H",
            f"authorization: Bearer {mesh.keys['acme']}",
            "-d",
            '{"question": "' + QUESTION + '", "max_tokens": 24}',
            mesh.edge.target,
            "aimesh.edge.v1.EdgeService/AskStream",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(m) for m in re.findall(r"^\{.*?^\}", result.stdout, re.M | re.S)]
    assert len(messages) > 1
    assert messages[-1]["citations"][0]["document_id"] == "zephyr"
