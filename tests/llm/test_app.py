"""Wiring at start: the catalogue is checked, local limits follow the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import SettingsError
from services.llm.server import LlmApp
from services.llm.settings import LlmSettings


def test_local_context_follows_the_slot_size() -> None:
    app = LlmApp(LlmSettings(local_context_tokens=2048))
    assert app.catalogue.models["smollm2-135m"].context_window == 2048
    assert app.default_model == "smollm2-135m"
    assert app.router.unavailable_reason(app.catalogue.models["gpt-4o"]) == "no credentials"


def test_keys_make_providers_available_and_stay_secret() -> None:
    settings = LlmSettings(openai_api_key="sk-live-123456789", anthropic_api_key="sk-ant-987654321")
    app = LlmApp(settings)
    assert app.router.unavailable_reason(app.catalogue.models["gpt-4o"]) == ""
    assert app.router.unavailable_reason(app.catalogue.models["claude-3-5-sonnet"]) == ""
    assert "sk-live-123456789" not in repr(settings) and "sk-live" not in str(settings)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("default_model: a\nproviders: {}\nmodels: {}\n", "default_model"),
        (
            "default_model: a\nproviders: {p: {kind: openai, base_url: 'http://x'}}\n"
            "models: {a: {provider: p, upstream_model: a, context_window: 10,"
            " max_output_tokens: 5, input_micros_per_million_tokens: 1,"
            " output_micros_per_million_tokens: 1, fallbacks: [b]}}\n",
            "fallback 'b'",
        ),
        ("default_model: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_broken_catalogue_stops_the_start(
    tmp_path: Path, text: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        LlmApp(LlmSettings(catalogue_path=path))
    assert problem in str(caught.value)
    assert problem in capsys.readouterr().err


def test_unknown_default_model_stops_the_start() -> None:
    with pytest.raises(SettingsError):
        LlmApp(LlmSettings(default_model="gpt-99"))
