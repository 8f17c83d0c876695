"""Provider faults, seen by a client of the edge.

The llm service's `openai` provider points at the fault-injecting upstream of
tests/llm (the real OpenAI SDK, the real wire format: JSON and SSE), a second
OpenAI-compatible provider at a healthy one, and every call goes through the
real edge (Chat and ChatStream), guardrails' streaming redaction included.
tests/llm/test_grpc_faults.py proves the llm's own behaviour; this proves what
reaches the edge's client:

- with a fallback on a healthy upstream, no fault shows (429 with Retry-After,
  500, 503, a hang, a connection dropped before the first token, malformed JSON);
  a unary llm Generate whose provider hangs falls back too, its attempts bounded;
- without one, a clean UNAVAILABLE with RetryInfo (the provider's Retry-After
  when it sent one), never INTERNAL, never a hang past the client's deadline;
- a stream cut mid-way ends with a clean status that says the output is
  incomplete, no message of it looks complete, and the partial output is charged;
- the circuit opens after repeated failures (calls skip the upstream) and closes
  after recovery, visible in the llm's /metrics.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from tests.llm.fake_upstream import Behaviour, FakeUpstream
from tests.llm.grpc_helpers import details
from tests.reliability.conftest import Mesh, start_mesh

OPENAI_KEY = "sk-provider-faults-openai-0123456789"
BACKUP_KEY = "sk-provider-faults-backup-0123456789"
COOLDOWN_SECONDS = 3.0
STREAM_TIMEOUT_SECONDS = 1.5
ATTEMPT_TIMEOUT_SECONDS = 1.5
CALL_TIMEOUT = 30.0
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}

# Prices: the backup is cheaper, so a fallback's answer costs less than the reservation.
CATALOGUE = """
default_model: backup-mini
providers:
  openai:
    kind: openai
    base_url: {flaky}
  backup:
    kind: openai
    base_url: {steady}
    api_key_env: AIMESH_TEST_BACKUP_API_KEY
models:
  gpt-4o-mini:
    provider: openai
    upstream_model: gpt-4o-mini
    context_window: 128000
    max_output_tokens: 16384
    input_micros_per_million_tokens: 150000
    output_micros_per_million_tokens: 600000
    fallbacks: [backup-mini]
  gpt-4o:
    provider: openai
    upstream_model: gpt-4o
    context_window: 128000
    max_output_tokens: 16384
    input_micros_per_million_tokens: 2500000
    output_micros_per_million_tokens: 10000000
    fallbacks: []
  gpt-4.1:
    provider: openai
    upstream_model: gpt-4.1
    context_window: 128000
    max_output_tokens: 32768
    input_micros_per_million_tokens: 2000000
    output_micros_per_million_tokens: 8000000
    fallbacks: [backup-mini]
  backup-mini:
    provider: backup
    upstream_model: backup-mini
    context_window: 32000
    max_output_tokens: 4096
    input_micros_per_million_tokens: 100000
    output_micros_per_million_tokens: 400000
    fallbacks: []
