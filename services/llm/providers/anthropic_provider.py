"""The `anthropic` provider: AsyncAnthropic's Messages API.

System messages go to the request's `system` field (several are joined);
streamed events become StreamEvents; usage comes from message_start (input)
and message_delta (cumulative output). The SDK's own retries are off.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import httpx2

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
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
# The Messages API has no JSON mode; ask for it in the system prompt instead.
_JSON_INSTRUCTION = "Respond with a single JSON object and nothing else."


class AnthropicProvider:
    kind = "anthropic"

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
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key or "unused", base_url=base_url, max_retries=0
        )

    @property
    def available(self) -> bool:
        return bool(self._key)

    def _params(self, model: str, request: ChatRequest) -> dict[str, Any]:
        system = [m.content for m in request.messages if m.role == "system"]
        if request.json_object:
            system.append(_JSON_INSTRUCTION)
        params: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
        }
        if system:
            params["system"] = "\n\n".join(system)
        # This SDK version's create() has no sampling arguments; the Messages
        # API still takes them for these models, so they go in the body as is.
        sampling: dict[str, float] = {}
        if request.temperature is not None:
            # Anthropic's range is [0, 1]; ours (OpenAI's) is [0, 2].
            sampling["temperature"] = min(request.temperature, 1.0)
        if request.top_p is not None:
            sampling["top_p"] = request.top_p
        if sampling:
            params["extra_body"] = sampling
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        return params

    def _timeout(self, read_timeout: float) -> httpx2.Timeout:
        return httpx2.Timeout(read_timeout, connect=min(read_timeout, self._connect_timeout))

    async def generate(self, model: str, request: ChatRequest, read_timeout: float) -> Completion:
        try:
            message = await self._client.messages.create(
                **self._params(model, request), timeout=self._timeout(read_timeout)
            )
            text = "".join(
                block.text for block in message.content if getattr(block, "type", "") == "text"
            )
            return Completion(
                text=text,
                finish_reason=_FINISH.get(message.stop_reason or "", "stop"),
                usage=Usage(message.usage.input_tokens, message.usage.output_tokens),
            )
        except Exception as exc:
            raise self._error(exc) from exc

    async def stream(
        self, model: str, request: ChatRequest, read_timeout: float
    ) -> AsyncGenerator[StreamEvent, None]:
        try:
            stream = await self._client.messages.create(
                **self._params(model, request), stream=True, timeout=self._timeout(read_timeout)
            )
        except Exception as exc:
            raise self._error(exc) from exc
        input_tokens = 0
        try:
            async for event in stream:
                if event.type == "message_start":
                    input_tokens = event.message.usage.input_tokens
                    # Known from the start: a stream cut short still bills it exactly.
                    yield StreamEvent(usage=Usage(input_tokens, 0))
                elif event.type == "content_block_delta":
                    if event.delta.type == "text_delta" and event.delta.text:
                        yield StreamEvent(text=event.delta.text)
                elif event.type == "message_delta":
                    usage = Usage(
                        event.usage.input_tokens or input_tokens, event.usage.output_tokens
                    )
                    finish = _FINISH.get(event.delta.stop_reason or "", "stop")
                    yield StreamEvent(finish_reason=finish, usage=usage)
        except Exception as exc:
            raise self._error(exc) from exc
        finally:
            await stream.close()

    def _error(self, exc: Exception) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            # An `error` event inside a 200 stream (e.g. overloaded_error) is a server failure.
            kind = kind_for_status(status) if status >= 400 else "server_error"
            return ProviderError(
                kind,
                scrub(exc.message, self._key),
                status=status if status >= 400 else None,
                retry_after=retry_after_seconds(exc.response.headers),
                provider=self.name,
            )
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            return ProviderError("timeout", "request timed out", provider=self.name)
        if isinstance(exc, anthropic.APIConnectionError):
            return ProviderError(
                "connection", scrub(repr(exc.__cause__ or exc), self._key), provider=self.name
            )
        if isinstance(exc, httpx2.TransportError):
            return ProviderError("connection", scrub(repr(exc), self._key), provider=self.name)
        if isinstance(exc, ValueError):  # JSONDecodeError and pydantic's ValidationError
            return ProviderError("malformed", scrub(repr(exc), self._key), provider=self.name)
        return ProviderError("unknown", scrub(repr(exc), self._key), provider=self.name)

    async def close(self) -> None:
        await self._client.close()
