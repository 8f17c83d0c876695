"""aimesh.llm.v1.LlmService: proto <-> domain conversion only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

from google.protobuf import duration_pb2
from grpc import aio

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from services.common.context import set_tenant
from services.llm.providers.base import FinishReason
from services.llm.resilience import CircuitState
from services.llm.router import Outcome, Router
from services.llm.validation import check_generation, check_messages, resolve_model

# Callers may name the tenant so that the local model's queue is fair between tenants.
TENANT_HEADER = "x-aimesh-tenant"

_FINISH: dict[str, llm_pb2.FinishReason] = {
    "stop": llm_pb2.FINISH_REASON_STOP,
    "length": llm_pb2.FINISH_REASON_LENGTH,
    "content_filter": llm_pb2.FINISH_REASON_CONTENT_FILTER,
    "": llm_pb2.FINISH_REASON_UNSPECIFIED,
}


class LlmServicer(llm_pb2_grpc.LlmServiceServicer):
    def __init__(self, router: Router, default_model: str) -> None:
        self.router = router
        self.default_model = default_model

    async def Generate(
        self, request: llm_pb2.GenerateRequest, context: aio.ServicerContext
    ) -> llm_pb2.GenerateResponse:
        spec = resolve_model(self.router.catalogue, request.model, self.default_model)
        chat = check_generation(request, spec)
        generation = await self.router.generate(
            spec, chat, deadline=_deadline(context), tenant=_tenant(context)
        )
        outcome = generation.outcome
        return llm_pb2.GenerateResponse(
            text=generation.text,
            model=outcome.spec.name,
            provider=outcome.provider,
            finish_reason=_finish(outcome.finish_reason),
            usage=_usage(outcome),
            cost_micros=outcome.cost_micros,
            latency=_duration(outcome.latency),
            fallback_used=outcome.fallback_used,
            usage_estimated=not outcome.usage_reported,
        )

    async def GenerateStream(
        self, request: llm_pb2.GenerateStreamRequest, context: aio.ServicerContext
    ) -> AsyncIterator[llm_pb2.GenerateStreamResponse]:
        spec = resolve_model(self.router.catalogue, request.model, self.default_model)
        chat = check_generation(request, spec)
        stream = self.router.stream(
            spec, chat, deadline=_deadline(context), tenant=_tenant(context)
        )
        async with aclosing(stream):
            async for piece in stream:
                if isinstance(piece, Outcome):
                    yield _final(piece)
                else:
                    yield llm_pb2.GenerateStreamResponse(
                        text=piece.text, model=piece.spec.name, provider=piece.spec.provider
                    )

    async def CountTokens(
        self, request: llm_pb2.CountTokensRequest, context: aio.ServicerContext
    ) -> llm_pb2.CountTokensResponse:
        spec = resolve_model(self.router.catalogue, request.model, self.default_model)
        messages = check_messages(request.messages)
        count = await self.router.counter.count_messages(
            spec, self.router.provider_kind(spec), messages
        )
        return llm_pb2.CountTokensResponse(
            input_tokens=count.tokens, exact=count.exact, tokenizer=count.tokenizer, model=spec.name
        )

    async def ListModels(
        self, request: llm_pb2.ListModelsRequest, context: aio.ServicerContext
    ) -> llm_pb2.ListModelsResponse:
        models = []
        for spec in self.router.catalogue.models.values():
            reason = self.router.unavailable_reason(spec)
            state = self.router.breaker(spec).state
            models.append(
                llm_pb2.Model(
                    name=spec.name,
                    provider=spec.provider,
                    upstream_model=spec.upstream_model,
                    context_window=spec.context_window,
                    max_output_tokens=spec.max_output_tokens,
                    input_micros_per_million_tokens=spec.input_micros_per_million_tokens,
                    output_micros_per_million_tokens=spec.output_micros_per_million_tokens,
                    fallbacks=list(spec.fallbacks),
                    available=reason == "",
                    unavailable_reason=reason,
                    circuit_state=CircuitState(state).name.lower(),
                )
            )
        return llm_pb2.ListModelsResponse(models=models, default_model=self.default_model)


def _final(outcome: Outcome) -> llm_pb2.GenerateStreamResponse:
    return llm_pb2.GenerateStreamResponse(
        model=outcome.spec.name,
        provider=outcome.provider,
        finish_reason=_finish(outcome.finish_reason),
        usage=_usage(outcome),
        cost_micros=outcome.cost_micros,
        latency=_duration(outcome.latency),
        time_to_first_token=_duration(outcome.time_to_first_token or 0.0),
        fallback_used=outcome.fallback_used,
        usage_estimated=not outcome.usage_reported,
        incomplete=not outcome.complete,
    )


def _usage(outcome: Outcome) -> llm_pb2.Usage:
    return llm_pb2.Usage(
        input_tokens=outcome.usage.input_tokens, output_tokens=outcome.usage.output_tokens
    )


def _finish(reason: FinishReason) -> llm_pb2.FinishReason:
    return _FINISH.get(reason, llm_pb2.FINISH_REASON_UNSPECIFIED)


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


def _deadline(context: aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    if remaining is None:
        return None
    return asyncio.get_running_loop().time() + remaining


def _tenant(context: aio.ServicerContext) -> str:
    metadata = dict(context.invocation_metadata() or ())
    tenant = str(metadata.get(TENANT_HEADER, ""))[:128]
    if tenant:
        set_tenant(tenant)
    return tenant
