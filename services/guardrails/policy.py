"""Policies: which detectors run, score thresholds, and what each finding type does.

Three layers, later ones win: the built-in defaults, the tenant's entry in the
policy file (AIMESH_GUARDRAILS_POLICY_FILE), and the request's Policy message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.guardrails import findings as f
from services.guardrails.findings import Action

DEFAULT_ACTIONS: dict[str, Action] = {
    f.PROMPT_INJECTION: Action.BLOCK,
    f.JAILBREAK: Action.BLOCK,
    f.HIDDEN_UNICODE: Action.REDACT,
    f.SECRET: Action.REDACT,
    f.SYSTEM_PROMPT_LEAK: Action.BLOCK,
    f.CANARY_LEAK: Action.BLOCK,
    f.JSON_SCHEMA: Action.BLOCK,
    **{pii: Action.REDACT for pii in f.PII_TYPES},
}

# Detector names a policy can disable; a prefix ("pii") disables all below it.
DETECTORS = (
    "injection",
    "unicode",
    "secrets",
    "secrets.entropy",
    "pii",
    "pii.pattern",
    "pii.ner",
    "output.leak",
    "output.canary",
    "output.json_schema",
)


@dataclass(frozen=True, slots=True)
class Policy:
    actions: dict[str, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    disabled: frozenset[str] = frozenset()
    min_score: float = 0.0
    injection_threshold: float = 0.5

    def runs(self, detector: str) -> bool:
        parts = detector.split(".")
        return not any(".".join(parts[: i + 1]) in self.disabled for i in range(len(parts)))

    def action_for(self, finding_type: str) -> Action:
        return self.actions.get(finding_type, Action.REPORT)

    def overridden(
        self,
        actions: dict[str, Action] | None = None,
        disabled: set[str] | frozenset[str] | None = None,
        min_score: float | None = None,
        injection_threshold: float | None = None,
    ) -> Policy:
        merged = dict(self.actions)
        for name, action in (actions or {}).items():
            if action != Action.DEFAULT:
                merged[name] = action
        return replace(
            self,
            actions=merged,
            disabled=self.disabled | frozenset(disabled or ()),
            min_score=self.min_score if not min_score else min_score,
            injection_threshold=injection_threshold or self.injection_threshold,
        )


class TenantPolicyFile(BaseModel):
    """One tenant's entry in the policy file."""

    model_config = ConfigDict(extra="forbid")

    actions: dict[str, Literal["REPORT", "REDACT", "BLOCK"]] = {}
    disabled_detectors: list[Literal[DETECTORS]] = []  # type: ignore[valid-type]
    min_score: float = Field(0.0, ge=0, le=1)
    injection_threshold: float | None = Field(None, gt=0, lt=1)

    @field_validator("actions")
    @classmethod
    def _known_types(cls, actions: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(actions) - set(DEFAULT_ACTIONS))
        if unknown:
            raise ValueError(f"unknown finding type {unknown[0]!r}")
        return actions


class PolicyFile(BaseModel):
    """{"default": {...}, "tenants": {"acme": {...}}}; actions by name: "BLOCK"."""

    model_config = ConfigDict(extra="forbid")

    default: TenantPolicyFile = TenantPolicyFile()
    tenants: dict[str, TenantPolicyFile] = {}


def _apply(base: Policy, entry: TenantPolicyFile) -> Policy:
    return base.overridden(
        actions={name: Action[action] for name, action in entry.actions.items()},
        disabled=set(entry.disabled_detectors),
        min_score=entry.min_score,
        injection_threshold=entry.injection_threshold,
    )


class PolicyStore:
    """Resolves the policy of a tenant; built once at start."""

    def __init__(self, base: Policy, file: PolicyFile | None = None) -> None:
        file = file or PolicyFile()
        self.default = _apply(base, file.default)
        self.tenants = {name: _apply(self.default, entry) for name, entry in file.tenants.items()}

    @classmethod
    def load(cls, base: Policy, path: Path | None) -> PolicyStore:
        if path is None:
            return cls(base)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(base, PolicyFile.model_validate(data))

    def for_tenant(self, tenant: str) -> Policy:
        return self.tenants.get(tenant, self.default)
