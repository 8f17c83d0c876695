from __future__ import annotations

import pytest

from services.guardrails.guard import Guard
from services.guardrails.loader import load_guard
from services.guardrails.policy import Policy
from services.guardrails.settings import GuardrailsSettings


@pytest.fixture(scope="session")
def settings() -> GuardrailsSettings:
    return GuardrailsSettings()


@pytest.fixture(scope="session")
def guard(settings: GuardrailsSettings) -> Guard:
    return load_guard(settings)


@pytest.fixture(scope="session")
def policy(settings: GuardrailsSettings) -> Policy:
    return Policy(injection_threshold=settings.injection_threshold)
