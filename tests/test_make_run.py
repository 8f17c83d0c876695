"""make run: the whole mesh comes up on embedded defaults, answers grpcurl, and
stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support import ROOT, ServiceProcess
from tests.test_reflection import APIS, GRPCURL

DEFAULT_PORTS = {"50051": "edge", "50052": "llm", "50053": "retrieval", "50054": "guardrails"}


def readme_grpcurl_commands() -> list[str]:
    """The grpcurl commands of the README's "Calling it with grpcurl" block."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Calling it with grpcurl", 1)[1].split("```sh\n", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    return [line.strip() for line in block.splitlines() if line.strip().startswith("grpcurl ")]


def grpcurl_messages(output: str) -> list[dict[str, Any]]:
    """grpcurl prints each streamed message as one JSON object."""
    decoder = json.JSONDecoder()
    messages, position = [], 0
    while (start := output.find("{", position)) != -1:
        message, position = decoder.raw_decode(output, start)
        messages.append(message)
    return messages


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
        # The README's examples, run as written (the ports are this test's own).
        outputs = {}
        for command in readme_grpcurl_commands():
            local = re.sub(
                r"127\.0\.0\.1:(5005\d)",
                lambda m: f"127.0.0.1:{ports[DEFAULT_PORTS[m.group(1)]]}",
                command,
            )
            run = subprocess.run(
                ["bash", "-c", local.replace("grpcurl ", f"{GRPCURL} ", 1)],
                env={**env, "AIMESH_API_KEY": "dev-key-for-the-make-run-test"},
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert run.returncode == 0, f"{command}\n{run.stderr}"
            outputs[command.rsplit("/", 1)[-1]] = grpcurl_messages(run.stdout)
        # Tokens arrive one by one, and the answer cites the document stored first.
        generated = outputs["GenerateStream"]
        assert sum(1 for m in generated if m.get("text")) > 1, generated
        assert "usage" in generated[-1], generated
        answer = outputs["AskStream"]
        assert sum(1 for m in answer if m.get("text")) > 1, answer
        assert [c["document_id"] for c in answer[-1]["citations"]] == ["about"], answer[-1]
    finally:
        mesh.send_signal(signal.SIGINT)
        returncode = mesh.wait(120)
        reader.join(10)
        assert mesh.stdout
        mesh.stdout.close()
    assert returncode == 0, "".join(output)
    assert "Stopped." in "".join(output)
