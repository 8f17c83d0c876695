"""`python -m services.edge.cli ingest` against a real edge (tests/edge/harness.py):
empty files are skipped and named, documents the edge refuses are named by
their file, everything else is stored, and the exit status tells."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.edge import cli
from tests.edge.harness import start_edge


async def test_ingest_skips_empty_files_names_refused_ones_and_stores_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Carrots are orange.")
    (docs / "b.txt").write_text("")
    (docs / "c.md").write_text("  \n\t\n")
    (docs / "d.txt").write_text("x" * 200)  # over the edge's limit below
    (docs / "e.md").write_text("Turnips are white.")
    edge = await start_edge(tmp_path, max_document_chars=100)
    try:
        code = await asyncio.to_thread(
            cli.main,
            ["--target", edge.target, "--api-key", edge.key, "ingest", str(docs)],
        )
    finally:
        await edge.stop()
    out, err = capsys.readouterr()
    assert code == 1
    assert f"skipped {docs / 'b.txt'}" in err and f"skipped {docs / 'c.md'}" in err
    assert f"failed {docs / 'd.txt'}: text: at most 100 characters" in err
    assert "stored 2 of 5 documents; skipped 2 empty; 1 failed" in out
    stored = [d.id for upsert in edge.retrieval.upserts for d in upsert.documents]
    assert stored == [(docs / "a.txt").as_posix(), (docs / "e.md").as_posix()]


async def test_ingest_of_good_files_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("Carrots are orange.")
    edge = await start_edge(tmp_path)
    try:
        code = await asyncio.to_thread(
            cli.main,
            ["--target", edge.target, "--api-key", edge.key, "ingest", str(tmp_path / "a.txt")],
        )
    finally:
        await edge.stop()
    assert code == 0
    assert "stored 1 of 1 documents" in capsys.readouterr().out
