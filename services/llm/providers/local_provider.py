"""The `local` provider: the openai provider pointed at the embedded llama.cpp server.

Its base URL is only known once the server has started on a free loopback
port, so the client is made then. The wait queue in front of it belongs to
the router (services/llm/admission.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from services.llm.admission import FairQueue
from services.llm.local_server import LocalModelServer
from services.llm.metrics import LOCAL_QUEUE_BUSY, LOCAL_QUEUE_WAITING
from services.llm.providers.base import ChatRequest, Completion, ProviderError, StreamEvent
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
        return await self._openai().generate(model, request, read_timeout)

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
