"""Checks on request input: request-level faults raise InvalidArgument naming
the field; document-level faults become that document's failure reason."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from services.common.errors import InvalidArgument

MAX_TENANT_CHARS = 128
MAX_ID_CHARS = 512
MAX_QUERY_CHARS = 8192
MAX_TOP_K = 100
MAX_EMBED_TEXTS = 256
MAX_EMBED_TEXT_CHARS = 32_768
MAX_METADATA_ENTRIES = 64
MAX_METADATA_VALUE_CHARS = 1024
MAX_TITLE_CHARS = 4096
# Metadata keys become payload paths (metadata.<key>): plain names only.
METADATA_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _printable_id(value: str) -> bool:
    return value == value.strip() and not any(ord(c) < 32 or c == "\x7f" for c in value)


def tenant(value: str, field: str = "tenant") -> str:
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > MAX_TENANT_CHARS or not _printable_id(value):
        raise InvalidArgument(
            field, f"at most {MAX_TENANT_CHARS} characters, no control characters or edge spaces"
        )
    return value


def document_id_problem(value: str) -> str | None:
    if not value:
        return "document id must not be empty"
    if len(value) > MAX_ID_CHARS or not _printable_id(value):
        return (
            f"document id: at most {MAX_ID_CHARS} characters, no control characters or edge spaces"
        )
    return None


def metadata_problem(metadata: Mapping[str, str]) -> str | None:
    if len(metadata) > MAX_METADATA_ENTRIES:
        return f"at most {MAX_METADATA_ENTRIES} metadata entries"
    for key, value in metadata.items():
        if not METADATA_KEY.match(key):
            return f"metadata key {key[:64]!r}: 1-64 letters, digits, '_' or '-'"
        if len(value) > MAX_METADATA_VALUE_CHARS:
            return f"metadata value of {key!r}: at most {MAX_METADATA_VALUE_CHARS} characters"
    return None


def filter_entries(metadata: Mapping[str, str], field: str = "filter") -> dict[str, str]:
    for key, value in metadata.items():
        if not METADATA_KEY.match(key):
            raise InvalidArgument(f"{field}[{key[:64]}]", "key: 1-64 letters, digits, '_' or '-'")
        if len(value) > MAX_METADATA_VALUE_CHARS:
            raise InvalidArgument(
                f"{field}[{key}]", f"at most {MAX_METADATA_VALUE_CHARS} characters"
            )
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidArgument(field, f"at most {MAX_METADATA_ENTRIES} entries")
    return dict(metadata)


def top_k(value: int, default: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= MAX_TOP_K:
        raise InvalidArgument("top_k", f"must be between 1 and {MAX_TOP_K} (0 means {default})")
    return value


def query(value: str) -> str:
    if not value.strip():
        raise InvalidArgument("query", "must not be empty")
    if len(value) > MAX_QUERY_CHARS:
        raise InvalidArgument("query", f"at most {MAX_QUERY_CHARS} characters")
    return value


def score_threshold(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise InvalidArgument("score_threshold", "must be a finite number")
    return value
