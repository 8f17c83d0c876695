"""The llm service: local model speed, and what the service adds over a direct call.

1. Local generation: SmolLM2-135M-Instruct on the embedded llama.cpp server.
   Time to first token and decode tokens/s, median of several runs, through
   the llm service (gRPC GenerateStream) and, as the baseline, straight to the
   llama.cpp server with the openai SDK.
2. Overhead: an instant OpenAI-compatible upstream (the tests' fault-injecting
   server, answering at once) called (a) directly with the openai SDK and
   (b) through the llm service's Generate / GenerateStream with the openai
   provider pointed at it. Added latency p50/p99 at concurrency 1, and added
   time to first token for streams; medians over rounds, ratio to direct.

    python -m bench llm
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import grpc
import openai
from openai.types.chat import ChatCompletionMessageParam

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from services.llm.local_server import LocalModelServer, default_model_path
from tests.llm.fake_upstream import FakeUpstream
from tests.support import ServiceProcess

LOCAL_RUNS = 3
LOCAL_MAX_TOKENS = 48
LOCAL_PROMPT = "Write a short paragraph about the sea."
ROUNDS = 3
CALLS_PER_ROUND = 200
WARMUP_CALLS = 20


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def _upstream_thread() -> Iterator[FakeUpstream]:
    """The instant upstream on its own event loop, so it never waits on the client."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[FakeUpstream] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder.append(loop.run_until_complete(FakeUpstream().start()))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield holder[0]
    finally:
        asyncio.run_coroutine_threadsafe(holder[0].stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# -- local model -----------------------------------------------------------------


async def _local_direct(threads: int) -> list[tuple[float, float]]:
    server = LocalModelServer(
        default_model_path(), threads=threads, parallel=1, context_tokens=2048
    )
    await server.start()
    # The SDK may retry a pooled connection the server has just closed; its
    # retries never fire on a served request, so they do not bend the timings.
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="local", max_retries=2)
    runs = []
    try:
        for i in range(LOCAL_RUNS + 1):
            started = time.perf_counter()
            first = last = 0.0
            tokens = 0
            stream = await client.chat.completions.create(
                model="local",
                messages=[{"role": "user", "content": f"{LOCAL_PROMPT} ({i})"}],
                max_tokens=LOCAL_MAX_TOKENS,
                stream=True,
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    tokens += 1
                    last = time.perf_counter()
                    first = first or last
            if i and tokens > 1:  # the first run warms the server up
                runs.append((first - started, (tokens - 1) / (last - first)))
    finally:
        await client.close()
        await server.stop()
    return runs


async def _local_service(target: str) -> list[tuple[float, float]]:
    runs = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        for i in range(LOCAL_RUNS + 1):
            request = llm_pb2.GenerateStreamRequest(
                messages=[llm_pb2.Message(role="user", content=f"{LOCAL_PROMPT} ({i})")],
                max_tokens=LOCAL_MAX_TOKENS,
            )
            started = time.perf_counter()
            first = last = 0.0
            tokens = 0
            async for reply in stub.GenerateStream(request, timeout=300):
                if reply.text:
                    tokens += 1
                    last = time.perf_counter()
                    first = first or last
            if i and tokens > 1:
                runs.append((first - started, (tokens - 1) / (last - first)))
    return runs


def _local_section() -> None:
    direct = asyncio.run(_local_direct(2))
    direct_one_thread = asyncio.run(_local_direct(1))
    with ServiceProcess("llm", {"AIMESH_LLM_LOCAL_PARALLEL": "1"}) as service:
        via_service = asyncio.run(_local_service(service.target))
    print(
        f"Local model: SmolLM2-135M-Instruct Q4_1, llama.cpp via xllamacpp, "
        f"{LOCAL_MAX_TOKENS} output tokens, median of {LOCAL_RUNS} runs\n"
    )
    print("| path | time to first token (ms) | decode tokens/s |")
    print("|---|---:|---:|")
    rows = (
        ("llama.cpp server direct (openai SDK), 2 threads", direct),
        ("llama.cpp server direct (openai SDK), 1 thread", direct_one_thread),
        ("llm service GenerateStream, 1 thread (default)", via_service),
    )
    for name, runs in rows:
        if runs:
            ttft = statistics.median(r[0] for r in runs) * 1000
            rate = statistics.median(r[1] for r in runs)
            print(f"| {name} | {ttft:.1f} | {rate:.1f} |")
    print()


# -- overhead --------------------------------------------------------------------


async def _timed(call: Callable[[], Awaitable[float | None]], n: int) -> list[float]:
    """Wall time of each call, or the time to first token the call returns."""
    for _ in range(WARMUP_CALLS):
        await call()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        ttft = await call()
        times.append(ttft if ttft is not None else time.perf_counter() - started)
    return times


async def _overhead(upstream: FakeUpstream, target: str) -> dict[str, list[list[float]]]:
    client = openai.AsyncOpenAI(
        base_url=upstream.openai_base_url, api_key="sk-bench", max_retries=0
    )
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]
    keys = ("direct", "service", "direct_ttft", "service_ttft", "grpc_only")
    results: dict[str, list[list[float]]] = {k: [] for k in keys}

    async def direct() -> float | None:
        await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        return None

    async def direct_stream() -> float | None:
        started = time.perf_counter()
        first = None
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
        return first

    async with grpc.aio.insecure_channel(target) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        request = llm_pb2.GenerateRequest(
            model="gpt-4o-mini", messages=[llm_pb2.Message(role="user", content="Say hello")]
        )
        stream_request = llm_pb2.GenerateStreamRequest(
            model="gpt-4o-mini", messages=[llm_pb2.Message(role="user", content="Say hello")]
        )

        async def service() -> float | None:
            await stub.Generate(request, timeout=10)
            return None

        async def service_stream() -> float | None:
            started = time.perf_counter()
            first = None
            async for reply in stub.GenerateStream(stream_request, timeout=10):
                if first is None and reply.text:
                    first = time.perf_counter() - started
            return first

        async def grpc_only() -> float | None:
            await stub.ListModels(llm_pb2.ListModelsRequest(), timeout=10)
            return None

        for _ in range(ROUNDS):
            results["grpc_only"].append(await _timed(grpc_only, CALLS_PER_ROUND))
            results["direct"].append(await _timed(direct, CALLS_PER_ROUND))
            results["service"].append(await _timed(service, CALLS_PER_ROUND))
            results["direct_ttft"].append(await _timed(direct_stream, CALLS_PER_ROUND))
            results["service_ttft"].append(await _timed(service_stream, CALLS_PER_ROUND))
    await client.close()
    return results


