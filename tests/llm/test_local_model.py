"""The openai provider against a real OpenAI-compatible server: llama.cpp's
own server (xllamacpp) serving SmolLM2-135M-Instruct on loopback. Greedy
output can differ between runs (prompt-cache reuse), so these assert on
structure and usage, not on the text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.llm.local_server import LocalModelServer
from services.llm.providers.base import ChatMessage, ChatRequest, StreamEvent
from services.llm.providers.openai_provider import OpenAIProvider

MESSAGES = (ChatMessage("system", "You are brief."), ChatMessage("user", "Name a colour."))


@pytest.fixture
async def provider(local_model: LocalModelServer) -> AsyncIterator[OpenAIProvider]:
    client = OpenAIProvider("local", base_url=local_model.base_url, api_key="local")
    yield client
    await client.close()


async def test_unary_completion_with_usage(
    provider: OpenAIProvider, local_model: LocalModelServer
) -> None:
    completion = await provider.generate(
        "smollm2", ChatRequest(MESSAGES, max_tokens=6, temperature=0.0), 60
    )
    assert completion.text
    assert completion.finish_reason in ("stop", "length")
    assert completion.usage is not None
    prompt = await local_model.count_chat_tokens(
        [{"role": m.role, "content": m.content} for m in MESSAGES]
    )
    assert completion.usage.input_tokens == prompt  # our count is the server's count
    assert 1 <= completion.usage.output_tokens <= 6


async def test_stream_sends_pieces_then_finish_and_usage(provider: OpenAIProvider) -> None:
    request = ChatRequest(
        (ChatMessage("user", "Write a long story about a dragon."),), max_tokens=5
    )
    events: list[StreamEvent] = [e async for e in provider.stream("smollm2", request, 60)]
    texts = [e.text for e in events if e.text]
    assert len(texts) >= 2  # token by token, not one buffered piece
    assert [e.finish_reason for e in events if e.finish_reason] == ["length"]
    usage = [e.usage for e in events if e.usage is not None]
    # One piece per token, except that bytes of one character (an emoji) come together.
    assert usage and usage[-1].output_tokens == 5 >= len(texts)
    assert usage[-1].input_tokens > 0


async def test_max_tokens_gives_finish_length(provider: OpenAIProvider) -> None:
    request = ChatRequest((ChatMessage("user", "Write a long story about the sea."),), max_tokens=3)
    completion = await provider.generate("smollm2", request, 60)
    assert completion.finish_reason == "length"
    assert completion.usage is not None and completion.usage.output_tokens == 3


async def test_json_object_response_format(provider: OpenAIProvider) -> None:
    import json

    request = ChatRequest(
        (ChatMessage("user", "Give a JSON object with a key named colour."),),
        max_tokens=12,
        json_object=True,
        temperature=0.0,
    )
    completion = await provider.generate("smollm2", request, 60)
    if completion.finish_reason == "stop":
        assert isinstance(json.loads(completion.text), dict)
    else:  # cut by max_tokens: still the start of an object
        assert completion.text.lstrip().startswith("{")
