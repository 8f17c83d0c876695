"""make bench keeps every printed table as rows for machines."""

from __future__ import annotations

from bench.__main__ import tables

OUTPUT = """## overhead

### Unary, concurrency 1

| path | p50 ms | added p50 ms |
|---|---|---|
| direct | 1.59 | 0.00 |
| full pipeline (edge Chat) | 10.41 | 8.97 |

Goal: chunks forwarded as they arrive: PASS
| case | decisions/s |
|---|---|
| Redis PING | 13948 |
"""


def test_every_table_is_kept_with_its_title_and_rows() -> None:
    assert tables(OUTPUT) == [
        {
            "title": "Unary, concurrency 1",
            "rows": [
                {"path": "direct", "p50 ms": "1.59", "added p50 ms": "0.00"},
                {"path": "full pipeline (edge Chat)", "p50 ms": "10.41", "added p50 ms": "8.97"},
            ],
        },
        {
            "title": "Goal: chunks forwarded as they arrive: PASS",
            "rows": [{"case": "Redis PING", "decisions/s": "13948"}],
        },
    ]
