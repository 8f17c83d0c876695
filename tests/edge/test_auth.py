"""API keys: hashed at rest, found in a file (reloaded on change) or Redis."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from redis.asyncio import Redis

from services.edge import keys
from services.edge.auth import KeyStore, add_to_key_file, add_to_redis, make_record, new_key


async def test_file_keys_are_hashed_and_reloaded_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first, second = new_key(), new_key()
    add_to_key_file(path, make_record(first, "acme", "free"))
    assert first not in path.read_text()  # only the hash is stored
    store = KeyStore(file=str(path), reload_seconds=0.01)
    await store.load()
    record = await store.lookup(first)
    assert record is not None and (record.tenant, record.tier) == ("acme", "free")
    assert await store.lookup(second) is None
    assert await store.lookup(first + "x") is None

    add_to_key_file(path, make_record(second, "globex", "paid"))
    await asyncio.sleep(0.02)
    record = await store.lookup(second)
    assert record is not None and record.tenant == "globex"

    assert keys.main(["revoke", "--key-id", record.key_id, "--file", str(path)]) == 0
    await asyncio.sleep(0.02)
    assert await store.lookup(second) is None
    assert await store.lookup(first) is not None


async def test_a_broken_key_file_keeps_the_last_good_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = new_key()
    add_to_key_file(path, make_record(key, "acme", "free"))
    store = KeyStore(file=str(path), reload_seconds=0.01)
    await store.load()
    path.write_text("{not json")
    await asyncio.sleep(0.02)
    assert await store.lookup(key) is not None


async def test_redis_keys(redis: Redis, prefix: str) -> None:
    key = new_key()
    await add_to_redis(redis, prefix + "api_keys", make_record(key, "initech", "enterprise"))
    store = KeyStore(redis=redis, redis_hash=prefix + "api_keys", reload_seconds=0.01)
    record = await store.lookup(key)
    assert record is not None and record.tenant == "initech"
    assert await store.lookup(new_key()) is None
    stored = await redis.hgetall(prefix + "api_keys")
    assert key not in json.dumps(stored)


def test_dev_key_is_idempotent_and_honours_the_environment(
    tmp_path: Path, capsys: object, monkeypatch: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    path = tmp_path / "var" / "api_keys.json"
    monkeypatch.delenv("AIMESH_DEV_API_KEY", raising=False)
    first = keys.dev_key(path)
    assert first == keys.dev_key(path)
    assert len(json.loads(path.read_text())["keys"]) == 1
    monkeypatch.setenv("AIMESH_DEV_API_KEY", "my-dev-key")
    assert keys.dev_key(path) == "my-dev-key"
    assert keys.dev_key(path) == "my-dev-key"
    records = json.loads(path.read_text())["keys"]
    assert len(records) == 2 and {r["tenant"] for r in records} == {"dev"}
    assert {r["tier"] for r in records} == {"paid"}
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
