"""The load generator of the overhead bench, in its own process.

Reads one JSON command per line on stdin and answers one JSON line on stdout,
so its clients (HTTP connection pools, gRPC channels) stay warm between runs
and the parent can read every server's CPU time around each run:

    {"target": "edge", "kind": "stream", "concurrency": 1, "requests": 200}
    -> {"latencies": [...], "ttft": [...], "wall": 1.23, "errors": 0, "error": ""}

Targets: `direct` and `litellm` through the `openai` SDK (AsyncOpenAI), `llm`
through LlmService Generate / GenerateStream, `edge` through EdgeService Chat /
ChatStream with the API key. Every call sends the same conversation and
max_tokens. Latency is the whole call; for streams `ttft` is the time to the
first piece of text and the latency runs to the end of the stream.

    python -m bench._load '{"direct": "http://127.0.0.1:8000/v1", "model": "m", ...}'
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import openai

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc

PROMPT = "Say something about a fox."
MAX_TOKENS = 64
TIMEOUT = 30.0

# One call: returns (seconds to first text or None, seconds in all, seconds at which
# each piece of text arrived (streams)).
Outcome = tuple[float | None, float, list[float]]
Call = Callable[[], Awaitable[Outcome]]


class Clients:
    def __init__(self, config: dict[str, str]) -> None:
        self.config = config
        self.model = config["model"]
        self._openai: dict[str, openai.AsyncOpenAI] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _sdk(self, target: str) -> openai.AsyncOpenAI:
        if target not in self._openai:
            self._openai[target] = openai.AsyncOpenAI(
                base_url=self.config[target],
                api_key=self.config.get(f"{target}_key", "sk-bench"),
                max_retries=0,
                timeout=TIMEOUT,
            )
        return self._openai[target]

    def _channel(self, target: str) -> grpc.aio.Channel:
        if target not in self._channels:
            self._channels[target] = grpc.aio.insecure_channel(self.config[target])
        return self._channels[target]

    def call(self, target: str, kind: str) -> Call:
        """kind: unary, stream, or paced (a stream from the upstream's paced model)."""
        model = self.config["paced_model"] if kind == "paced" else self.model
        stream = kind != "unary"
        if target in ("direct", "litellm"):
            return self._openai_call(self._sdk(target), model, stream)
        if target == "llm":
            return self._llm_call(llm_pb2_grpc.LlmServiceStub(self._channel(target)), model, stream)
        if target == "edge":
            stub = edge_pb2_grpc.EdgeServiceStub(self._channel(target))
            return self._edge_call(stub, model, stream)
        raise ValueError(f"unknown target {target!r}")

    def _openai_call(self, client: openai.AsyncOpenAI, model: str, stream: bool) -> Call:
        messages: Any = [{"role": "user", "content": PROMPT}]

        async def unary() -> Outcome:
            start = time.perf_counter()
            response = await client.chat.completions.create(
                model=model, messages=messages, max_tokens=MAX_TOKENS
            )
            if not response.choices[0].message.content:
                raise RuntimeError("empty completion")
            return None, time.perf_counter() - start, []

        async def streamed() -> Outcome:
            start = time.perf_counter()
            first: float | None = None
            arrivals: list[float] = []
            chunks = await client.chat.completions.create(
                model=model,
                messages=messages,
                max_tokens=MAX_TOKENS,
                stream=True,
                stream_options={"include_usage": True},
            )
            usage = None
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    arrivals.append(time.perf_counter() - start)
                    first = arrivals[0]
                usage = chunk.usage or usage
            if first is None or usage is None:
                raise RuntimeError("stream without text or usage")
            return first, time.perf_counter() - start, arrivals

        return streamed if stream else unary

    def _llm_call(self, stub: llm_pb2_grpc.LlmServiceStub, model: str, stream: bool) -> Call:
        messages = [llm_pb2.Message(role="user", content=PROMPT)]
        unary_request = llm_pb2.GenerateRequest(
            model=model, messages=messages, max_tokens=MAX_TOKENS
        )
        stream_request = llm_pb2.GenerateStreamRequest(
            model=model, messages=messages, max_tokens=MAX_TOKENS
        )

        async def unary() -> Outcome:
            start = time.perf_counter()
            response = await stub.Generate(unary_request, timeout=TIMEOUT)
            if not response.text:
                raise RuntimeError("empty completion")
            return None, time.perf_counter() - start, []

        async def streamed() -> Outcome:
            start = time.perf_counter()
            first: float | None = None
            arrivals: list[float] = []
            usage = False
            async for piece in stub.GenerateStream(stream_request, timeout=TIMEOUT):
                if piece.text:
                    arrivals.append(time.perf_counter() - start)
                    first = arrivals[0]
                usage = usage or piece.HasField("usage")
            if first is None or not usage:
                raise RuntimeError("stream without text or usage")
            return first, time.perf_counter() - start, arrivals

        return streamed if stream else unary

    def _edge_call(self, stub: edge_pb2_grpc.EdgeServiceStub, model: str, stream: bool) -> Call:
        metadata = (("authorization", f"Bearer {self.config['api_key']}"),)
        messages = [edge_pb2.Message(role="user", content=PROMPT)]
        unary_request = edge_pb2.ChatRequest(model=model, messages=messages, max_tokens=MAX_TOKENS)
        stream_request = edge_pb2.ChatStreamRequest(
            model=model, messages=messages, max_tokens=MAX_TOKENS
        )

        async def unary() -> Outcome:
            start = time.perf_counter()
            response = await stub.Chat(unary_request, timeout=TIMEOUT, metadata=metadata)
            if not response.text or response.cached:
                raise RuntimeError("empty or cached completion")
            return None, time.perf_counter() - start, []

        async def streamed() -> Outcome:
            start = time.perf_counter()
            first: float | None = None
            arrivals: list[float] = []
            usage = False
            async for piece in stub.ChatStream(stream_request, timeout=TIMEOUT, metadata=metadata):
                if piece.text:
                    arrivals.append(time.perf_counter() - start)
                    first = arrivals[0]
                usage = usage or piece.HasField("usage")
            if first is None or not usage:
                raise RuntimeError("stream without text or usage")
            return first, time.perf_counter() - start, arrivals

        return streamed if stream else unary


async def run(call: Call, concurrency: int, requests: int) -> dict[str, Any]:
    latencies: list[float] = []
    ttft: list[float] = []
    arrivals: list[list[float]] = []
    errors: list[str] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            try:
                first, total, pieces = await call()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            latencies.append(total)
            if first is not None:
                ttft.append(first)
                arrivals.append(pieces)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "latencies": latencies,
        "ttft": ttft,
        "arrivals": arrivals,
        "wall": time.perf_counter() - start,
        "errors": len(errors),
        "error": errors[0] if errors else "",
    }


async def serve(config: dict[str, str]) -> None:
    clients = Clients(config)
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.strip():
            return
        command = json.loads(line)
        call = clients.call(command["target"], command["kind"])
        result = await run(call, int(command["concurrency"]), int(command["requests"]))
        print(json.dumps(result), flush=True)


def main() -> None:
    asyncio.run(serve(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