def _overhead_section() -> None:
    with _upstream_thread() as upstream:
        env = {
            "AIMESH_LLM_LOCAL_ENABLED": "false",
            "AIMESH_LLM_OPENAI_API_KEY": "sk-bench",
            "AIMESH_LLM_OPENAI_BASE_URL": upstream.openai_base_url,
        }
        with ServiceProcess("llm", env) as service:
            results = asyncio.run(_overhead(upstream, service.target))

    def medians(key: str, q: float) -> float:
        return statistics.median(_percentile(r, q) for r in results[key]) * 1000

    print(
        f"Overhead over an instant OpenAI-compatible upstream on loopback, concurrency 1, "
        f"{ROUNDS} rounds of {CALLS_PER_ROUND} calls (median of the rounds' percentiles)\n"
    )
    print("| measure | direct openai SDK (ms) | via llm service (ms) | added (ms) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for label, direct_key, service_key, q in (
        ("unary p50", "direct", "service", 0.5),
        ("unary p99", "direct", "service", 0.99),
        ("stream time to first token p50", "direct_ttft", "service_ttft", 0.5),
        ("stream time to first token p99", "direct_ttft", "service_ttft", 0.99),
    ):
        direct, via = medians(direct_key, q), medians(service_key, q)
        print(f"| {label} | {direct:.2f} | {via:.2f} | {via - direct:+.2f} | {via / direct:.2f}x |")
    print(
        f"\nContext: a gRPC round trip to the service alone (ListModels) takes "
        f"{medians('grpc_only', 0.5):.2f} ms p50. The direct column pays the openai SDK's own "
        "per-call CPU in the client; through the service the client pays gRPC and the "
        "service pays the SDK, validation, routing, metrics and its access log.\n"
    )


def main() -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Load average at start (1, 5, 15 min): {load}; other jobs share these cores.\n")
    _local_section()
    _overhead_section()


if __name__ == "__main__":
    main()
