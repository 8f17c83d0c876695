"""make bench: run every benchmark section, or those named: python -m bench llm guardrails.

Each section is a module bench/<name>.py with a `main() -> None` that prints
its own table: medians over several runs, and ratios against a baseline
measured in the same run.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
from pathlib import Path


def sections() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main() -> None:
    chosen = sys.argv[1:] or sections()
    print(
        f"# aimesh bench on {platform.node()}: {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
