"""The model catalogue: one YAML file of providers and models, validated at start.

A broken catalogue (unknown provider, a fallback naming no model, a negative
price) stops the service at start with a message naming the entry, never at
the first request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ProviderKind = Literal["openai", "anthropic", "local"]

DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("catalogue.yaml")


class CatalogueError(ValueError):
    """The catalogue file is missing, unreadable or inconsistent."""


class ProviderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ProviderKind
    base_url: str | None = None
    # Name of an environment variable holding the key (providers other than
    # openai and anthropic, whose keys come from the service's settings).
    api_key_env: str | None = None


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    provider: str
    upstream_model: str
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    input_micros_per_million_tokens: int = Field(ge=0)
    output_micros_per_million_tokens: int = Field(ge=0)
    fallbacks: tuple[str, ...] = ()


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_model: str
    providers: dict[str, ProviderSpec]
    models: dict[str, ModelSpec]

    @model_validator(mode="before")
    @classmethod
    def _name_models(cls, data: Any) -> Any:
        """Each model learns its own name from its key in the file."""
        if isinstance(data, dict) and isinstance(data.get("models"), dict):
            models = {
                k: {**v, "name": k} if isinstance(v, dict) else v for k, v in data["models"].items()
            }
            data = {**data, "models": models}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        for name, spec in self.models.items():
            if spec.provider not in self.providers:
                raise ValueError(f"model {name!r}: unknown provider {spec.provider!r}")
            for fallback in spec.fallbacks:
                if fallback not in self.models:
                    raise ValueError(f"model {name!r}: fallback {fallback!r} is not in models")
                if fallback == name:
                    raise ValueError(f"model {name!r}: falls back to itself")
        if self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not in models")
        return self

    def chain(self, name: str) -> list[ModelSpec]:
        """The model followed by its fallbacks, each once, in order."""
        seen: list[str] = []
        for candidate in (name, *self.models[name].fallbacks):
            if candidate not in seen:
                seen.append(candidate)
        return [self.models[n] for n in seen]


def load_catalogue(path: Path) -> Catalogue:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogueError(f"cannot read model catalogue {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"model catalogue {path} is not valid YAML: {exc}") from None
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise CatalogueError(f"model catalogue {path} is invalid: {problems}") from None
