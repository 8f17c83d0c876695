"""Processes under measurement: start them on loopback, read their CPU time.

CPU time comes from /proc/<pid>/stat (utime + stime, every thread of the
process), summed over the process and its descendants, so a server that forks
workers is charged for all of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench._litellm import ensure_litellm, litellm_config, litellm_env

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process and its descendants so far."""
    total = 0
    for member in descendants(pid):
        fields = _stat_fields(member)
        if fields is not None:
            # After the name: state ppid ... utime is field 14 of stat, index 11 here.
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_fake_openai() -> tuple[subprocess.Popen[str], str]:
    """The instant upstream in its own process; returns it and its /v1 base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._fake_openai", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening "):
        stop(proc)
        raise RuntimeError(f"fake upstream did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_litellm(
    workdir: Path, upstream_url: str, models: tuple[str, ...], timeout: float = 180.0
) -> tuple[subprocess.Popen[bytes], str]:
    """LiteLLM proxy (its own venv): the models on the upstream, no database."""
    executable = ensure_litellm()
    config = workdir / "litellm.yaml"
    config.write_text(litellm_config(upstream_url, *models))
    port = free_port()
    # Kept after the run (the work dir is not) for when the proxy fails to start.
    log_path = ROOT / "var" / "bench" / "litellm.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=litellm_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"litellm exited at start; see {log_path}")
        try:
            with urllib.request.urlopen(url + "/health/liveliness", timeout=2) as response:
                if response.status == 200:
                    return proc, url + "/v1"
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    stop(proc)
    raise TimeoutError(f"litellm did not answer within {timeout:.0f} s")
