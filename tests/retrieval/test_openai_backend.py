"""The embeddings-API backend against a local server speaking OpenAI's wire format."""

from __future__ import annotations

import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aimesh.retrieval.v1 import retrieval_pb2 as pb
from tests.retrieval.helpers import Client, retrieval

DIMENSION = 16


def bag_of_words(text: str) -> list[float]:
    vector = [0.0] * DIMENSION
    for word in text.lower().split():
        vector[zlib.crc32(word.strip(".,").encode()) % DIMENSION] += 1.0
    return vector if any(vector) else [1.0] + [0.0] * (DIMENSION - 1)


class EmbeddingsHandler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        EmbeddingsHandler.requests.append(
            {"path": self.path, "auth": self.headers["Authorization"], **body}
        )
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        payload = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": bag_of_words(t)}
                for i, t in enumerate(inputs)
            ],
            "model": body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def embeddings_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmbeddingsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_backend_embeds_upserts_and_searches(tmp_path, embeddings_api):
    env = {
        "AIMESH_RETRIEVAL_EMBEDDING_BACKEND": "openai",
        "AIMESH_RETRIEVAL_EMBEDDING_BASE_URL": embeddings_api,
        "AIMESH_RETRIEVAL_EMBEDDING_MODEL": "text-embedding-3-small",
        "AIMESH_RETRIEVAL_EMBEDDING_API_KEY": "sk-test-secret-123",
        "AIMESH_RETRIEVAL_EMBEDDING_BATCH_SIZE": "2",
    }
    with retrieval(tmp_path / "q", env) as running:
        client = Client(running.target)
        response = client.stub.Embed(pb.EmbedRequest(texts=["alpha beta", "gamma"]))
        assert (response.dimension, response.model) == (DIMENSION, "text-embedding-3-small")
        upserted = client.upsert(
            "t",
            pb.Document(id="a", text="Alpha particles are helium nuclei."),
            pb.Document(id="b", text="Gamma rays are photons."),
            pb.Document(id="c", text="Beta decay emits electrons."),
        )
        assert upserted.succeeded == 3
        hits = client.search("t", "gamma rays photons", mode=pb.SEARCH_MODE_DENSE, top_k=1)
        assert hits[0].document_id == "b"
        client.close()
    sent = EmbeddingsHandler.requests
    assert all(r["path"] == "/v1/embeddings" for r in sent)
    assert all(r["auth"] == "Bearer sk-test-secret-123" for r in sent)
    assert max(len(r["input"]) for r in sent) == 2  # batched by the setting
    assert not any("sk-test-secret-123" in line for line in running.raw_lines)