"""

# Faults before the first token: retried, then the next model of the chain.
FAULTS = {
    "429-retry-after": Behaviour.error(429, retry_after="1"),
    "500": Behaviour.error(500),
    "503": Behaviour.error(503),
    "hang": Behaviour("hang"),
    "drop-before-first-token": Behaviour("drop", drop_after=0),
    "malformed-json": Behaviour("malformed"),
}


@dataclass
class Upstreams:
    flaky: FakeUpstream
    steady: FakeUpstream

    def reset(self) -> None:
        self.flaky.reset()
        self.steady.reset()


@dataclass
class Client:
    edge: edge_pb2_grpc.EdgeServiceStub
    llm: llm_pb2_grpc.LlmServiceStub
    auth: list[tuple[str, str]]


@pytest.fixture(scope="module")
async def upstreams() -> AsyncIterator[Upstreams]:
    flaky, steady = await FakeUpstream().start(), await FakeUpstream().start()
    yield Upstreams(flaky, steady)
    await flaky.stop()
    await steady.stop()


@pytest.fixture(scope="module")
def pmesh(tmp_path_factory: pytest.TempPathFactory, upstreams: Upstreams) -> Iterator[Mesh]:
    tmp: Path = tmp_path_factory.mktemp("provider-faults")
    catalogue = tmp / "catalogue.yaml"
    catalogue.write_text(
        CATALOGUE.format(
            flaky=upstreams.flaky.openai_base_url, steady=upstreams.steady.openai_base_url
        )
    )
    llm_env = {
        "AIMESH_LLM_CATALOGUE_PATH": str(catalogue),
        "AIMESH_LLM_LOCAL_ENABLED": "false",
        "AIMESH_LLM_OPENAI_API_KEY": OPENAI_KEY,
        "AIMESH_TEST_BACKUP_API_KEY": BACKUP_KEY,
        "AIMESH_LLM_RETRY_BASE_SECONDS": "0.01",
        "AIMESH_LLM_RETRY_MAX_BACKOFF_SECONDS": "0.05",
        # One failing call (3 attempts) does not open a circuit; two in a row do.
        "AIMESH_LLM_CIRCUIT_FAILURE_THRESHOLD": "4",
        "AIMESH_LLM_CIRCUIT_COOLDOWN_SECONDS": str(COOLDOWN_SECONDS),
        # A provider silent this long is given up on (and the next model tried).
        "AIMESH_LLM_STREAM_TIMEOUT_SECONDS": str(STREAM_TIMEOUT_SECONDS),
        # A unary call unanswered this long fails the attempt likewise.
        "AIMESH_LLM_ATTEMPT_TIMEOUT_SECONDS": str(ATTEMPT_TIMEOUT_SECONDS),
    }
    mesh = start_mesh(
        tmp, f"aimesh-provider-faults-{os.getpid()}-{tmp.name}:", env={"llm": llm_env}
    )
    try:
        yield mesh
    finally:
        for service in (mesh.edge, mesh.guardrails, mesh.retrieval, mesh.llm):
            service.terminate()


@pytest.fixture
async def client(pmesh: Mesh, upstreams: Upstreams) -> AsyncIterator[Client]:
    async with (
        grpc.aio.insecure_channel(pmesh.edge.target) as edge_channel,
        grpc.aio.insecure_channel(pmesh.llm.target) as llm_channel,
    ):
        found = Client(
            edge_pb2_grpc.EdgeServiceStub(edge_channel),
            llm_pb2_grpc.LlmServiceStub(llm_channel),
            [("authorization", f"Bearer {pmesh.api_key}")],
        )
        # A previous test may have left failures counted against a circuit:
        # one good call on each flaky model starts this test from a closed circuit.
        upstreams.reset()
        await circuits_not_open(found.llm)
        for model in ("gpt-4o-mini", "gpt-4o", "gpt-4.1"):
            reply = await found.llm.Generate(
                llm_pb2.GenerateRequest(model=model, messages=[llm_message("ping")]), timeout=30
            )
            assert reply.model == model
        upstreams.reset()
        yield found
    upstreams.reset()


def llm_message(text: str) -> llm_pb2.Message:
    return llm_pb2.Message(role="user", content=text)


async def circuits_not_open(llm: llm_pb2_grpc.LlmServiceStub) -> None:
    for _ in range(400):
        reply = await llm.ListModels(llm_pb2.ListModelsRequest(), timeout=5)
        if all(m.circuit_state != "open" for m in reply.models):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("circuits stayed open past their cooldown")


def user(text: str) -> list[edge_pb2.Message]:
    return [edge_pb2.Message(role="user", content=text)]


async def chat(
    client: Client, rpc: str, model: str, deadline: float = CALL_TIMEOUT
) -> tuple[str, edge_pb2.ChatResponse | edge_pb2.ChatStreamResponse]:
    """The reply's text and the message that carries usage (the last one)."""
    if rpc == "Chat":
        reply = await client.edge.Chat(
            edge_pb2.ChatRequest(model=model, messages=user("Say hello"), max_tokens=16),
            metadata=client.auth,
            timeout=deadline,
        )
        return reply.text, reply
    request = edge_pb2.ChatStreamRequest(model=model, messages=user("Say hello"), max_tokens=16)
    replies = [
        r async for r in client.edge.ChatStream(request, metadata=client.auth, timeout=deadline)
    ]
    assert all(not r.HasField("usage") for r in replies[:-1])
    return "".join(r.text for r in replies), replies[-1]


