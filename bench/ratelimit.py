"""Rate limiter: admission decisions per second per edge process, and Redis round trips.

Part one drives the edge's limiter through its public API in this process (one
process, as one edge replica would): `RedisRateLimiter` against the real Redis
at 127.0.0.1:6379, with a Redis pool built as the edge builds it and the four
quotas `Gate.quotas` gives a Chat call (requests and tokens, of the key and of
its tenant). Baselines in the same run: a Redis PING at the same concurrency
(one bare round trip: the floor for any shared limiter) and the in-process
`LocalRateLimiter`. Round trips and commands per decision are counted on the
client's connections.

Part two counts the Redis commands and round trips of whole edge calls (Chat,
ChatStream) with the edge's Redis behind a counting TCP proxy
(bench/_redis_proxy.py): auth, limits, budget reservation and settlement.

    python -m bench ratelimit      (AIMESH_BENCH_QUICK=1: fewer, shorter runs)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.exceptions import RedisError

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from bench._mesh import MODEL, REDIS_URL, clear_redis_prefix, start_edge, start_llm
from bench._procs import ROOT, start_fake_openai, stop
from bench._stats import fmt, median, percentile
from services.edge.auth import KeyRecord, KeyStore
from services.edge.gate import Caller, Gate
from services.edge.ratelimit import (
    LimiterUnavailable,
    LocalRateLimiter,
    Quota,
    RateLimiter,
    RedisRateLimiter,
)
from services.edge.tiers import Tier

QUICK = os.environ.get("AIMESH_BENCH_QUICK", "") not in ("", "0")
RUNS = 2 if QUICK else 5
SECONDS = 0.5 if QUICK else 1.0
EDGE_CALLS = 20 if QUICK else 50
CONCURRENCIES = (1, 32)
RESULTS_JSON = ROOT / "var" / "bench" / "ratelimit.json"
# Tokens a short Chat call is charged against the token quotas (prompt estimate + max_tokens).
CALL_TOKENS = 76
SMALL_LIMIT, BIG_LIMIT = 100, 5_000


class CountingConnection(Connection):
    """Counts writes (one per round trip: redis-py waits for the reply before the next)."""

    round_trips = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.round_trips += 1
        await super().send_packed_command(command, check_health)


def edge_like_redis(url: str = REDIS_URL) -> Redis:
    """The pool the edge builds (services/edge/server.py), counting round trips."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=0.5,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        decode_responses=True,
        connection_class=CountingConnection,
    )
    return Redis.from_pool(pool)


def caller(limit: int) -> tuple[Caller, Gate]:
    """A key of its own tenant whose tier allows `limit` calls per window."""
    tier = Tier("bench", ("*",), limit, limit * 1000, limit, limit * 1000, 10**12)
    key_id = f"k_{uuid.uuid4().hex[:12]}"
    tenant = f"bench-{key_id}"
    record = KeyRecord(key_id=key_id, sha256="0" * 64, tenant=tenant, tier="bench")
    # The gate only builds the quotas here; its own limiter is not used.
    gate = Gate(
        KeyStore(),
        {"bench": tier},
        RateLimiter(LocalRateLimiter(60.0), "closed"),
        unauthenticated_limit=1,
        window_seconds=60.0,
    )
    return Caller(record, tier), gate


async def rate(
    decide: Callable[[], Awaitable[bool]], concurrency: int, seconds: float
) -> dict[str, float]:
    """Decisions per second, latency percentiles, CPU per decision of this process."""
    latencies: list[float] = []
    admitted = errors = 0
    trips_before = CountingConnection.round_trips
    cpu_before = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal admitted, errors
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                ok = await decide()
            except LimiterUnavailable:
                # Redis is shared with other engineers' tests, which may restart it.
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
            admitted += ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    n = max(len(latencies), 1)
    ms = [x * 1000 for x in latencies]
    return {
        "per_second": n / wall,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "cpu_us": (time.process_time() - cpu_before) * 1e6 / n,
        "round_trips": (CountingConnection.round_trips - trips_before) / n,
        "admitted_share": admitted / n,
        "errors": errors,
    }


