"""Redis faults: the edge's Redis killed and restarted (empty) while calls run.

Limits follow AIMESH_EDGE_REDIS_FAILURE_MODE: failing closed, every call gets a
clean UNAVAILABLE with RetryInfo (never INTERNAL, never a hang) and health says
NOT_SERVING; failing open, calls are admitted. Either way a metric and a log
line say so, and the edge recovers by itself when Redis is back: SERVING,
calls admitted, limits enforced again. Budgets: the tenant's spend (GetUsage,
and what the budget enforces) equals exactly the sum of the costs the clients
received, across Redis losing its memory, an outage, and an edge restart.

Each test runs its own redis-server on a free port (never the system Redis).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import redis

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from services.edge.auth import add_to_key_file, make_record, new_key
from services.edge.validation import prompt_tokens_bound
from tests.edge.mesh import CATALOGUE, INPUT_PRICE, MODEL, OUTPUT_PRICE, details
from tests.reliability.conftest import Mesh, start_mesh
from tests.support import ServiceProcess

REDIS_SERVER = "/usr/bin/redis-server"
BUDGET = 1_500  # micro-dollars a day for the tenant "billing"
CALL_TIMEOUT = 30.0
PROMPT = "Write a short poem about the sea."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own, without persistence: a restart empties it."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        # The port of a killed server may linger a moment in the kernel.
        deadline = time.monotonic() + 15
        while True:
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    *("--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ping():
                return self
            self.proc.kill()
            self.proc.wait()
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not start on {self.port}")
            time.sleep(0.2)

    def _wait_ping(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            for _ in range(100):
                assert self.proc is not None
                if self.proc.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def mark(self) -> None:
        """Leave a key no service writes, to tell a restarted (empty) server."""
        with redis.Redis(port=self.port) as client:
            client.set("redis-faults:marker", 1)

    def marked(self) -> bool:
        with redis.Redis(port=self.port) as client:
            return bool(client.exists("redis-faults:marker"))

    def stop(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


@dataclass
class Result:
    rpc: str
    code: grpc.StatusCode
    cost: int = 0
    reason: str = ""
    retry_info: bool = False
    # When the call started, relative to the outage: before, during (Redis
    # down), restarting, after (the edge says SERVING again); when it ended.
    phase: str = ""
    ended: float = field(default_factory=time.monotonic)


@dataclass
class Load:
    """Clients calling one edge from threads until stopped: GetUsage (no model)
    and short Chats (their cost is what the tenant must be charged)."""

    stub: edge_pb2_grpc.EdgeServiceStub
    auth: list[tuple[str, str]]
    results: list[Result] = field(default_factory=list)
    phase: str = "before"
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, chatters: int = 2, readers: int = 1) -> Load:
        for i in range(chatters + readers):
            rpc = "Chat" if i < chatters else "GetUsage"
            thread = threading.Thread(target=self._run, args=(rpc,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, rpc: str) -> None:
        while not self._stop.is_set():
            phase = self.phase
            self.results.append(call(self.stub, self.auth, rpc, phase))
            if rpc == "GetUsage":
                time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(CALL_TIMEOUT + 10)
            assert not thread.is_alive(), "a call hung past its deadline"

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self._stop.set()  # a failed test: let the threads end before channels close
        for thread in self._threads:
            thread.join(CALL_TIMEOUT + 10)

    def wait_for(
        self, count: int, predicate: Callable[[Result], bool], timeout: float = 30.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for r in list(self.results) if predicate(r)) < count:
            assert time.monotonic() < deadline, f"waited for {count}: {self.summary()}"
            time.sleep(0.05)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in list(self.results):
            key = f"{r.phase} {r.rpc} {r.code.name} {r.reason}".strip()
            counts[key] = counts.get(key, 0) + 1
        return counts


def call(
    stub: edge_pb2_grpc.EdgeServiceStub,
    auth: list[tuple[str, str]],
    rpc: str,
    phase: str = "",
    max_tokens: int = 3,
    timeout: float = CALL_TIMEOUT,
) -> Result:
    try:
        if rpc == "Chat":
            response = stub.Chat(
                edge_pb2.ChatRequest(
                    model=MODEL,
                    messages=[edge_pb2.Message(role="user", content=PROMPT)],
                    max_tokens=max_tokens,
                    temperature=0.9,  # never served from the cache
                ),
                metadata=auth,
                timeout=timeout,
            )
            assert not response.cached
            return Result(rpc, grpc.StatusCode.OK, cost=response.cost_micros, phase=phase)
        stub.GetUsage(edge_pb2.GetUsageRequest(), metadata=auth, timeout=timeout)
        return Result(rpc, grpc.StatusCode.OK, phase=phase)
    except grpc.RpcError as error:
        found = details(error)
        info = found.get("ErrorInfo")
        return Result(
            rpc,
            error.code(),
            reason=getattr(info, "reason", ""),
            retry_info="RetryInfo" in found,
            phase=phase,
        )


def spent(stub: edge_pb2_grpc.EdgeServiceStub, auth: list[tuple[str, str]]) -> int:
    """The tenant's spend from GetUsage, waiting out a Redis that is coming back."""
    deadline = time.monotonic() + 30
    while True:
        try:
            response = stub.GetUsage(edge_pb2.GetUsageRequest(), metadata=auth, timeout=10)
            return int(response.spent_micros)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error
            assert time.monotonic() < deadline, error
            time.sleep(0.1)