async def failed_call(
    client: Client, rpc: str, model: str, deadline: float
) -> tuple[grpc.aio.AioRpcError, grpc.aio.Call, list[edge_pb2.ChatStreamResponse]]:
    """Call and expect a failure: the error, the call (for its details), what
    was streamed before it."""
    received: list[edge_pb2.ChatStreamResponse] = []
    call: grpc.aio.Call
    if rpc == "Chat":
        unary = client.edge.Chat(
            edge_pb2.ChatRequest(model=model, messages=user("Say hello"), max_tokens=16),
            metadata=client.auth,
            timeout=deadline,
        )
        call = unary
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await unary
    else:
        stream = client.edge.ChatStream(
            edge_pb2.ChatStreamRequest(model=model, messages=user("Say hello"), max_tokens=16),
            metadata=client.auth,
            timeout=deadline,
        )
        call = stream
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for reply in stream:
                received.append(reply)
    return caught.value, call, received


async def spent(client: Client) -> int:
    usage = await client.edge.GetUsage(edge_pb2.GetUsageRequest(), metadata=client.auth, timeout=10)
    return int(usage.spent_micros)


def retry_seconds(found: dict[str, object]) -> float:
    info = found["RetryInfo"]
    assert isinstance(info, error_details_pb2.RetryInfo)
    return float(info.retry_delay.ToMilliseconds()) / 1000


