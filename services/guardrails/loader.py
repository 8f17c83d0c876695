"""Builds the Guard from the shipped model files."""

from __future__ import annotations

import logging

from services.guardrails.detectors.injection import MODEL_PATH, InjectionDetector, TfidfModel
from services.guardrails.detectors.ner import load_ner
from services.guardrails.guard import Guard, NerDetect
from services.guardrails.settings import GuardrailsSettings

log = logging.getLogger(__name__)


def load_guard(settings: GuardrailsSettings) -> Guard:
    if not MODEL_PATH.exists():
        raise RuntimeError(f"{MODEL_PATH} missing: run `make train-guardrails`")
    injection = InjectionDetector(TfidfModel.load(MODEL_PATH))
    ner: NerDetect | None = None
    if settings.ner_enabled:
        ner = load_ner()
    return Guard(injection, ner, document_threshold_factor=settings.document_threshold_factor)
