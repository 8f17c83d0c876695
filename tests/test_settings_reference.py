"""The README's settings reference matches the settings classes."""

from __future__ import annotations

from scripts.settings_reference import SERVICES, readme_block, render
from services.common.settings import ServiceSettings


def test_readme_settings_reference_is_current() -> None:
    assert readme_block() == render(), (
        "README.md's settings reference is stale: "
        "run `python -m scripts.settings_reference --write`"
    )


def test_reference_names_every_setting_of_every_service() -> None:
    block = readme_block()
    for cls in SERVICES.values():
        for name in cls.model_fields:
            # Settings every service has are listed once, with the llm prefix.
            common = name in ServiceSettings.model_fields and name != "port"
            prefix = "AIMESH_LLM_" if common else cls.env_prefix()
            assert f"`{prefix}{name.upper()}`" in block, name
            assert cls.model_fields[name].description, f"{name} says nothing of its meaning"