async def filled_quotas(limiter: RateLimiter, limit: int) -> list[Quota]:
    """The quotas of a fresh key after it used all `limit` calls of its window."""
    full, gate = caller(limit)
    quotas = gate.quotas(full, CALL_TOKENS)

    async def fill(count: int) -> None:
        for _ in range(count):
            await limiter.admit(quotas)

    await asyncio.gather(*(fill(limit // 16) for _ in range(16)))
    await fill(limit % 16)
    return quotas


async def limiter_runs() -> dict[str, dict[str, float]]:
    redis = edge_like_redis()
    prefix = f"bench:rl:{uuid.uuid4().hex[:12]}:"
    try:
        redis_limiter = RateLimiter(RedisRateLimiter(redis, prefix, 60.0), "closed")
        local_limiter = RateLimiter(LocalRateLimiter(60.0), "closed")
        open_caller, gate = caller(limit=10**9)
        open_quotas = gate.quotas(open_caller, CALL_TOKENS)
        # Keys that used all their calls: every decision is a rejection with its retry time,
        # found by walking the window's entries (so a full window of BIG_LIMIT costs more).
        full_quotas = await filled_quotas(redis_limiter, SMALL_LIMIT)
        big_quotas = await filled_quotas(redis_limiter, BIG_LIMIT)

        async def ping() -> bool:
            try:
                return bool(await redis.ping())
            except (RedisError, OSError) as exc:
                raise LimiterUnavailable(repr(exc)) from exc

        async def admit_redis() -> bool:
            return (await redis_limiter.admit(open_quotas)).admitted

        async def reject_redis() -> bool:
            return (await redis_limiter.admit(full_quotas)).admitted

        async def reject_big() -> bool:
            return (await redis_limiter.admit(big_quotas)).admitted

        async def admit_local() -> bool:
            return (await local_limiter.admit(open_quotas)).admitted

        cases = {
            "ping": ping,
            "redis admit": admit_redis,
            "redis reject": reject_redis,
            "redis reject big": reject_big,
            "local admit": admit_local,
        }
        for decide in cases.values():  # warm: connections, script cache
            await rate(decide, 32, 0.2)
        runs: dict[str, dict[str, float]] = {}
        samples: dict[str, list[dict[str, float]]] = {}
        for _ in range(RUNS):
            for concurrency in CONCURRENCIES:
                for name, decide in cases.items():
                    key = f"{name} c={concurrency}"
                    samples.setdefault(key, []).append(await rate(decide, concurrency, SECONDS))
        for key, rows in samples.items():
            base = samples[f"ping c={key.rsplit('=', 1)[1]}"]
            runs[key] = {f: median([r[f] for r in rows]) for f in rows[0]}
            runs[key]["errors"] = sum(r["errors"] for r in rows)
            runs[key]["vs_ping"] = median(
                [r["per_second"] / b["per_second"] for r, b in zip(rows, base, strict=True)]
            )
        return runs
    finally:
        keys = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def edge_round_trips() -> dict[str, Any]:
    """Redis commands and round trips per Chat and ChatStream, through a counting proxy."""
    proxy = subprocess.Popen(
        [sys.executable, "-m", "bench._redis_proxy", "--upstream", "127.0.0.1:6379"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proxy.stdin is not None and proxy.stdout is not None
    port = int(proxy.stdout.readline().split()[1])

    def counts() -> tuple[int, int]:
        assert proxy.stdin is not None and proxy.stdout is not None
        proxy.stdin.write("count\n")
        proxy.stdin.flush()
        commands, trips = proxy.stdout.readline().split()
        return int(commands), int(trips)

    upstream, upstream_url = start_fake_openai()
    llm = edge = None
    result: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="aimesh-bench-") as tmp:
            llm = start_llm(Path(tmp), upstream_url)
            edge = start_edge(Path(tmp), llm, redis_url=f"redis://127.0.0.1:{port}/0")
            metadata = (("authorization", f"Bearer {edge.api_key}"),)
            messages = [edge_pb2.Message(role="user", content="Say something about a fox.")]
            with grpc.insecure_channel(edge.edge.target) as channel:
                stub = edge_pb2_grpc.EdgeServiceStub(channel)

                def chat() -> None:
                    stub.Chat(
                        edge_pb2.ChatRequest(model=MODEL, messages=messages, max_tokens=64),
                        metadata=metadata,
                        timeout=30,
                    )

                def chat_stream() -> None:
                    request = edge_pb2.ChatStreamRequest(
                        model=MODEL, messages=messages, max_tokens=64
                    )
                    for _ in stub.ChatStream(request, metadata=metadata, timeout=30):
                        pass

                for name, call in (("Chat", chat), ("ChatStream", chat_stream)):
                    for _ in range(5):
                        call()
                    time.sleep(0.3)  # settlements finish after the reply
                    before = counts()
                    for _ in range(EDGE_CALLS):
                        call()
                    time.sleep(0.3)
                    after = counts()
                    result[name] = {
                        "commands": (after[0] - before[0]) / EDGE_CALLS,
                        "round_trips": (after[1] - before[1]) / EDGE_CALLS,
                    }
    finally:
        if edge is not None:
            edge.stop()
            clear_redis_prefix(edge.redis_prefix)
        if llm is not None:
            llm.terminate()
        stop(upstream)
        proxy.stdin.close()
        stop(proxy)
        proxy.stdout.close()
    return result


def main() -> None:
    started = time.monotonic()
    limiter = asyncio.run(limiter_runs())
    try:
        edge = edge_round_trips()
        edge_error = ""
    except Exception as exc:
        edge, edge_error = {}, str(exc).splitlines()[0]
    print(
        f"One process, the edge's Redis pool and the four quotas of a Chat call; medians of {RUNS}"
        f" runs of {SECONDS:g} s per case. Baseline: Redis PING at the same concurrency.\n"
    )
    print(
        "| case | decisions/s | vs PING | p50 ms | p99 ms | CPU µs/decision (this process) |"
        " Redis round trips/decision |"
    )
    print("|---|---|---|---|---|---|---|")
    names = {
        "ping": "Redis PING (baseline)",
        "redis admit": "Redis limiter, admitted",
        "redis reject": f"Redis limiter, rejected (key at its limit of {SMALL_LIMIT})",
        "redis reject big": f"Redis limiter, rejected (key at its limit of {BIG_LIMIT})",
        "local admit": "in-process limiter, admitted",
    }
    for key, row in limiter.items():
        name, concurrency = key.rsplit(" c=", 1)
        trips = fmt(row["round_trips"]) if name != "local admit" else "0"
        print(
            f"| {names[name]}, c={concurrency} | {fmt(row['per_second'], 0)} |"
            f" {fmt(row['vs_ping'])}x | {fmt(row['p50_ms'], 3)} | {fmt(row['p99_ms'], 3)} |"
            f" {fmt(row['cpu_us'], 0)} | {trips} |"
        )
    failed = {k: int(r["errors"]) for k, r in limiter.items() if r["errors"]}
    if failed:
        print(f"\nRedis errors (timeouts) during the runs, not counted as decisions: {failed}")
    print("\nRedis per edge call (through a counting proxy, after warm-up):\n")
    if edge:
        print("| call | Redis commands | Redis round trips |")
        print("|---|---|---|")
        for name, row in edge.items():
            print(f"| {name} | {fmt(row['commands'], 1)} | {fmt(row['round_trips'], 1)} |")
    else:
        print(f"not measured: {edge_error}")
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(
        json.dumps(
            {
                "section": "ratelimit",
                "runs": RUNS,
                "seconds_per_case": SECONDS,
                "limiter": limiter,
                "edge_calls": edge,
                "edge_error": edge_error,
            },
            indent=1,
        )
    )
    print(f"\n(results in {RESULTS_JSON.relative_to(ROOT)}; {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
