"""Cost of a call in integer micro-dollars, from usage and the catalogue's prices.

Prices are micro-dollars per million tokens, so the exact cost is
(input * input_price + output * output_price) / 1e6 micro-dollars; it is
summed exactly in integers and rounded once, half up, to whole micro-dollars.
"""

from __future__ import annotations

import math

from services.llm.catalogue import ModelSpec
from services.llm.providers.base import Usage

# When a provider reports no usage (a stream cut short, a server that never
# sends it) and no tokenizer of the model is at hand: about four characters
# per token of English text, OpenAI's rule of thumb.
CHARS_PER_TOKEN = 4
# Chat framing per message in the estimate (role and separators).
ESTIMATE_TOKENS_PER_MESSAGE = 4


def cost_micros(spec: ModelSpec, usage: Usage) -> int:
    total = (
        usage.input_tokens * spec.input_micros_per_million_tokens
        + usage.output_tokens * spec.output_micros_per_million_tokens
    )
    return (total + 500_000) // 1_000_000


def estimate_text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0
