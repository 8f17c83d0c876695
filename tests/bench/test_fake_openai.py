"""The bench's fake upstream speaks OpenAI's wire format, proven by the real `openai` SDK.

The overhead bench's direct baseline is only honest if the SDK parses the fake's
answers exactly as it parses OpenAI's: unary, streamed, and streamed with usage.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from bench._fake_openai import COMPLETION, COMPLETION_TOKENS, PIECES, PROMPT_TOKENS
from tests.support import ROOT


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._fake_openai", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening "), line
    yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say something about a fox."},
]


async def test_unary_completion_parses(upstream_url: str) -> None:
    async with openai.AsyncOpenAI(
        base_url=upstream_url, api_key="sk-test", max_retries=0
    ) as client:
        response = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert response.object == "chat.completion"
    assert response.model == "gpt-4o-mini"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == COMPLETION
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.prompt_tokens == PROMPT_TOKENS
    assert response.usage.completion_tokens == COMPLETION_TOKENS
    assert response.usage.total_tokens == PROMPT_TOKENS + COMPLETION_TOKENS


async def test_stream_with_usage_in_final_chunk(upstream_url: str) -> None:
    async with openai.AsyncOpenAI(
        base_url=upstream_url, api_key="sk-test", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert deltas == list(PIECES)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    # Usage only on the last chunk, which has no choices (as OpenAI sends it).
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )


async def test_stream_without_usage_option_has_no_usage(upstream_url: str) -> None:
    async with openai.AsyncOpenAI(
        base_url=upstream_url, api_key="sk-test", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == COMPLETION
    assert all(c.usage is None and c.choices for c in chunks)


async def test_keep_alive_serves_many_requests_on_one_client(upstream_url: str) -> None:
    async with openai.AsyncOpenAI(
        base_url=upstream_url, api_key="sk-test", max_retries=0
    ) as client:
        for _ in range(20):
            response = await client.chat.completions.create(model="m", messages=MESSAGES)
            assert response.choices[0].message.content == COMPLETION


async def test_errors_are_openai_shaped(upstream_url: str) -> None:
    async with openai.AsyncOpenAI(
        base_url=upstream_url, api_key="sk-test", max_retries=0
    ) as client:
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="m", messages=[])


async def test_paced_model_streams_the_same_completion(upstream_url: str) -> None:
    # The paced model sends its events apart in time; the content is the same.
    async with openai.AsyncOpenAI(
        base_url=upstream_url, api_key="sk-test", max_retries=0
    ) as client:
        for _ in range(2):  # the connection serves the next request after a paced stream
            stream = await client.chat.completions.create(
                model="bench-paced",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
            pieces = [c.choices[0].delta.content for c in chunks if c.choices]
            assert "".join(p or "" for p in pieces) == COMPLETION
            assert chunks[-1].usage is not None
