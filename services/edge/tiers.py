"""Tiers: what a key's plan allows (models, rate limits, daily budget).

Built-in tiers are free, paid and enterprise; a JSON file
(AIMESH_EDGE_TIERS_FILE) may override or add tiers:

    {"free": {"allowed_models": ["provider:local"], "key_requests_per_window": 20, ...}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

ALL_MODELS = "*"


@dataclass(frozen=True)
class Tier:
    name: str
    # Catalogue model names, "provider:<name>" for every model of a provider,
    # or "*" for every model.
    allowed_models: tuple[str, ...]
    key_requests_per_window: int
    key_tokens_per_window: int
    tenant_requests_per_window: int
    tenant_tokens_per_window: int
    # Daily budget of the tenant in micro-dollars (1e-6 USD).
    daily_budget_micros: int

    def allows(self, model: str, provider: str) -> bool:
        return (
            ALL_MODELS in self.allowed_models
            or model in self.allowed_models
            or f"provider:{provider}" in self.allowed_models
        )


DEFAULT_TIERS: dict[str, Tier] = {
    "free": Tier(
        name="free",
        allowed_models=("provider:local",),
        key_requests_per_window=20,
        key_tokens_per_window=20_000,
        tenant_requests_per_window=60,
        tenant_tokens_per_window=60_000,
        daily_budget_micros=100_000,  # $0.10
    ),
    "paid": Tier(
        name="paid",
        allowed_models=(ALL_MODELS,),
        key_requests_per_window=600,
        key_tokens_per_window=400_000,
        tenant_requests_per_window=3_000,
        tenant_tokens_per_window=2_000_000,
        daily_budget_micros=50_000_000,  # $50
    ),
    "enterprise": Tier(
        name="enterprise",
        allowed_models=(ALL_MODELS,),
        key_requests_per_window=6_000,
        key_tokens_per_window=4_000_000,
        tenant_requests_per_window=30_000,
        tenant_tokens_per_window=20_000_000,
        daily_budget_micros=1_000_000_000,  # $1000
    ),
}

_INT_FIELDS = {f.name for f in fields(Tier)} - {"name", "allowed_models"}


class TierConfigError(ValueError):
    pass


def _tier_from(name: str, raw: dict[str, Any], base: Tier | None) -> Tier:
    unknown = set(raw) - _INT_FIELDS - {"allowed_models"}
    if unknown:
        raise TierConfigError(f"tier {name!r}: unknown fields {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "allowed_models":
            if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
                raise TierConfigError(f"tier {name!r}: allowed_models must be a list of names")
            values[key] = tuple(value)
        elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TierConfigError(f"tier {name!r}: {key} must be a non-negative integer")
        else:
            values[key] = value
    if base is not None:
        return replace(base, **values)
    missing = _INT_FIELDS - set(values)
    if missing or "allowed_models" not in values:
        raise TierConfigError(f"new tier {name!r} must set every field")
    return Tier(name=name, **values)


def load_tiers(path: str) -> dict[str, Tier]:
    """The built-in tiers, overridden by the file at `path` when given."""
    tiers = dict(DEFAULT_TIERS)
    if not path:
        return tiers
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TierConfigError(f"cannot read tiers file {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise TierConfigError(f"tiers file {path} must hold an object of tiers")
    for name, tier_raw in raw.items():
        if not isinstance(tier_raw, dict):
            raise TierConfigError(f"tier {name!r} must be an object")
        tiers[name] = _tier_from(name, tier_raw, tiers.get(name))
    return tiers
