"""The `openai` provider: AsyncOpenAI against any OpenAI-compatible endpoint.

OpenAI itself, vLLM, llama.cpp's server and Ollama all speak this wire
format, so one provider serves them by `base_url`. The SDK's own retries are
off (max_retries=0): retries are the router's, bounded by the caller's deadline.

Requests go through the client's generic `post` with the body we build (it is
already in wire format), which is what `chat.completions.create` ends in,
minus its TypedDict-to-JSON transform: that transform was about a third of
the SDK's CPU per call, measured on the instant-upstream bench.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from services.llm.providers.base import (
    ChatRequest,
    Completion,
    FinishReason,
    ProviderError,
    StreamEvent,
    Usage,
    kind_for_status,
    retry_after_seconds,
    scrub,
)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "stop",
    "function_call": "stop",
}


class OpenAIProvider:
    kind = "openai"

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str | None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self._key = api_key or ""
        self._connect_timeout = connect_timeout
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "unused",
            base_url=base_url,
            max_retries=0,
        )

    @property
    def available(self) -> bool:
        return bool(self._key)

    def _params(self, model: str, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.stop:
            params["stop"] = list(request.stop)
        if request.seed is not None:
            params["seed"] = request.seed
        if request.json_object:
            params["response_format"] = {"type": "json_object"}
        return params

    def _timeout(self, read_timeout: float) -> httpx2.Timeout:
        return httpx2.Timeout(read_timeout, connect=min(read_timeout, self._connect_timeout))

    async def generate(self, model: str, request: ChatRequest, read_timeout: float) -> Completion:
        try:
            response = await self._client.post(
                "/chat/completions",
                body=self._params(model, request),
                cast_to=ChatCompletion,
                options={"timeout": self._timeout(read_timeout), "security": {"bearer_auth": True}},
            )
            if not response.choices:
                raise ProviderError("malformed", "response has no choices", provider=self.name)
            choice = response.choices[0]
            usage = None
            if response.usage is not None:
                usage = Usage(response.usage.prompt_tokens, response.usage.completion_tokens)
            return Completion(
                text=choice.message.content or "",
                finish_reason=_FINISH.get(choice.finish_reason or "", "stop"),
                usage=usage,
            )
        except Exception as exc:
            raise self._error(exc) from exc

    async def stream(
        self, model: str, request: ChatRequest, read_timeout: float
    ) -> AsyncGenerator[StreamEvent, None]:
        try:
            body = self._params(model, request)
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            stream = await self._client.post(
                "/chat/completions",
                body=body,
                cast_to=ChatCompletion,
                options={"timeout": self._timeout(read_timeout), "security": {"bearer_auth": True}},
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
        except Exception as exc:
            raise self._error(exc) from exc
        try:
            async for chunk in stream:
                usage = None
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                text = ""
                finish: FinishReason | None = None
                if chunk.choices:
                    choice = chunk.choices[0]
                    text = choice.delta.content or "" if choice.delta else ""
                    if choice.finish_reason:
                        finish = _FINISH.get(choice.finish_reason, "stop")
                if text or finish or usage:
                    yield StreamEvent(text=text, finish_reason=finish, usage=usage)
        except Exception as exc:
            raise self._error(exc) from exc
        finally:
            # Closing the response closes the connection: the upstream stops generating.
            await stream.close()

    def _error(self, exc: Exception) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            return ProviderError(
                kind_for_status(status),
                scrub(exc.message, self._key),
                status=status,
                retry_after=retry_after_seconds(exc.response.headers),
                provider=self.name,
            )
        if isinstance(exc, openai.APITimeoutError):
            return ProviderError("timeout", "request timed out", provider=self.name)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return ProviderError("connection", scrub(repr(cause), self._key), provider=self.name)
        if isinstance(exc, openai.APIError):
            # An error object inside a 200 stream: the server failed mid-way.
            return ProviderError("server_error", scrub(exc.message, self._key), provider=self.name)
        if isinstance(exc, httpx2.TimeoutException):
            return ProviderError("timeout", "request timed out", provider=self.name)
        if isinstance(exc, httpx2.TransportError):
            return ProviderError("connection", scrub(repr(exc), self._key), provider=self.name)
        if isinstance(exc, ValueError):  # JSONDecodeError and pydantic's ValidationError
            return ProviderError("malformed", scrub(repr(exc), self._key), provider=self.name)
        return ProviderError("unknown", scrub(repr(exc), self._key), provider=self.name)

    async def close(self) -> None:
        await self._client.close()
