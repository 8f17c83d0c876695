"""Manage edge API keys: python -m services.edge.keys <command>.

    dev-key --file var/api_keys.json
        The development key for tenant `dev` on the paid tier: AIMESH_DEV_API_KEY
        when set, else a key created once and kept (mode 600) next to the key
        file, so running it again prints the same key. Idempotent. The last
        line printed is the key alone.
    create --tenant acme --tier free (--file PATH | --redis-url URL [--prefix P])
        A new key; printed once, only its hash is stored.
    revoke --key-id k_... (--file PATH | --redis-url URL [--prefix P])
    list (--file PATH | --redis-url URL [--prefix P])

The edge re-reads the file when it changes (AIMESH_EDGE_API_KEYS_FILE) and
looks keys up in Redis when AIMESH_EDGE_API_KEYS_IN_REDIS=true.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from redis.asyncio import Redis

from services.edge.auth import (
    KeyRecord,
    add_to_key_file,
    add_to_redis,
    make_record,
    new_key,
    read_key_file,
    write_key_file,
)
from services.edge.tiers import DEFAULT_TIERS

DEV_TENANT = "dev"
DEV_TIER = "paid"
DEV_KEY_ENV = "AIMESH_DEV_API_KEY"


def dev_key(key_file: Path) -> str:
    """Register the development key in the file and return it."""
    key = os.environ.get(DEV_KEY_ENV, "").strip()
    if not key:
        kept = key_file.with_name(key_file.stem + ".dev_key")
        if kept.exists():
            key = kept.read_text().strip()
        if not key:
            key = new_key()
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(key + "\n")
            kept.chmod(0o600)
    add_to_key_file(key_file, make_record(key, DEV_TENANT, DEV_TIER))
    return key


async def _redis_records(url: str, redis_hash: str) -> list[KeyRecord]:
    async with Redis.from_url(url, decode_responses=True) as redis:
        raw = await redis.hgetall(redis_hash)
    return [KeyRecord(**json.loads(v)) for v in raw.values()]


async def _redis_add(url: str, redis_hash: str, record: KeyRecord) -> None:
    async with Redis.from_url(url, decode_responses=True) as redis:
        await add_to_redis(redis, redis_hash, record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.edge.keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def storage(p: argparse.ArgumentParser) -> None:
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--file", type=Path, help="the key file (AIMESH_EDGE_API_KEYS_FILE)")
        where.add_argument("--redis-url", help="store in Redis instead (AIMESH_REDIS_URL)")
        p.add_argument("--prefix", default="aimesh:edge:", help="AIMESH_EDGE_REDIS_PREFIX")

    dev = commands.add_parser("dev-key", help="register and print the development key")
    dev.add_argument("--file", type=Path, required=True)
    create = commands.add_parser("create", help="create a key")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--tier",
        default="free",
        help=f"one of {', '.join(DEFAULT_TIERS)} or a tier of AIMESH_EDGE_TIERS_FILE",
    )
    storage(create)
    revoke = commands.add_parser("revoke", help="disable a key by id")
    revoke.add_argument("--key-id", required=True)
    storage(revoke)
    listing = commands.add_parser("list", help="list keys (ids, tenants, tiers; never keys)")
    storage(listing)
    args = parser.parse_args(argv)

    if args.command == "dev-key":
        key = dev_key(args.file)
        print(f"Development API key for tenant `{DEV_TENANT}` ({DEV_TIER} tier), in {args.file}.")
        print("Use it with:  export AIMESH_API_KEY=<key>; python -m services.edge.cli ask '...'")
        print("         or:  grpcurl -H 'authorization: Bearer <key>' ...")
        print(key)
        return 0

    redis_hash = f"{args.prefix}api_keys"
    if args.command == "create":
        if not args.tenant.strip():
            parser.error("--tenant must not be empty")
        key = new_key()
        record = make_record(key, args.tenant.strip(), args.tier)
        if args.file:
            add_to_key_file(args.file, record)
        else:
            asyncio.run(_redis_add(args.redis_url, redis_hash, record))
        print(
            f"key id {record.key_id}, tenant {record.tenant}, tier {record.tier}", file=sys.stderr
        )
        print(key)
        return 0

    records = (
        read_key_file(args.file)
        if args.file
        else asyncio.run(_redis_records(args.redis_url, redis_hash))
    )
    if args.command == "list":
        for r in records:
            state = "disabled" if r.disabled else "active"
            print(f"{r.key_id}\t{r.tenant}\t{r.tier}\t{state}\t{r.created_at}")
        return 0

    # revoke
    matches = [r for r in records if r.key_id == args.key_id]
    if not matches:
        print(f"no key {args.key_id}", file=sys.stderr)
        return 1
    if args.file:
        write_key_file(
            args.file,
            [replace(r, disabled=True) if r.key_id == args.key_id else r for r in records],
        )
    else:
        for r in matches:
            asyncio.run(_redis_add(args.redis_url, redis_hash, replace(r, disabled=True)))
    print(f"revoked {args.key_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
