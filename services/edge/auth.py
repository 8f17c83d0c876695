"""API keys: stored hashed, compared in constant time, reloadable without a restart.

A key is a high-entropy random string, so an unsalted SHA-256 is enough to
store it (as GitHub and Stripe do): a leaked key file reveals no usable key.
Keys live in a JSON file (re-read when it changes) and/or a Redis hash
`<prefix>api_keys` (field: the key's SHA-256, value: the record as JSON).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY_PREFIX = "am_"
# Compared against when no key matches, so a miss costs what a hit costs.
_DUMMY_HASH = hashlib.sha256(b"aimesh-no-such-key").hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    sha256: str
    tenant: str
    tier: str
    created_at: str = ""
    disabled: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def make_record(key: str, tenant: str, tier: str) -> KeyRecord:
    digest = hash_key(key)
    return KeyRecord(
        key_id="k_" + digest[:12],
        sha256=digest,
        tenant=tenant,
        tier=tier,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def _record_from(raw: Any) -> KeyRecord:
    if not isinstance(raw, dict):
        raise ValueError("a key record must be an object")
    record = KeyRecord(
        key_id=str(raw["key_id"]),
        sha256=str(raw["sha256"]).lower(),
        tenant=str(raw["tenant"]),
        tier=str(raw["tier"]),
        created_at=str(raw.get("created_at", "")),
        disabled=bool(raw.get("disabled", False)),
    )
    if len(record.sha256) != 64 or not record.tenant:
        raise ValueError(f"key {record.key_id}: bad sha256 or empty tenant")
    return record


# --- the key file ---------------------------------------------------------


def read_key_file(path: Path) -> list[KeyRecord]:
    if not path.exists():
        return []
    raw = json.loads(path.read_text())
    return [_record_from(item) for item in raw.get("keys", [])]


def write_key_file(path: Path, records: list[KeyRecord]) -> None:
    """Atomically replace the file (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"keys": [asdict(r) for r in records]}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def add_to_key_file(path: Path, record: KeyRecord) -> bool:
    """Add a record unless its hash is already there; True when added."""
    records = read_key_file(path)
    if any(r.sha256 == record.sha256 for r in records):
        return False
    write_key_file(path, [*records, record])
    return True


# --- lookups --------------------------------------------------------------


class KeyStore:
    """Finds the record of a presented key in the file and/or Redis."""

    def __init__(
        self,
        *,
        file: str = "",
        redis: Redis | None = None,
        redis_hash: str = "",
        reload_seconds: float = 1.0,
    ) -> None:
        self._file = Path(file) if file else None
        self._redis = redis
        self._redis_hash = redis_hash
        self._reload_seconds = reload_seconds
        self._by_hash: dict[str, KeyRecord] = {}
        self._file_stamp: tuple[float, int] | None = None
        self._checked_at = 0.0
        # Redis lookups, remembered briefly: hash -> (record or None, when).
        self._redis_cache: dict[str, tuple[KeyRecord | None, float]] = {}

    async def load(self) -> None:
        """Read the file now (at start); later reads happen when it changes."""
        await asyncio.to_thread(self._reload_file)

    def _reload_file(self) -> None:
        if self._file is None:
            return
        try:
            stat = self._file.stat()
        except FileNotFoundError:
            if self._by_hash:
                log.warning("api key file vanished; no file keys", extra={"file": str(self._file)})
            self._by_hash, self._file_stamp = {}, None
            return
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._file_stamp:
            return
        try:
            records = read_key_file(self._file)
        except (OSError, ValueError, KeyError) as exc:
            # Keep serving the last good keys rather than locking everyone out.
            log.error("api key file unreadable; keeping previous keys", extra={"error": str(exc)})
            return
        self._by_hash = {r.sha256: r for r in records}
        self._file_stamp = stamp
        log.info("api keys loaded", extra={"keys": len(records), "file": str(self._file)})

    async def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_at >= self._reload_seconds:
            self._checked_at = now
            await asyncio.to_thread(self._reload_file)

    async def _from_redis(self, digest: str) -> KeyRecord | None:
        if self._redis is None:
            return None
        now = time.monotonic()
        cached = self._redis_cache.get(digest)
        if cached and now - cached[1] < self._reload_seconds:
            return cached[0]
        try:
            raw = await self._redis.hget(self._redis_hash, digest)
        except RedisError as exc:
            log.warning("api key lookup in redis failed", extra={"error": repr(exc)})
            return cached[0] if cached else None
        record = _record_from(json.loads(raw)) if raw else None
        if len(self._redis_cache) > 100_000:
            self._redis_cache.clear()
        self._redis_cache[digest] = (record, now)
        return record

    async def lookup(self, key: str) -> KeyRecord | None:
        """The record of an enabled key, or None."""
        await self._maybe_reload()
        digest = hash_key(key)
        record = self._by_hash.get(digest)
        if record is None:
            record = await self._from_redis(digest)
        expected = record.sha256 if record else _DUMMY_HASH
        if not hmac.compare_digest(expected, digest) or record is None or record.disabled:
            return None
        return record


async def add_to_redis(redis: Redis, redis_hash: str, record: KeyRecord) -> None:
    await redis.hset(redis_hash, record.sha256, json.dumps(asdict(record)))
