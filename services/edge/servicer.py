"""aimesh.edge.v1.EdgeService: proto <-> domain conversion only.

Every RPC authenticates first (gate), validates, then hands over to the
pipeline or the documents module.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TypeVar

from google.protobuf import timestamp_pb2
from grpc import aio

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from services.common import errors
from services.edge import metrics, validation
from services.edge.budget import BudgetUnavailable, next_reset
from services.edge.documents import Documents
from services.edge.pipeline import AskInput, ChatInput, Deadline, Event, Final, Pipeline
from services.edge.rag import Source
from services.edge.settings import EdgeSettings

R = TypeVar("R")


def _validate(
    check: Callable[[R, EdgeSettings], None], request: R, settings: EdgeSettings, rpc: str
) -> None:
    """Run a request check; a refusal (INVALID_ARGUMENT) is counted as a rejection."""
    try:
        check(request, settings)
    except errors.InvalidArgument:
        metrics.REJECTIONS.labels(rpc, "INVALID_ARGUMENT").inc()
        raise


def _chat_input(request: edge_pb2.ChatRequest | edge_pb2.ChatStreamRequest) -> ChatInput:
    return ChatInput(
        model=request.model,
        messages=[(m.role, m.content) for m in request.messages],
        max_tokens=request.max_tokens,
        temperature=request.temperature if request.HasField("temperature") else None,
        top_p=request.top_p if request.HasField("top_p") else None,
        stop=list(request.stop),
    )


def _ask_input(request: edge_pb2.AskRequest | edge_pb2.AskStreamRequest) -> AskInput:
    return AskInput(
        question=request.question,
        model=request.model,
        top_k=request.top_k,
        max_tokens=request.max_tokens,
        temperature=request.temperature if request.HasField("temperature") else None,
        filter=dict(request.filter),
    )


def _citations(sources: list[Source]) -> list[edge_pb2.Citation]:
    return [
        edge_pb2.Citation(
            index=s.index,
            document_id=s.document_id,
            title=s.title,
            start=s.start,
            end=s.end,
            score=s.score,
        )
        for s in sources
    ]


def _final_fields(final: Final) -> dict[str, object]:
    return {
        "model": final.model,
        "provider": final.provider,
        "finish_reason": final.finish_reason,
        "usage": edge_pb2.Usage(input_tokens=final.input_tokens, output_tokens=final.output_tokens),
        "cost_micros": final.cost_micros,
        "cached": final.cached,
        "redacted": final.redacted,
    }


async def _collect(events: AsyncGenerator[Event, None]) -> tuple[str, Final]:
    text: list[str] = []
    final: Final | None = None
    async with aclosing(events):
        async for event in events:
            if isinstance(event, Final):
                final = event
            else:
                text.append(event.text)
    assert final is not None
    return "".join(text), final


class EdgeServicer(edge_pb2_grpc.EdgeServiceServicer):
    def __init__(self, settings: EdgeSettings, pipeline: Pipeline, documents: Documents) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.gate = pipeline.gate
        self.documents = documents

    def _timeout(self, context: aio.ServicerContext) -> float:
        return Deadline(
            context.time_remaining(), self.settings.default_deadline_seconds
        ).remaining()

    async def Chat(
        self, request: edge_pb2.ChatRequest, context: aio.ServicerContext
    ) -> edge_pb2.ChatResponse:
        caller = await self.gate.authenticate(context, "Chat")
        _validate(validation.validate_chat, request, self.settings, "Chat")
        events = self.pipeline.chat(caller, _chat_input(request), context.time_remaining(), "Chat")
        text, final = await _collect(events)
        return edge_pb2.ChatResponse(text=text, **_final_fields(final))  # type: ignore[arg-type]

    async def ChatStream(
        self, request: edge_pb2.ChatStreamRequest, context: aio.ServicerContext
    ) -> AsyncGenerator[edge_pb2.ChatStreamResponse, None]:
        caller = await self.gate.authenticate(context, "ChatStream")
        _validate(validation.validate_chat, request, self.settings, "ChatStream")
        events = self.pipeline.chat(
            caller, _chat_input(request), context.time_remaining(), "ChatStream"
        )
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Final):
                    yield edge_pb2.ChatStreamResponse(**_final_fields(event))  # type: ignore[arg-type]
                else:
                    yield edge_pb2.ChatStreamResponse(
                        text=event.text, model=event.model, provider=event.provider
                    )

    async def Ask(
        self, request: edge_pb2.AskRequest, context: aio.ServicerContext
    ) -> edge_pb2.AskResponse:
        caller = await self.gate.authenticate(context, "Ask")
        _validate(validation.validate_ask, request, self.settings, "Ask")
        events = self.pipeline.ask(caller, _ask_input(request), context.time_remaining(), "Ask")
        text, final = await _collect(events)
        return edge_pb2.AskResponse(
            text=text,
            citations=_citations(final.citations),
            escalate=final.escalate,
            **_final_fields(final),  # type: ignore[arg-type]
        )

    async def AskStream(
        self, request: edge_pb2.AskStreamRequest, context: aio.ServicerContext
    ) -> AsyncGenerator[edge_pb2.AskStreamResponse, None]:
        caller = await self.gate.authenticate(context, "AskStream")
        _validate(validation.validate_ask, request, self.settings, "AskStream")
        events = self.pipeline.ask(
            caller, _ask_input(request), context.time_remaining(), "AskStream"
        )
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Final):
                    yield edge_pb2.AskStreamResponse(
                        citations=_citations(event.citations),
                        escalate=event.escalate,
                        **_final_fields(event),  # type: ignore[arg-type]
                    )
                else:
                    yield edge_pb2.AskStreamResponse(
                        text=event.text, model=event.model, provider=event.provider
                    )

    async def IngestDocuments(
        self, request: edge_pb2.IngestDocumentsRequest, context: aio.ServicerContext
    ) -> edge_pb2.IngestDocumentsResponse:
        caller = await self.gate.authenticate(context, "IngestDocuments")
        _validate(validation.validate_ingest, request, self.settings, "IngestDocuments")
        await self.gate.admit(caller, "IngestDocuments")
        return await self.documents.ingest(caller, request, self._timeout(context))

    async def DeleteDocuments(
        self, request: edge_pb2.DeleteDocumentsRequest, context: aio.ServicerContext
    ) -> edge_pb2.DeleteDocumentsResponse:
        caller = await self.gate.authenticate(context, "DeleteDocuments")
        _validate(validation.validate_delete, request, self.settings, "DeleteDocuments")
        await self.gate.admit(caller, "DeleteDocuments")
        return await self.documents.delete(caller, request, self._timeout(context))

    async def Search(
        self, request: edge_pb2.SearchRequest, context: aio.ServicerContext
    ) -> edge_pb2.SearchResponse:
        caller = await self.gate.authenticate(context, "Search")
        _validate(validation.validate_search, request, self.settings, "Search")
        await self.gate.admit(caller, "Search")
        return await self.documents.search(caller, request, self._timeout(context))

    async def GetUsage(
        self, request: edge_pb2.GetUsageRequest, context: aio.ServicerContext
    ) -> edge_pb2.GetUsageResponse:
        caller = await self.gate.authenticate(context, "GetUsage")
        await self.gate.admit(caller, "GetUsage")
        tier = caller.tier
        try:
            usage = await self.pipeline.budgets.usage(caller.tenant)
        except BudgetUnavailable:
            raise errors.Unavailable(
                "budget accounting is unavailable; retry later",
                reason="BUDGET_UNAVAILABLE",
                retry_after=1.0,
            ) from None
        spent = usage.spent + usage.reserved
        resets_at = timestamp_pb2.Timestamp()
        resets_at.FromDatetime(next_reset())  # the next midnight UTC, exactly
        allowed = list(tier.allowed_models)
        if self.pipeline.catalogue.loaded:
            catalogue = await self.pipeline.model_catalogue()
            allowed = sorted(
                m.name for m in catalogue.models.values() if tier.allows(m.name, m.provider)
            )
        window = self.gate.window_seconds

        def per_minute(limit: int) -> int:
            return min(round(limit * 60 / window), 2**31 - 1)

        return edge_pb2.GetUsageResponse(
            tenant=caller.tenant,
            tier=tier.name,
            spent_micros=spent,
            budget_micros=tier.daily_budget_micros,
            remaining_micros=max(0, tier.daily_budget_micros - spent),
            resets_at=resets_at,
            key_limits=edge_pb2.Limits(
                requests_per_minute=per_minute(tier.key_requests_per_window),
                tokens_per_minute=per_minute(tier.key_tokens_per_window),
            ),
            tenant_limits=edge_pb2.Limits(
                requests_per_minute=per_minute(tier.tenant_requests_per_window),
                tokens_per_minute=per_minute(tier.tenant_tokens_per_window),
            ),
            allowed_models=allowed,
        )