def metric(edge: ServiceProcess, name: str, **labels: str) -> float:
    total = 0.0
    for line in edge.metrics_text().splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


# --- the mesh ----------------------------------------------------------------

TIERS = {
    # The load tenant: plenty of room, so only Redis decides.
    "paid": {
        "allowed_models": ["*"],
        "key_requests_per_window": 100_000,
        "key_tokens_per_window": 10_000_000,
        "tenant_requests_per_window": 100_000,
        "tenant_tokens_per_window": 10_000_000,
        "daily_budget_micros": 50_000_000,
    },
    "tight": {
        "allowed_models": ["*"],
        "key_requests_per_window": 3,
        "key_tokens_per_window": 1_000_000,
        "tenant_requests_per_window": 1_000,
        "tenant_tokens_per_window": 1_000_000,
        "daily_budget_micros": 50_000_000,
    },
    "metered": {
        "allowed_models": ["*"],
        "key_requests_per_window": 1_000,
        "key_tokens_per_window": 1_000_000,
        "tenant_requests_per_window": 1_000,
        "tenant_tokens_per_window": 1_000_000,
        "daily_budget_micros": BUDGET,
    },
}


@dataclass
class RedisMesh:
    tmp: Path
    redis: RedisServer
    mesh: Mesh
    # A second edge on the same Redis that fails open (the mesh's edge fails closed).
    open_edge: ServiceProcess
    keys: dict[str, str]
    channels: list[grpc.Channel] = field(default_factory=list)

    def stub(self, edge: ServiceProcess) -> edge_pb2_grpc.EdgeServiceStub:
        channel = grpc.insecure_channel(edge.target)
        self.channels.append(channel)
        return edge_pb2_grpc.EdgeServiceStub(channel)

    def auth(self, tenant: str) -> list[tuple[str, str]]:
        key = self.mesh.api_key if tenant == "dev" else self.keys[tenant]
        return [("authorization", f"Bearer {key}")]

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        for service in (
            self.open_edge,
            self.mesh.edge,
            self.mesh.guardrails,
            self.mesh.retrieval,
            self.mesh.llm,
        ):
            service.terminate()
        self.redis.stop()


@pytest.fixture(scope="module")
def rmesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisMesh]:
    tmp = tmp_path_factory.mktemp("redis-faults")
    server = RedisServer(tmp / "redis").start()
    server.mark()
    catalogue = tmp / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    tiers = tmp / "tiers.json"
    tiers.write_text(json.dumps(TIERS))
    keys = {"tight": new_key(), "billing": new_key()}
    add_to_key_file(tmp / "api_keys.json", make_record(keys["tight"], "tight", "tight"))
    add_to_key_file(tmp / "api_keys.json", make_record(keys["billing"], "billing", "metered"))
    edge_env = {"AIMESH_EDGE_TIERS_FILE": str(tiers), "AIMESH_EDGE_REDIS_FAILURE_MODE": "closed"}
    mesh = start_mesh(
        tmp,
        f"aimesh-redis-faults-{os.getpid()}:closed:",
        env={"llm": {"AIMESH_LLM_CATALOGUE_PATH": str(catalogue)}, "edge": edge_env},
        redis_url=server.url,
    )
    open_edge = ServiceProcess(
        "edge",
        {
            **{k: v for k, v in mesh.edge.env.items() if k.startswith("AIMESH_EDGE_")},
            "AIMESH_EDGE_PORT": "0",
            "AIMESH_EDGE_METRICS_PORT": "0",
            "AIMESH_EDGE_REDIS_FAILURE_MODE": "open",
            "AIMESH_EDGE_REDIS_PREFIX": f"aimesh-redis-faults-{os.getpid()}:open:",
            "AIMESH_EDGE_LEDGER_DIR": str(tmp / "ledger-open"),
        },
    )
    running = RedisMesh(tmp, server, mesh, open_edge, keys)
    try:
        open_edge.start()
        yield running
    finally:
        running.close()


