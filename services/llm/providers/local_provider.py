"""The `local` provider: the openai provider pointed at the embedded llama.cpp server.

Its base URL is only known once the server has started on a free loopback
port, so the client is made then. The wait queue in front of it belongs to
the router (services/llm/admission.py).

A unary generation goes through the streaming endpoint too, assembled here
(text, finish reason, and the usage llama.cpp sends in its last chunk when
asked with `stream_options.include_usage`): llama.cpp stops a streamed
generation at its next token once the connection is closed, but notices a
non-streamed request's disconnect only at its next once-a-second poll, if at
all. So a caller that cancels, or whose deadline passes, frees the slot of
the server when it frees its place in our queue, not seconds later.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from services.llm.admission import FairQueue
from services.llm.local_server import LocalModelServer
from services.llm.metrics import LOCAL_QUEUE_BUSY, LOCAL_QUEUE_WAITING
from services.llm.providers.base import (
    ChatRequest,
    Completion,
    FinishReason,
    ProviderError,
    StreamEvent,
    Usage,
)
from services.llm.providers.openai_provider import OpenAIProvider


class LocalProvider:
    kind = "local"

    def __init__(
        self, name: str, server: LocalModelServer, queue: FairQueue, *, enabled: bool = True
    ) -> None:
        self.name = name
        self.server = server
        self.queue = queue
        self.enabled = enabled
        self._client: OpenAIProvider | None = None
        LOCAL_QUEUE_WAITING.set_function(lambda: queue.waiting)
        LOCAL_QUEUE_BUSY.set_function(lambda: queue.busy)

    @property
    def available(self) -> bool:
        return self.enabled and self.server.started

    def _openai(self) -> OpenAIProvider:
        if self._client is None:
            if not self.server.started:
                raise ProviderError(
                    "connection", "the local model is not started", provider=self.name
                )
            # llama.cpp's server needs no key; the SDK wants one all the same.
            self._client = OpenAIProvider(self.name, base_url=self.server.base_url, api_key="local")
        return self._client

    async def generate(self, model: str, request: ChatRequest, read_timeout: float) -> Completion:
        """The whole completion, read from a stream (see the module's doc):
        cancelling this call closes the stream, which stops the server's work."""
        parts: list[str] = []
        finish: FinishReason | None = None
        usage: Usage | None = None
        async with aclosing(self.stream(model, request, read_timeout)) as events:
            async for event in events:
                if event.text:
                    parts.append(event.text)
                if event.finish_reason:
                    finish = event.finish_reason
                if event.usage is not None:
                    usage = event.usage
        if finish is None:
            # A body that just stops (no finish reason, no [DONE]) is cut short.
            raise ProviderError(
                "connection", "the stream ended without a finish reason", provider=self.name
            )
        return Completion(text="".join(parts), finish_reason=finish, usage=usage)

    async def stream(
        self, model: str, request: ChatRequest, read_timeout: float
    ) -> AsyncGenerator[StreamEvent, None]:
        events = self._openai().stream(model, request, read_timeout)
        async with aclosing(events):  # closing us closes the upstream request
            async for event in events:
                yield event

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
