"""Run real aimesh services as subprocesses on free loopback ports, for tests.

    with ServiceProcess("llm", {"AIMESH_LLM_FOO": "1"}) as llm:
        channel = grpc.aio.insecure_channel(llm.target)

The service logs JSON lines on stderr; the "listening" line gives the ports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent


class ServiceProcess:
    def __init__(
        self,
        name: str,
        env: dict[str, str] | None = None,
        *,
        wait_serving: bool = True,
        start_timeout: float = 120.0,
        module: str | None = None,
        capture_stdout: bool = False,
    ) -> None:
        self.name = name
        self.module = module or f"services.{name}"
        prefix = f"AIMESH_{name.upper()}_"
        self.env = {
            **os.environ,
            prefix + "PORT": "0",
            prefix + "METRICS_PORT": "0",
            prefix + "DRAIN_DELAY_SECONDS": "0",
            prefix + "HEALTH_CHECK_INTERVAL_SECONDS": "0.2",
            **(env or {}),
        }
        self.wait_serving = wait_serving
        self.capture_stdout = capture_stdout
        self.stdout_lines: list[str] = []
        self.start_timeout = start_timeout
        self.lines: list[dict[str, Any]] = []
        self.raw_lines: list[str] = []
        self.port = 0
        self.metrics_port = 0
        # A plaintext health-only port, when the service has one (its own port may be TLS).
        self.health_port = 0
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._stdout_reader: threading.Thread | None = None
        self._listening = threading.Event()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE if self.capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if self.capture_stdout:
            self._stdout_reader = threading.Thread(target=self._read_stdout, daemon=True)
            self._stdout_reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n" + "\n".join(self.raw_lines))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not listen:\n" + "\n".join(self.raw_lines))
        if self.wait_serving:
            self.wait_for_health("SERVING", timeout=max(1.0, deadline - time.monotonic()))
        return self

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for raw in self.proc.stderr:
            self.raw_lines.append(raw.rstrip())
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            self.lines.append(line)
            if line.get("msg") == "listening":
                self.port = int(line["port"])
                self.metrics_port = int(line["metrics_port"])
                self.health_port = int(line.get("health_port") or 0)
                self._listening.set()

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            self.stdout_lines.append(raw.rstrip())

    def health(self, service: str = "") -> str:
        target = f"127.0.0.1:{self.health_port}" if self.health_port else self.target
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    def wait_for_health(self, status: str, timeout: float = 30.0, service: str = "") -> None:
        deadline = time.monotonic() + timeout
        last = "?"
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n" + "\n".join(self.raw_lines[-50:]))
            try:
                last = self.health(service)
            except grpc.RpcError as exc:
                last = exc.code().name
            if last == status:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} health is {last}, not {status}")

    def logs(self, msg: str | None = None) -> list[dict[str, Any]]:
        return [line for line in self.lines if msg is None or line.get("msg") == msg]

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait for the drain, and return the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self._reader:
            self._reader.join(10)
        if self._stdout_reader:
            self._stdout_reader.join(10)
        if self.proc and self.proc.stderr and not self.proc.stderr.closed:
            self.proc.stderr.close()
        if self.proc and self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.terminate()