def restart_redis(rmesh: RedisMesh) -> None:
    rmesh.redis.start()
    assert not rmesh.redis.marked()  # it lost everything
    rmesh.redis.mark()


# --- the tests ---------------------------------------------------------------


def test_fail_closed_refuses_cleanly_and_recovers(rmesh: RedisMesh) -> None:
    edge = rmesh.mesh.edge
    stub = rmesh.stub(edge)
    before = spent(stub, rmesh.auth("dev"))
    with Load(stub, rmesh.auth("dev")) as load:
        load.wait_for(2, lambda r: r.rpc == "Chat" and r.code == grpc.StatusCode.OK)

        rmesh.redis.stop(signal.SIGKILL)
        load.phase = "during"
        edge.wait_for_health("NOT_SERVING", timeout=15)
        assert metric(edge, "aimesh_dependency_up", dependency="redis") == 0
        load.wait_for(5, lambda r: r.phase == "during" and r.code != grpc.StatusCode.OK)

        load.phase = "restarting"
        restarting = time.monotonic()
        restart_redis(rmesh)
        edge.wait_for_health("SERVING", timeout=30)  # by itself
        load.phase = "after"
        load.wait_for(2, lambda r: r.phase == "after" and r.rpc == "Chat" and r.code.name == "OK")
        load.stop()

    summary = load.summary()
    print(edge.name, rmesh.redis.port, summary)  # shown with -s or on failure
    failures = [r for r in load.results if r.code != grpc.StatusCode.OK]
    # Failing closed: refused, never INTERNAL or a deadline (a hang), and only
    # while Redis was down; each refusal says to retry.
    assert failures, summary
    assert {r.code for r in failures} == {grpc.StatusCode.UNAVAILABLE}, summary
    assert {r.reason for r in failures} <= {"LIMITER_UNAVAILABLE", "BUDGET_UNAVAILABLE"}, summary
    assert all(r.retry_info for r in failures), summary
    assert all(r.phase != "after" for r in failures), summary
    admitted_while_down = [
        r
        for r in load.results
        if r.phase == "during" and r.ended < restarting and r.code == grpc.StatusCode.OK
    ]
    assert not admitted_while_down, ("admitted a call while Redis was down", summary)
    assert metric(edge, "aimesh_edge_store_failures_total", mode="closed") > 0
    assert metric(edge, "aimesh_dependency_up", dependency="redis") == 1
    warned = edge.logs("rate limiter store unreachable")
    assert warned and warned[-1]["failure_mode"] == "closed"

    # Budget: exactly what the clients were told they were charged.
    charged = sum(r.cost for r in load.results if r.rpc == "Chat" and r.code.name == "OK")
    assert charged > 0
    assert spent(stub, rmesh.auth("dev")) - before == charged, summary
    print("charged", charged, "micro-dollars to the load tenant")

    # Limits are enforced again (the windows restarted empty with Redis).
    assert_limits_enforced(rmesh.stub(edge), rmesh.auth("tight"))


def test_fail_open_admits_charges_and_recovers(rmesh: RedisMesh) -> None:
    edge = rmesh.open_edge
    stub = rmesh.stub(edge)
    before = spent(stub, rmesh.auth("dev"))
    with Load(stub, rmesh.auth("dev")) as load:
        load.wait_for(2, lambda r: r.rpc == "Chat" and r.code == grpc.StatusCode.OK)

        rmesh.redis.stop(signal.SIGKILL)
        load.phase = "during"
        load.wait_for(3, lambda r: r.phase == "during" and r.rpc == "Chat" and r.code.name == "OK")
        assert edge.health() == "SERVING"  # failing open, Redis is not required

        load.phase = "restarting"
        restarting = time.monotonic()
        restart_redis(rmesh)
        load.phase = "after"
        load.wait_for(2, lambda r: r.phase == "after" and r.rpc == "Chat" and r.code.name == "OK")
        load.stop()

    summary = load.summary()
    print(edge.name, rmesh.redis.port, summary)  # shown with -s or on failure
    chats = [r for r in load.results if r.rpc == "Chat"]
    # Every generation was admitted, Redis down or not; only reading the usage needs it.
    assert {r.code for r in chats} == {grpc.StatusCode.OK}, summary
    assert len([r for r in chats if r.phase == "during" and r.ended < restarting]) >= 3
    failures = [r for r in load.results if r.code != grpc.StatusCode.OK]
    assert {r.code for r in failures} <= {grpc.StatusCode.UNAVAILABLE}, summary
    assert all(r.retry_info and r.phase != "after" for r in failures), summary
    assert metric(edge, "aimesh_edge_store_failures_total", mode="open") > 0
    warned = edge.logs("rate limiter store unreachable")
    assert warned and warned[-1]["failure_mode"] == "open"

    # Calls admitted without Redis are charged too, once Redis is back.
    charged = sum(r.cost for r in chats)
    assert spent(stub, rmesh.auth("dev")) - before == charged, summary
    print("charged", charged, "micro-dollars to the load tenant")

    assert_limits_enforced(rmesh.stub(edge), rmesh.auth("tight"))


