"""Profile the full pipeline under load: where edge, guardrails and llm spend their CPU.

Starts the overhead bench's setup (instant upstream, llm, guardrails, edge),
drives edge Chat (or ChatStream) at concurrency 32 from the load process, and
samples each service with py-spy (installed on first use into var/bench/tools-venv;
bench only, like LiteLLM). Prints, per process, the functions with the most
samples on the stack (inclusive) and at the top of it (self), and keeps the
collapsed stacks in var/bench/profile-<process>.txt for a flame graph.

    python -m bench._profile [unary|stream] [seconds]
"""

from __future__ import annotations

import collections
import subprocess
import sys
import tempfile
import threading
import venv
from pathlib import Path

from bench._mesh import MODEL, clear_redis_prefix, start_edge, start_llm
from bench._procs import ROOT, start_fake_openai, stop
from bench.overhead import LoadClient

# The one pin of the bench-only profiler.
PY_SPY = "py-spy==0.4.3"
TOOLS = ROOT / "var" / "bench" / "tools-venv"


def ensure_py_spy() -> Path:
    executable = TOOLS / "bin" / "py-spy"
    if not executable.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        pip = [str(TOOLS / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, PY_SPY], check=True)
    return executable


def summarize(collapsed: Path, top: int = 25) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    out = [f"{total} samples", "", "inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    out += ["", "self:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(out)


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "unary"
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    py_spy = ensure_py_spy()
    upstream, upstream_url = start_fake_openai()
    llm = edge = load = None
    try:
        with tempfile.TemporaryDirectory(prefix="aimesh-profile-") as tmp:
            llm = start_llm(Path(tmp), upstream_url)
            edge = start_edge(Path(tmp), llm)
            load = LoadClient({"model": MODEL, "edge": edge.edge.target, "api_key": edge.api_key})
            load.run("edge", kind, 32, 200)  # warm
            pids = {
                "edge": edge.edge.proc.pid if edge.edge.proc else 0,
                "guardrails": edge.guardrails.proc.pid if edge.guardrails.proc else 0,
                "llm": llm.proc.pid if llm.proc else 0,
            }
            outputs = {name: ROOT / "var" / "bench" / f"profile-{name}.txt" for name in pids}
            spies = [
                subprocess.Popen(
                    [
                        str(py_spy),
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(seconds),
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--output",
                        str(outputs[name]),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for name, pid in pids.items()
            ]
            stop_load = threading.Event()

            def drive() -> None:
                assert load is not None
                while not stop_load.is_set():
                    load.run("edge", kind, 32, 200)

            driver = threading.Thread(target=drive)
            driver.start()
            for spy in spies:
                spy.wait()
            stop_load.set()
            driver.join()
            for name, path in outputs.items():
                print(f"\n## {name} ({kind}, c=32)\n")
                print(summarize(path) if path.exists() else "(no profile)")
    finally:
        if load is not None:
            load.close()
        if edge is not None:
            edge.stop()
            clear_redis_prefix(edge.redis_prefix)
        if llm is not None:
            llm.terminate()
        stop(upstream)


if __name__ == "__main__":
    main()