def reason(found: dict[str, object]) -> str:
    info = found["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.domain == "aimesh.dev"
    return str(info.reason)


# --- a fallback on a healthy upstream: no failure -----------------------------


@pytest.mark.parametrize("rpc", ["Chat", "ChatStream"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_fallback_hides_every_provider_fault(
    client: Client, upstreams: Upstreams, fault: str, rpc: str
) -> None:
    upstreams.flaky.default = FAULTS[fault]
    text, last = await chat(client, rpc, "gpt-4o-mini")
    assert text == "Hello, world!"
    assert (last.model, last.provider) == ("backup-mini", "backup")
    assert last.usage.output_tokens == 4 and last.cost_micros > 0
    assert last.finish_reason == edge_pb2.FINISH_REASON_STOP
    # The fault was met (and retried) before the fallback answered.
    assert len(upstreams.flaky.requests) == 3, fault
    assert len(upstreams.steady.requests) == 1


# --- no fallback: a clean UNAVAILABLE with RetryInfo -------------------------


@pytest.mark.parametrize("rpc", ["Chat", "ChatStream"])
@pytest.mark.parametrize("fault", sorted(set(FAULTS) - {"hang"}))
async def test_without_a_fallback_a_fault_is_unavailable_with_retry_info(
    client: Client, upstreams: Upstreams, fault: str, rpc: str
) -> None:
    upstreams.flaky.default = FAULTS[fault]
    error, call, received = await failed_call(client, rpc, "gpt-4o", deadline=CALL_TIMEOUT)
    assert error.code() == grpc.StatusCode.UNAVAILABLE, (error.code(), error.details())
    assert not received, "no message of a failed call may look like an answer"
    found = await details(call)
    assert reason(found) == "MODEL_UNAVAILABLE"
    if fault == "429-retry-after":
        assert retry_seconds(found) == 1.0  # the provider's own Retry-After
    else:
        assert retry_seconds(found) > 0
    message = error.details() or ""
    assert OPENAI_KEY not in message and "Traceback" not in message
    assert len(upstreams.flaky.requests) == 3  # retried, then given up
    assert not upstreams.steady.requests


@pytest.mark.parametrize("rpc", ["Chat", "ChatStream"])
async def test_a_retry_after_beyond_the_deadline_is_returned_at_once(
    client: Client, upstreams: Upstreams, rpc: str
) -> None:
    upstreams.flaky.default = Behaviour.error(429, retry_after="7")
    error, call, _ = await failed_call(client, rpc, "gpt-4o", deadline=5.0)
    # Waiting 7 s would overrun the 5 s deadline: the client is told to come back then.
    assert error.code() == grpc.StatusCode.UNAVAILABLE, (error.code(), error.details())
    assert retry_seconds(await details(call)) == 7.0
    assert len(upstreams.flaky.requests) == 1


@pytest.mark.parametrize("rpc", ["Chat", "ChatStream"])
async def test_a_hanging_provider_never_outlives_the_client_deadline(
    client: Client, upstreams: Upstreams, rpc: str
) -> None:
    upstreams.flaky.default = Behaviour("hang")
    error, _, received = await failed_call(client, rpc, "gpt-4o", deadline=4.0)
    assert error.code() in {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}, (
        error.code(),
        error.details(),
    )
    assert not received
    # The abandoned upstream request was closed, not left hanging.
    await asyncio.wait_for(upstreams.flaky.disconnected.wait(), 15)


# --- a unary Generate on a hanging provider ------------------------------------
# The edge streams (ChatStream and Chat both use GenerateStream), so these call
# the llm's unary Generate directly: the attempt bound, not stream silence.


async def test_a_unary_call_to_a_hanging_provider_falls_back_within_the_deadline(
    client: Client, upstreams: Upstreams
) -> None:
    upstreams.flaky.default = Behaviour("hang")
    reply = await client.llm.Generate(
        llm_pb2.GenerateRequest(model="gpt-4o-mini", messages=[llm_message("Say hello")]),
        timeout=CALL_TIMEOUT,
    )
    # Each attempt gave up after the attempt bound, well inside the 30 s
    # deadline (whose half, 15 s, the model could have had), so the retries and
    # then the fallback had time: without the bound the call would have hung.
    assert reply.text == "Hello, world!"
    assert (reply.model, reply.fallback_used) == ("backup-mini", True)
    assert reply.usage.output_tokens == 4 and reply.cost_micros > 0
    assert len(upstreams.flaky.requests) == 3  # timeouts are retried like other failures
    assert len(upstreams.steady.requests) == 1
    await asyncio.wait_for(upstreams.flaky.disconnected.wait(), 15)  # hung calls closed


async def test_a_unary_call_to_a_hanging_provider_without_a_fallback_is_unavailable(
    client: Client, upstreams: Upstreams
) -> None:
    upstreams.flaky.default = Behaviour("hang")
    call = client.llm.Generate(
        llm_pb2.GenerateRequest(model="gpt-4o", messages=[llm_message("Say hello")]),
        timeout=CALL_TIMEOUT,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    # The attempts timed out, not the caller: UNAVAILABLE with its details,
    # long before the deadline would have made it DEADLINE_EXCEEDED.
    error = caught.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE, (error.code(), error.details())
    found = await details(call)
    assert reason(found) == "PROVIDERS_UNAVAILABLE"
    assert retry_seconds(found) > 0
    assert "timeout" in (error.details() or "")
    assert OPENAI_KEY not in (error.details() or "")
    assert len(upstreams.flaky.requests) == 3 and not upstreams.steady.requests


# --- a stream cut mid-way -----------------------------------------------------


async def test_a_unary_answer_cut_midway_is_retried_and_charged_once(
    client: Client, upstreams: Upstreams
) -> None:
    # A unary Chat has shown the client nothing yet: the llm's unary Generate retries
    # the cut answer (or would fall back) and the client gets one whole answer.
    before = await spent(client)
    upstreams.flaky.then(Behaviour("drop", drop_after=2))
    text, last = await chat(client, "Chat", "gpt-4o-mini")
    assert text == "Hello, world!"
    assert (last.model, last.provider) == ("gpt-4o-mini", "openai")
    assert last.finish_reason == edge_pb2.FINISH_REASON_STOP
    assert len(upstreams.flaky.requests) == 2 and not upstreams.steady.requests
    # Charged for the answer; the cut attempt's cost is unknown and not charged.
    assert last.cost_micros > 0
    assert await spent(client) - before == last.cost_micros


async def test_a_stream_cut_midway_ends_cleanly_marked_incomplete(
    client: Client, upstreams: Upstreams
) -> None:
    before = await spent(client)
    # Committed at its first token, the stream is never replayed nor handed to
    # the fallback, even though gpt-4o-mini has one.
    upstreams.flaky.then(Behaviour("drop", drop_after=2))
    error, call, received = await failed_call(
        client, "ChatStream", "gpt-4o-mini", deadline=CALL_TIMEOUT
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE, (error.code(), error.details())
    found = await details(call)
    assert reason(found) == "STREAM_INTERRUPTED"
    info = found["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.metadata["incomplete"] == "true"
    # What the provider produced before the cut reaches the client (redacted
    # as ever), and no message of it claims to be the end.
    assert "".join(r.text for r in received) == "Hello,"
    assert all(not r.HasField("usage") and not r.finish_reason for r in received)
    assert len(upstreams.flaky.requests) == 1 and not upstreams.steady.requests
    # The tokens the provider produced are charged, the reservation released.
    charged = int(info.metadata["cost_micros"])
    assert charged > 0
    assert await spent(client) - before == charged


# --- the circuit ----------------------------------------------------------------


def circuit_state(pmesh: Mesh, model: str) -> float:
    series = f'aimesh_llm_circuit_state{{model="{model}",provider="openai"}} '
    for line in pmesh.llm.metrics_text().splitlines():
        if line.startswith(series):
            return float(line.split()[-1])
    raise AssertionError(f"no {series} in the llm's metrics")


async def test_the_circuit_opens_on_repeated_failures_and_closes_after_recovery(
    client: Client, upstreams: Upstreams, pmesh: Mesh
) -> None:
    assert circuit_state(pmesh, "gpt-4.1") == 0  # closed
    upstreams.flaky.default = Behaviour.error(500)
    # Two failing calls: four failures in a row open the circuit; the client sees none.
    for rpc in ("Chat", "ChatStream"):
        text, last = await chat(client, rpc, "gpt-4.1")
        assert text == "Hello, world!" and last.model == "backup-mini"
    assert circuit_state(pmesh, "gpt-4.1") == 2  # open
    # While open, calls go straight to the fallback: the failing upstream is spared.
    met = len(upstreams.flaky.requests)
    for rpc in ("Chat", "ChatStream"):
        text, last = await chat(client, rpc, "gpt-4.1")
        assert text == "Hello, world!" and last.model == "backup-mini"
    assert len(upstreams.flaky.requests) == met

    # The provider recovers; after the cooldown a trial call closes the circuit.
    upstreams.flaky.default = Behaviour.ok()
    await circuits_not_open(client.llm)
    text, last = await chat(client, "ChatStream", "gpt-4.1")
    assert text == "Hello, world!" and (last.model, last.provider) == ("gpt-4.1", "openai")
    assert circuit_state(pmesh, "gpt-4.1") == 0
    text, last = await chat(client, "Chat", "gpt-4.1")
    assert last.model == "gpt-4.1"


async def test_no_fault_ever_surfaced_as_a_server_fault(pmesh: Mesh) -> None:
    """After all of the above, the edge answered no call with INTERNAL or UNKNOWN."""
    for line in pmesh.edge.metrics_text().splitlines():
        if line.startswith("grpc_server_handled_total{") and not line.endswith(" 0.0"):
            for code in SERVER_FAULTS:
                assert f'grpc_code="{code.name}"' not in line, line
