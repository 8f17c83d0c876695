"""The contracts: buf lint clean, and the committed Python stubs are fresh."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from scripts.gen_protos import generate

ROOT = Path(__file__).resolve().parent.parent


def test_buf_lint_is_clean():
    buf = Path(sys.executable).parent / "buf"
    result = subprocess.run([str(buf), "lint"], cwd=ROOT / "protos", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_stubs_are_fresh(tmp_path):
    fresh = generate(tmp_path)
    stale = []
    for path in fresh:
        relative = path.relative_to(tmp_path)
        committed = ROOT / relative
        if not committed.exists() or not filecmp.cmp(path, committed, shallow=False):
            stale.append(str(relative))
    committed_files = {
        p.relative_to(ROOT)
        for p in (ROOT / "aimesh").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    extra = committed_files - {p.relative_to(tmp_path) for p in fresh}
    gone = sorted(map(str, extra))
    assert not stale and not extra, f"stale stubs, run `make protos`: {stale}, gone: {gone}"
