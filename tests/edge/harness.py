"""A real edge, in this process, on loopback, in front of fake llm, guardrails and
retrieval servers (also real gRPC servers on loopback) and the real Redis.

No model is loaded, so a test can script exactly what each dependency answers
and still go through the edge's own wiring (`EdgeApp`), interceptors, Redis
budgets and limits.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aimesh.edge.v1 import edge_pb2_grpc
from aimesh.guardrails.v1 import guardrails_pb2, guardrails_pb2_grpc
from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from aimesh.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.common.interceptors import ServerInterceptor
from services.edge.auth import add_to_key_file, make_record, new_key
from services.edge.server import EdgeApp
from services.edge.settings import EdgeSettings

REDIS_URL = "redis://127.0.0.1:6379/0"
# gpt-4.1's window and price ($3 per million input tokens, $12 per million output).
BIG = llm_pb2.Model(
    name="big",
    provider="openai",
    context_window=1_047_576,
    max_output_tokens=32_768,
    input_micros_per_million_tokens=3_000_000,
    output_micros_per_million_tokens=12_000_000,
    available=True,
)
SMALL = llm_pb2.Model(
    name="small",
    provider="local",
    context_window=4096,
    max_output_tokens=1024,
    input_micros_per_million_tokens=1_000_000,
    output_micros_per_million_tokens=2_000_000,
    available=True,
)
TIER = {
    "allowed_models": ["*"],
    "key_requests_per_window": 10_000,
    "key_tokens_per_window": 100_000_000,
    "tenant_requests_per_window": 10_000,
    "tenant_tokens_per_window": 100_000_000,
    "daily_budget_micros": 50_000_000,
}


def status_error(
    code: grpc.StatusCode,
    message: str,
    *,
    violations: list[tuple[str, str]] = (),  # type: ignore[assignment]
    reason: str = "",
) -> grpc.Status:
    """A status with google.rpc details, as the services send them."""
    details = []
    if violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    if reason:
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="aimesh.dev"))
        details.append(packed)
    return rpc_status.to_status(
        status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    )


def reply(text: str, model: str = "small", input_tokens: int = 10) -> llm_pb2.GenerateResponse:
    return llm_pb2.GenerateResponse(
        text=text,
        model=model,
        provider="local",
        finish_reason=llm_pb2.FINISH_REASON_STOP,
        usage=llm_pb2.Usage(input_tokens=input_tokens, output_tokens=len(text.split())),
        cost_micros=input_tokens + 2 * len(text.split()),
    )


class FakeLlm(llm_pb2_grpc.LlmServiceServicer):
    """Answers what the test sets: `generate` (unary) and `stream` (pieces)."""

    def __init__(self) -> None:
        self.models = [SMALL, BIG]
        self.requests: list[Any] = []
        self.generate: Callable[[Any, aio.ServicerContext], Awaitable[Any]] = self._echo
        self.stream: Callable[[Any, aio.ServicerContext], AsyncIterator[Any]] = self._pieces

    async def _echo(self, request: Any, context: aio.ServicerContext) -> Any:
        return reply("fine, thank you", request.model or "small")

    async def _pieces(self, request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        for word in ("fine", ", thank you"):
            yield llm_pb2.GenerateStreamResponse(text=word, model=request.model, provider="local")
        last = reply("", request.model)
        yield llm_pb2.GenerateStreamResponse(
            model=last.model,
            provider="local",
            finish_reason=last.finish_reason,
            usage=llm_pb2.Usage(input_tokens=10, output_tokens=3),
            cost_micros=16,
        )

    async def ListModels(
        self, request: llm_pb2.ListModelsRequest, context: aio.ServicerContext
    ) -> llm_pb2.ListModelsResponse:
        return llm_pb2.ListModelsResponse(models=self.models, default_model="small")

    async def Generate(
        self, request: llm_pb2.GenerateRequest, context: aio.ServicerContext
    ) -> llm_pb2.GenerateResponse:
        self.requests.append(request)
        return await self.generate(request, context)

    async def GenerateStream(
        self, request: llm_pb2.GenerateStreamRequest, context: aio.ServicerContext
    ) -> AsyncIterator[llm_pb2.GenerateStreamResponse]:
        self.requests.append(request)
        async for message in self.stream(request, context):
            yield message


class FakeGuardrails(guardrails_pb2_grpc.GuardrailsServiceServicer):
    """Allows everything and releases streamed output as it comes."""

    async def CheckInput(
        self, request: guardrails_pb2.CheckInputRequest, context: aio.ServicerContext
    ) -> guardrails_pb2.CheckInputResponse:
        return guardrails_pb2.CheckInputResponse(verdict=guardrails_pb2.VERDICT_ALLOW)

    async def CheckOutput(
        self, request: guardrails_pb2.CheckOutputRequest, context: aio.ServicerContext
    ) -> guardrails_pb2.CheckOutputResponse:
        return guardrails_pb2.CheckOutputResponse(verdict=guardrails_pb2.VERDICT_ALLOW)

    async def RedactStream(
        self,
        requests: AsyncIterator[guardrails_pb2.RedactStreamRequest],
        context: aio.ServicerContext,
    ) -> AsyncIterator[guardrails_pb2.RedactStreamResponse]:
        async for request in requests:
            yield guardrails_pb2.RedactStreamResponse(text=request.text)


class FakeRetrieval(retrieval_pb2_grpc.RetrievalServiceServicer):
    """Search answers `results`, once `release` is set; upserts store everything."""

    def __init__(self) -> None:
        self.results: list[retrieval_pb2.SearchResult] = []
        self.release = asyncio.Event()
        self.release.set()
        self.searching = asyncio.Event()
        self.upserts: list[retrieval_pb2.UpsertDocumentsRequest] = []

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        self.searching.set()
        await self.release.wait()
        return retrieval_pb2.SearchResponse(results=self.results[: request.top_k])

    async def UpsertDocuments(
        self, request: retrieval_pb2.UpsertDocumentsRequest, context: aio.ServicerContext
    ) -> retrieval_pb2.UpsertDocumentsResponse:
        self.upserts.append(request)
        return retrieval_pb2.UpsertDocumentsResponse(
            results=[
                retrieval_pb2.DocumentResult(
                    document_id=d.id, status=retrieval_pb2.DOCUMENT_STATUS_STORED, chunks=1
                )
                for d in request.documents
            ],
            succeeded=len(request.documents),
        )


class SlowHealth(health.aio.HealthServicer):
    """The standard health service, answering after `delay` seconds (a busy pod)."""

    delay = 0.0

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        await asyncio.sleep(self.delay)
        return await super().Check(request, context)


@dataclass
class Dependency:
    """A fake service on loopback with its own health service."""

    server: aio.Server
    target: str
    health: SlowHealth


async def serve_fake(add: Callable[[aio.Server], None]) -> Dependency:
    server = aio.server()
    add(server)
    servicer = SlowHealth()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return Dependency(server, f"127.0.0.1:{port}", servicer)


@dataclass
class Edge:
    app: EdgeApp
    server: aio.Server
    target: str
    key: str
    tenant: str
    llm: FakeLlm
    guardrails: Any
    retrieval: FakeRetrieval
    dependencies: dict[str, Dependency]
    channel: aio.Channel = field(init=False)
    stub: edge_pb2_grpc.EdgeServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.channel = aio.insecure_channel(self.target)
        self.stub = edge_pb2_grpc.EdgeServiceStub(self.channel)

    @property
    def auth(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.key}")]

    async def stop(self) -> None:
        await self.channel.close()
        await self.server.stop(0)
        redis = self.app.redis
        if redis is not None:
            prefix = self.app.settings.redis_prefix
            keys = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
            if keys:
                await redis.delete(*keys)
        await self.app.stop()
        for dependency in self.dependencies.values():
            await dependency.server.stop(0)


async def start_edge(
    tmp: Path,
    *,
    guardrails: guardrails_pb2_grpc.GuardrailsServiceServicer | None = None,
    guardrails_target: str | None = None,
    **settings: Any,
) -> Edge:
    """An edge with a tenant of its own (one key, Redis prefix, ledger)."""
    llm, retrieval = FakeLlm(), FakeRetrieval()
    fake_guardrails = guardrails or FakeGuardrails()
    dependencies = {
        "llm": await serve_fake(lambda s: llm_pb2_grpc.add_LlmServiceServicer_to_server(llm, s)),
        "retrieval": await serve_fake(
            lambda s: retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(retrieval, s)
        ),
    }
    if guardrails_target is None:
        dependencies["guardrails"] = await serve_fake(
            lambda s: guardrails_pb2_grpc.add_GuardrailsServiceServicer_to_server(
                fake_guardrails, s
            )
        )
        guardrails_target = dependencies["guardrails"].target
    try:
        return await _start(
            tmp, llm, fake_guardrails, retrieval, dependencies, guardrails_target, settings
        )
    except BaseException:
        for dependency in dependencies.values():
            await dependency.server.stop(0)
        raise


async def _start(
    tmp: Path,
    llm: FakeLlm,
    guardrails: Any,
    retrieval: FakeRetrieval,
    dependencies: dict[str, Dependency],
    guardrails_target: str,
    settings: dict[str, Any],
) -> Edge:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    key = new_key()
    keys_file = tmp / "api_keys.json"
    add_to_key_file(keys_file, make_record(key, tenant, "test"))
    tiers_file = tmp / "tiers.json"
    tiers_file.write_text(json.dumps({"test": TIER}))
    app = EdgeApp(
        EdgeSettings(
            llm_target=dependencies["llm"].target,
            retrieval_target=dependencies["retrieval"].target,
            guardrails_target=guardrails_target,
            AIMESH_EDGE_REDIS_URL=REDIS_URL,  # by its alias (it has two)
            redis_prefix=f"test:edge:{uuid.uuid4().hex[:12]}:",
            api_keys_file=str(keys_file),
            tiers_file=str(tiers_file),
            **settings,
        )
    )
    server = aio.server(interceptors=[ServerInterceptor()])
    app.register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await app.start()
    return Edge(
        app,
        server,
        f"127.0.0.1:{port}",
        key,
        tenant,
        llm,
        guardrails,
        retrieval,
        dependencies,
    )
