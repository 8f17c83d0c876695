"""Cost in integer micro-dollars from usage and the catalogue: unary, streamed,
and a stream cut short before the provider sent its usage."""

from __future__ import annotations

import pytest

from services.common.errors import Unavailable
from services.llm.catalogue import DEFAULT_CATALOGUE_PATH, load_catalogue
from services.llm.cost import cost_micros, estimate_text_tokens
from services.llm.providers.base import ChatMessage, ChatRequest, Usage
from services.llm.router import Outcome, Piece
from services.llm.tokens import offline_encoding
from tests.llm.conftest import RouterFactory
from tests.llm.fake_upstream import Behaviour, FakeUpstream, prompt_tokens

CATALOGUE = load_catalogue(DEFAULT_CATALOGUE_PATH)
REQUEST = ChatRequest(messages=(ChatMessage("user", "Say hello to the world"),), max_tokens=0)


def test_cost_is_exact_integer_micro_dollars() -> None:
    gpt4o = CATALOGUE.models["gpt-4o"]  # $2.50 / $10.00 per million tokens
    assert cost_micros(gpt4o, Usage(1_000_000, 0)) == 2_500_000
    assert cost_micros(gpt4o, Usage(1000, 500)) == 2_500 + 5_000
    assert cost_micros(gpt4o, Usage(0, 0)) == 0
    mini = CATALOGUE.models["gpt-4o-mini"]  # $0.15 / $0.60
    # 10 input tokens cost 1.5 micro-dollars, 1 output 0.6: summed exactly, then rounded half up.
    assert cost_micros(mini, Usage(10, 1)) == 2
    assert cost_micros(mini, Usage(3, 0)) == 0  # 0.45
    assert cost_micros(mini, Usage(4, 0)) == 1  # 0.6
    sonnet = CATALOGUE.models["claude-3-5-sonnet"]  # $3 / $15
    assert cost_micros(sonnet, Usage(12_345, 678)) == 37_035 + 10_170
    assert cost_micros(CATALOGUE.models["smollm2-135m"], Usage(10**6, 10**6)) == 0


def test_catalogue_prices_are_the_public_list_prices() -> None:
    prices = {
        name: (m.input_micros_per_million_tokens, m.output_micros_per_million_tokens)
        for name, m in CATALOGUE.models.items()
    }
    assert prices["gpt-4o"] == (2_500_000, 10_000_000)
    assert prices["gpt-4o-mini"] == (150_000, 600_000)
    assert prices["claude-3-5-sonnet"] == (3_000_000, 15_000_000)
    assert prices["claude-3-5-haiku"] == (800_000, 4_000_000)
    assert CATALOGUE.default_model == "smollm2-135m"
    for name in ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "claude-3-5-haiku"):
        assert CATALOGUE.chain(name)[-1].name == "smollm2-135m"  # paid chains end locally


async def test_unary_cost_from_reported_usage(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    router = make_router()
    spec = router.catalogue.models["gpt-4o"]
    generation = await router.generate(spec, REQUEST, deadline=None)
    usage = Usage(prompt_tokens(upstream.requests[0].body), 4)
    assert generation.outcome.usage == usage and generation.outcome.usage_reported
    assert generation.outcome.cost_micros == cost_micros(spec, usage)


async def test_unary_without_usage_is_counted_with_the_tokenizer(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.then(Behaviour.ok(send_usage=False))
    router = make_router()
    spec = router.catalogue.models["gpt-4o"]
    generation = await router.generate(spec, REQUEST, deadline=None)
    encoding = offline_encoding("o200k_base")
    assert encoding is not None
    assert not generation.outcome.usage_reported
    assert generation.outcome.usage.output_tokens == len(encoding.encode("Hello, world!"))


async def test_streamed_cost_from_the_final_usage_chunk(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    router = make_router()
    spec = router.catalogue.models["gpt-4o"]
    pieces = [p async for p in router.stream(spec, REQUEST, deadline=None)]
    outcome = pieces[-1]
    assert isinstance(outcome, Outcome) and outcome.usage_reported
    assert upstream.requests[0].body["stream_options"] == {"include_usage": True}
    usage = Usage(prompt_tokens(upstream.requests[0].body), 4)
    assert outcome.usage == usage and outcome.cost_micros == cost_micros(spec, usage) > 0


@pytest.mark.parametrize(("model", "exact_output"), [("gpt-4o", True), ("claude-3-5-haiku", False)])
async def test_stream_cut_short_costs_what_was_produced(
    upstream: FakeUpstream, make_router: RouterFactory, model: str, exact_output: bool
) -> None:
    """OpenAI sends usage only at the end; a stream cut short is counted here:
    input with the model's tokenizer, output as the tokens of the text received
    (tiktoken for OpenAI models; about four characters a token otherwise, and
    never fewer than the pieces received). Anthropic reported input at start."""
    pieces_sent = ("Hello there", ", dear", " world", "!")
    upstream.then(Behaviour("drop", pieces=pieces_sent, drop_after=3))
    router = make_router()
    spec = router.catalogue.models[model]
    got: list[Piece | Outcome] = []
    with pytest.raises(Unavailable):
        async for piece in router.stream(spec, REQUEST, deadline=None):
            got.append(piece)
    outcome = got[-1]
    assert isinstance(outcome, Outcome) and not outcome.complete and not outcome.usage_reported
    text = "Hello there, dear world"
    if exact_output:
        encoding = offline_encoding("o200k_base")
        assert encoding is not None
        expected_output = len(encoding.encode(text))
        # Input: 3 per message + role + content + 3 priming (OpenAI's counting).
        expected_input = (
            3 + 3 + len(encoding.encode("user")) + len(encoding.encode(REQUEST.messages[0].content))
        )
    else:
        expected_output = max(estimate_text_tokens(text), 3)
        expected_input = prompt_tokens(upstream.requests[0].body)  # from message_start
    assert outcome.usage == Usage(expected_input, expected_output)
    assert outcome.cost_micros == cost_micros(spec, outcome.usage) > 0
