"""make run: the whole mesh comes up on embedded defaults, answers grpcurl, and
stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support import ROOT, ServiceProcess
from tests.test_reflection import APIS, GRPCURL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_make_run_serves_the_whole_mesh(tmp_path: Path):
    ports = {name: free_port() for name in APIS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIMESH_")}
    env["AIMESH_DEV_API_KEY"] = "dev-key-for-the-make-run-test"
    for name, port in ports.items():
        prefix = f"AIMESH_{name.upper()}_"
        env |= {prefix + "PORT": str(port), prefix + "METRICS_PORT": "0"}
        env |= {
            prefix + "DRAIN_DELAY_SECONDS": "0",
            prefix + "HEALTH_CHECK_INTERVAL_SECONDS": "0.5",
        }
    mesh = subprocess.Popen(
        [sys.executable, "scripts/run_mesh.py", "--var-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    up = threading.Event()

    def read() -> None:
        assert mesh.stdout
        for line in mesh.stdout:
            output.append(line)
            if "aimesh is up" in line:
                up.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not up.wait(0.5):
            assert mesh.poll() is None, "".join(output)
            assert time.monotonic() < deadline, "".join(output)
        printed = "".join(output)
        assert "export AIMESH_API_KEY=dev-key-for-the-make-run-test" in printed
        for name, api in APIS.items():
            target = f"127.0.0.1:{ports[name]}"
            listing = subprocess.run(
                [GRPCURL, "-plaintext", target, "list"], capture_output=True, text=True, timeout=30
            )
            assert api in listing.stdout.split(), listing.stderr
            probe = ServiceProcess(name)
            probe.port = ports[name]
            assert probe.health() == "SERVING"
            assert probe.health(api) == "SERVING"
    finally:
        mesh.send_signal(signal.SIGINT)
        returncode = mesh.wait(120)
        reader.join(10)
        assert mesh.stdout
        mesh.stdout.close()
    assert returncode == 0, "".join(output)
    assert "Stopped." in "".join(output)