def store_warnings(edge: ServiceProcess) -> list[dict[str, object]]:
    return [line for line in edge.lines if "unreachable" in str(line.get("msg"))]


def assert_limits_enforced(
    stub: edge_pb2_grpc.EdgeServiceStub, auth: list[tuple[str, str]]
) -> None:
    """The tight key may make 3 calls a window; the 4th is refused."""
    codes = [call(stub, auth, "GetUsage") for _ in range(4)]
    assert [r.code.name for r in codes] == ["OK", "OK", "OK", "RESOURCE_EXHAUSTED"], codes
    assert codes[-1].reason == "KEY_RATE_LIMITED" and codes[-1].retry_info


def test_budget_survives_redis_and_edge_restarts(rmesh: RedisMesh) -> None:
    edge = rmesh.mesh.edge
    stub, auth = rmesh.stub(edge), rmesh.auth("billing")
    costs = [call(stub, auth, "Chat").cost for _ in range(3)]
    assert all(c > 0 for c in costs), costs
    assert spent(stub, auth) == sum(costs), store_warnings(edge)

    # Redis loses its memory (SIGKILL, no persistence) and comes back empty.
    rmesh.redis.stop(signal.SIGKILL)
    restart_redis(rmesh)
    edge.wait_for_health("SERVING", timeout=30)

    # First call after the restart: a request whose worst case fits the budget
    # alone but not on top of what was spent. Enforced: refused, and the
    # refusal counts exactly the spend from before the restart.
    worst_prompt = prompt_tokens_bound([PROMPT]) * INPUT_PRICE // 1_000_000
    max_tokens = -(-(BUDGET - sum(costs) + 1 - worst_prompt) // (OUTPUT_PRICE // 1_000_000))
    assert worst_prompt + max_tokens * OUTPUT_PRICE // 1_000_000 <= BUDGET
    refused = call(stub, auth, "Chat", max_tokens=max_tokens, timeout=10)
    assert (refused.code.name, refused.reason) == ("RESOURCE_EXHAUSTED", "BUDGET_EXHAUSTED"), (
        refused,
        json.dumps(store_warnings(edge)),
    )
    assert spent(stub, auth) == sum(costs)  # not lost, not counted twice

    costs.append(call(stub, auth, "Chat").cost)
    assert spent(stub, auth) == sum(costs), store_warnings(edge)
    # The "budget nearly spent" gauges.
    assert metric(edge, "aimesh_edge_budget_spent_micros", tenant="billing") == sum(costs)
    assert metric(edge, "aimesh_edge_budget_limit_micros", tenant="billing") == BUDGET
    ratio = metric(edge, "aimesh_edge_budget_used_ratio", tenant="billing")
    assert ratio == pytest.approx(sum(costs) / BUDGET)

    # Redis and the edge both restart: the edge's ledger (on disk) restores it.
    rmesh.redis.stop(signal.SIGTERM)
    edge.terminate()
    restart_redis(rmesh)
    restarted = ServiceProcess("edge", {k: v for k, v in edge.env.items()}).start()
    rmesh.mesh.edge = restarted
    stub = rmesh.stub(restarted)
    assert spent(stub, auth) == sum(costs), store_warnings(edge)
    costs.append(call(stub, auth, "Chat").cost)
    assert spent(stub, auth) == sum(costs), store_warnings(edge)
    assert (rmesh.tmp / "ledger").is_dir()
    print("billing tenant: costs", costs, "spent", sum(costs), "of", BUDGET)
