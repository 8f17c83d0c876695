"""make bench: run every benchmark section, or those named: python -m bench llm guardrails.

Each section is a module bench/<name>.py with a `main() -> None` that prints
its own table: medians over several runs, and ratios against a baseline
measured in the same run. Every table printed is also written, row by row, to
var/bench/results.json for machines.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path
from typing import Any, TextIO

RESULTS_JSON = Path(__file__).resolve().parents[1] / "var" / "bench" / "results.json"


class _Tee(io.TextIOBase):
    """Passes a section's output through and keeps a copy of it."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.kept = out, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


def tables(text: str) -> list[dict[str, Any]]:
    """The markdown tables of a section's output, each with the line above it."""
    found: list[dict[str, Any]] = []
    title, rows = "", []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if len(rows) > 2:
            header = rows[0]
            cells = [dict(zip(header, row, strict=False)) for row in rows[2:]]
            found.append({"title": title, "rows": cells})
        rows = []
        if line.strip():
            title = line.strip().lstrip("#").strip()
    return found


def sections() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main() -> None:
    chosen = sys.argv[1:] or sections()
    print(
        f"# aimesh bench on {platform.node()}: {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    results: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": os.getloadavg(),
        "sections": {},
    }
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        tee = _Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):
            importlib.import_module(f"bench.{name}").main()
        results["sections"][name] = tables(tee.kept.getvalue())
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n(every table above is in {RESULTS_JSON})")


if __name__ == "__main__":
    main()
