"""A provider API key never leaks: not into any process's logs (stderr or
stdout), not into what a client sees (status messages, details, metadata), not
into /metrics, even when the provider fails in ways that echo it back.

The llm service runs the openai provider with a recognisable key against the
fake upstream (tests/llm/fake_upstream.py, driven through the real SDK), with
the guardrails service and the edge in front. Logs are at DEBUG, the most
that any deployment would print. The upstream fails as OpenAI does (401 with
OpenAI's error body, which here quotes the key in full), as a careless gateway
does (a 400 quoting the key, which is the one provider message a caller is
shown; a 500 quoting a truncated Authorization header; an error event inside
a stream), and by refusing connections.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_status import rpc_status

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from services.edge.auth import add_to_key_file, make_record, new_key
from tests.llm import fake_upstream
from tests.llm.fake_upstream import Behaviour, FakeUpstream, Recorded
from tests.support import ServiceProcess

KEY = "sk-proj-aimeshCANARY7f3a9c2e1b5d4f60a8e2Zq"
# What a truncating or masking echo would still show of it.
FRAGMENTS = ("aimeshCANARY", "7f3a9c2e1b5d4f60")


class LeakyUpstream(FakeUpstream):
    """The fake upstream, plus failures whose bodies quote the caller's key,
    and a fixed port so it can be stopped (connection refused) and restarted."""

    open_connections: set[asyncio.StreamWriter]

    async def start_on(self, port: int = 0) -> LeakyUpstream:
        self.open_connections = set()
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def refuse(self) -> None:
        """Stop listening and drop the kept-alive connections: every new
        request finds the port closed (connection refused)."""
        await self.stop()
        for writer in list(self.open_connections):
            writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections.add(writer)
        try:
            await super()._connection(reader, writer)
        finally:
            self.open_connections.discard(writer)

    async def _respond(
        self, request: Recorded, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        behaviour = self.script[0] if self.script else self.default
        if not behaviour.kind.startswith("leak-"):
            return await super()._respond(request, reader, writer)
        if self.script:
            self.script.popleft()
        self.requests.append(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if behaviour.kind == "leak-stream":
            await fake_upstream._start_sse(writer, False)
            event = {"error": {"message": f"upstream failed for key {token}", "type": "server"}}
            await fake_upstream._chunk(writer, f"data: {json.dumps(event)}\n\n".encode())
            await fake_upstream._chunk(writer, b"")
            return True
        messages = {
            401: f"Incorrect API key provided: {token}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            400: f"Invalid request from key {token}: 'messages' is malformed.",
            500: f"gateway error; request headers: authorization=Bearer {token[:-4]}...",
        }
        kind, code = {
            401: ("invalid_request_error", "invalid_api_key"),
            400: ("invalid_request_error", None),
            500: ("server_error", None),
        }[behaviour.status]
        body = {
            "error": {
                "message": messages[behaviour.status],
                "type": kind,
                "param": None,
                "code": code,
            }
        }
        await fake_upstream._send_json(writer, behaviour.status, body, {}, False)
        return True


@dataclass
class Mesh:
    llm: ServiceProcess
    guardrails: ServiceProcess
    edge: ServiceProcess
    api_key: str

    def processes(self) -> list[ServiceProcess]:
        return [self.llm, self.guardrails, self.edge]


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[LeakyUpstream]:
    fake = await LeakyUpstream().start_on()
    yield fake
    await fake.stop()


@pytest.fixture(scope="module")
def mesh(upstream: LeakyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    keys_file: Path = tmp_path_factory.mktemp("keys") / "api_keys.json"
    api_key = new_key()
    add_to_key_file(keys_file, make_record(api_key, "acme", "paid"))
    started: list[ServiceProcess] = []
    try:
        llm_env = {
            "AIMESH_LLM_LOG_LEVEL": "DEBUG",
            "AIMESH_LLM_LOCAL_ENABLED": "false",
            "AIMESH_LLM_OPENAI_API_KEY": KEY,
            "AIMESH_LLM_OPENAI_BASE_URL": upstream.openai_base_url,
            "AIMESH_LLM_RETRY_MAX_ATTEMPTS": "2",
            "AIMESH_LLM_RETRY_BASE_SECONDS": "0.01",
            "AIMESH_LLM_RETRY_MAX_BACKOFF_SECONDS": "0.02",
            # Keep every call reaching the upstream: no circuit opens here.
            "AIMESH_LLM_CIRCUIT_FAILURE_THRESHOLD": "1000",
        }
        llm = ServiceProcess("llm", llm_env, capture_stdout=True).start()
        started.append(llm)
        guardrails_env = {"AIMESH_GUARDRAILS_LOG_LEVEL": "DEBUG"}
        guardrails = ServiceProcess("guardrails", guardrails_env, capture_stdout=True).start()
        started.append(guardrails)
        edge_env = {
            "AIMESH_EDGE_LOG_LEVEL": "DEBUG",
            "AIMESH_EDGE_API_KEYS_FILE": str(keys_file),
            "AIMESH_EDGE_LLM_TARGET": llm.target,
            "AIMESH_EDGE_GUARDRAILS_TARGET": guardrails.target,
            "AIMESH_EDGE_RETRIEVAL_TARGET": "127.0.0.1:9",  # not needed for Chat
            "AIMESH_EDGE_REDIS_URL": "",
            "AIMESH_EDGE_CACHE_ENABLED": "false",
        }
        edge = ServiceProcess("edge", edge_env, capture_stdout=True).start()
        started.append(edge)
        yield Mesh(llm, guardrails, edge, api_key)
    finally:
        for process in reversed(started):
            process.terminate()


def leaked(text: str | bytes) -> list[str]:
    """The pieces of the key found in `text`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [piece for piece in (KEY, *FRAGMENTS) if piece in text]


