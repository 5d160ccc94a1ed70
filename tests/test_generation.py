"""core.generation on a tiny real LM (tests/tiny_models.py): stop strings cut the answer and never leak in a stream,
max_tokens ends with "length", greedy equals `answer`, seeded sampling repeats, bad settings name their field."""

from __future__ import annotations

import pytest

from core.base_model import LMBaseModel
from core.generation import (
    ChatMessage,
    Generation,
    GenerationSettings,
    InvalidParameter,
    first_stop,
    held_back,
    routed_text,
)
from core.lm import CausalLM
from tests.tiny_models import save_tiny_lm

PROMPT = "the capital of veltria is"


@pytest.fixture(scope="module")
def lm(tmp_path_factory) -> CausalLM:
    import torch

    return CausalLM(str(save_tiny_lm(tmp_path_factory.mktemp("tiny-gen"))), "cpu", torch.float32)


def _run(lm, settings: GenerationSettings, prompt: str = PROMPT) -> tuple[list[str], Generation]:
    generation = Generation(lm, prompt, settings)
    return list(generation), generation


def test_max_tokens_ends_with_length_and_counts_tokens(lm):
    deltas, g = _run(lm, GenerationSettings(max_tokens=7))
    assert g.finish_reason == "length" and g.completion_tokens == 7
    assert g.prompt_tokens == len(lm.tokenizer(PROMPT).input_ids)
    assert len("".join(deltas).split()) == 7  # the tiny tokenizer's tokens are words


def test_greedy_generation_is_the_answer_models_first_line(lm):
    base = LMBaseModel(lm, max_new_tokens=5, batch_size=4)
    deltas, _ = _run(lm, GenerationSettings(max_tokens=5, stop=("\n",)))
    assert "".join(deltas).strip() == base.answer([PROMPT])[0]


def test_a_stop_string_cuts_the_answer_and_never_reaches_the_stream(lm):
    whole = "".join(_run(lm, GenerationSettings(max_tokens=12))[0])
    words = whole.split()
    stop = " ".join(words[3:5])  # two words in the middle: a stop that arrives over two tokens
    deltas, g = _run(lm, GenerationSettings(max_tokens=12, stop=("zzz-never", stop)))
    assert "".join(deltas) == whole[: whole.index(stop)]
    assert g.finish_reason == "stop" and g.completion_tokens == 5
    assert not any(stop in d for d in deltas)


def test_held_back_text_is_only_a_possible_stop_start():
    assert held_back("Paris and Ly", ("Lyon",)) == 2
    assert held_back("Paris and", ("Lyon",)) == 0
    assert held_back("abab", ("abc", "b\n")) == 2
    assert first_stop("one two three", (" tw", "three")) == 3 and first_stop("one", ("x",)) is None


def test_seeded_sampling_repeats_and_seeds_differ(lm):
    def sample(seed):
        return "".join(_run(lm, GenerationSettings(max_tokens=12, temperature=1.5, top_p=0.95, seed=seed))[0])

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)  # 12 draws from a near-uniform tiny model: equal only by a fluke of ~40^-12
    greedy = "".join(_run(lm, GenerationSettings(max_tokens=12))[0])
    assert "".join(_run(lm, GenerationSettings(max_tokens=12, temperature=0.0, seed=3))[0]) == greedy


def test_a_prompt_too_long_for_the_context_is_refused_before_generating(lm):
    with pytest.raises(InvalidParameter, match="context of 512 tokens") as err:
        Generation(lm, " ".join(["city"] * 600), GenerationSettings(max_tokens=4))
    assert err.value.param == "max_tokens"


@pytest.mark.parametrize(
    "changes,param",
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"seed": -1}, "seed"),
        ({"stop": ("a", "b", "c", "d", "e")}, "stop"),
        ({"stop": ("",)}, "stop"),
    ],
)
def test_bad_settings_name_their_field(changes, param):
    with pytest.raises(InvalidParameter) as err:
        GenerationSettings(**changes)
    assert err.value.param == param and param in str(err.value)


def test_a_chat_routes_its_last_user_message_and_the_base_model_reads_it_all(lm):
    chat = (
        ChatMessage("system", "answer in french"),
        ChatMessage("user", "the capital of veltria is"),
        ChatMessage("assistant", "osmund"),
        ChatMessage("user", "the mother tongue of danielle darrieux is"),
    )
    assert routed_text(chat) == "the mother tongue of danielle darrieux is"
    generation = LMBaseModel(lm, 4, 4).generation(chat, GenerationSettings(max_tokens=3))
    read = lm.tokenizer.decode(generation.prompt_ids)  # the tiny model has no chat template: plain turns
    assert [read.index(m.content) for m in chat] == sorted(read.index(m.content) for m in chat)
    with pytest.raises(InvalidParameter, match="role 'user'"):
        routed_text((ChatMessage("system", "be brief"),))
    with pytest.raises(InvalidParameter, match="role must be one of"):
        ChatMessage("tool", "{}")
