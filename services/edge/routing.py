"""Model routing for requests that name no model.

Among the available models the tier allows and whose context window fits the
prompt: a simple task, or a tight latency budget, goes to the cheapest model
(cheap models are the small, fast ones); a complex task (a long prompt) with
time to spare goes to the most capable one, priced highest. Ties go to the
catalogue's default model, then by name, so the choice is stable.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.edge.catalogue import Catalogue, ModelInfo
from services.edge.tiers import Tier

# Room a routed model must leave for its answer beyond the prompt.
MIN_ANSWER_TOKENS = 64


@dataclass(frozen=True)
class Route:
    model: ModelInfo
    # Why: "simple", "complex", "deadline", "only-choice".
    reason: str


def select_model(
    catalogue: Catalogue,
    tier: Tier,
    prompt_tokens: int,
    time_budget_seconds: float | None,
    *,
    fast_deadline_seconds: float,
    complex_prompt_tokens: int,
) -> Route | None:
    allowed = [m for m in catalogue.models.values() if tier.allows(m.name, m.provider)]
    fitting = [m for m in allowed if m.context_window >= prompt_tokens + MIN_ANSWER_TOKENS]
    candidates = [m for m in fitting if m.available] or fitting or allowed
    if not candidates:
        return None
    if len(candidates) == 1:
        return Route(candidates[0], "only-choice")

    def price(m: ModelInfo) -> int:
        return m.input_micros_per_million + m.output_micros_per_million

    def tiebreak(m: ModelInfo) -> tuple[int, str]:
        return (0 if m.name == catalogue.default_model else 1, m.name)

    in_a_hurry = time_budget_seconds is not None and time_budget_seconds < fast_deadline_seconds
    if in_a_hurry or prompt_tokens < complex_prompt_tokens:
        best = min(candidates, key=lambda m: (price(m), *tiebreak(m)))
        return Route(best, "deadline" if in_a_hurry else "simple")
    best = min(candidates, key=lambda m: (-price(m), *tiebreak(m)))
    return Route(best, "complex")