def client_view(error: grpc.aio.AioRpcError) -> str:
    """Everything a client can read of a failed call, as text."""
    parts = [error.code().name, error.details() or ""]
    for key, value in (*(error.initial_metadata() or ()), *(error.trailing_metadata() or ())):
        parts.append(
            f"{key}={value.decode('utf-8', 'replace') if isinstance(value, bytes) else value}"
        )
    status = rpc_status.from_call(error)
    if status is not None:
        parts.append(status.message)
        parts.extend(str(detail) for detail in status.details)
    return "\n".join(parts)


async def failed(call: grpc.aio.UnaryUnaryCall) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def stream_failed(call: grpc.aio.UnaryStreamCall) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in call:
            pass
    return raised.value


async def force_errors(mesh: Mesh) -> list[str]:
    """Generate and GenerateStream on llm, Chat and ChatStream through the
    edge; every one fails. What each client saw, as text."""
    seen = []
    prompt = "Write one sentence about lighthouses."
    auth = [("authorization", f"Bearer {mesh.api_key}")]
    async with grpc.aio.insecure_channel(mesh.llm.target) as channel:
        llm = llm_pb2_grpc.LlmServiceStub(channel)
        request = llm_pb2.GenerateRequest(
            model="gpt-4o-mini", messages=[llm_pb2.Message(role="user", content=prompt)]
        )
        seen.append(client_view(await failed(llm.Generate(request, timeout=30))))
        stream_request = llm_pb2.GenerateStreamRequest(
            model="gpt-4o-mini", messages=[llm_pb2.Message(role="user", content=prompt)]
        )
        seen.append(
            client_view(await stream_failed(llm.GenerateStream(stream_request, timeout=30)))
        )
    async with grpc.aio.insecure_channel(mesh.edge.target) as channel:
        edge = edge_pb2_grpc.EdgeServiceStub(channel)
        chat = edge_pb2.ChatRequest(
            model="gpt-4o-mini",
            messages=[edge_pb2.Message(role="user", content=prompt)],
            temperature=0.5,
        )
        seen.append(client_view(await failed(edge.Chat(chat, metadata=auth, timeout=60))))
        chat_stream = edge_pb2.ChatStreamRequest(
            model="gpt-4o-mini",
            messages=[edge_pb2.Message(role="user", content=prompt)],
            temperature=0.5,
        )
        seen.append(
            client_view(
                await stream_failed(edge.ChatStream(chat_stream, metadata=auth, timeout=60))
            )
        )
    return seen


FAILURES = {
    "401 quoting the key": Behaviour("leak-401", status=401),
    "400 quoting the key": Behaviour("leak-400", status=400),
    "500 quoting part of the key": Behaviour("leak-500", status=500),
    "error event in the stream": Behaviour("leak-stream"),
    "plain 500": Behaviour.error(500),
}


EXPECTED_KIND = {
    "401 quoting the key": "auth",
    "400 quoting the key": "bad_request",
    "500 quoting part of the key": "server_error",
    "error event in the stream": "server_error",
    "plain 500": "server_error",
    "connection refused": "connection",
}


@pytest.mark.parametrize("failure", [*FAILURES, "connection refused"])
async def test_the_key_leaks_nowhere(mesh: Mesh, upstream: LeakyUpstream, failure: str) -> None:
    upstream.reset()
    port = upstream.port
    logged_before = len(mesh.llm.lines)
    if failure == "connection refused":
        await upstream.refuse()
    else:
        upstream.default = FAILURES[failure]
    try:
        seen = await asyncio.wait_for(force_errors(mesh), 60)
        requests = list(upstream.requests)
    finally:
        if failure == "connection refused":
            await upstream.start_on(port)
        upstream.reset()
    if failure != "connection refused":
        # The key was really in play: the SDK sent it, the upstream quoted it.
        assert {r.headers.get("authorization") for r in requests} == {f"Bearer {KEY}"}

    for text in seen:
        assert not leaked(text), f"a client saw the key ({failure}):\n{text}"
    for process in mesh.processes():
        log = "\n".join(process.raw_lines)
        out = "\n".join(process.stdout_lines)
        assert not leaked(log), f"{process.name} logged the key ({failure})"
        assert not leaked(out), f"{process.name} printed the key ({failure})"
        assert not leaked(process.metrics_text()), f"{process.name} exported the key"
    # The failures happened as scripted, and were logged (without the key).
    kinds = {line.get("kind") for line in mesh.llm.lines[logged_before:] if "kind" in line}
    assert EXPECTED_KIND[failure] in kinds, kinds
