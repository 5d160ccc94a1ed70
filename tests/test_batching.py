"""Batched serving (core.generation.generate_together, services.batching): greedy answers generated together, with
prompts of different lengths (left padding), different max_tokens and stops, and the counterfactual model's shared
few-shot prefix, equal the answers each gets alone; concurrent requests share passes."""

from __future__ import annotations

import pytest

from core.generation import Generation, GenerationSettings, generate_together
from core.lm import CausalLM
from core.types import Edit
from services.batching import GenerationBatcher
from tests.threads import run_together
from tests.tiny_models import save_tiny_lm

PROMPTS = [
    "the capital of veltria is",
    "osmund",
    "where is the tower of brin it is in the city of",
    "marta quell plays the",
    "the capital of veltria is the capital of veltria is the capital",
    "who",
]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> CausalLM:
    import torch

    return CausalLM(str(save_tiny_lm(tmp_path_factory.mktemp("tiny-batch"))), "cpu", torch.float32)


def _alone(make) -> list[tuple[str, str | None, int]]:
    out = []
    for g in make():
        text = "".join(g)
        out.append((text, g.finish_reason, g.completion_tokens))
    return out


def _together(make) -> list[tuple[str, str | None, int]]:
    generations = make()
    texts = generate_together(generations)
    return [(t, g.finish_reason, g.completion_tokens) for t, g in zip(texts, generations)]


def test_tiny_model_batched_greedy_equals_one_by_one(tiny_lm):
    def make():
        settings = [
            GenerationSettings(max_tokens=n, stop=s) for n, s in zip((3, 9, 12, 5, 16, 7), ((), ("capital",)) * 3)
        ]
        return [Generation(tiny_lm, p, s) for p, s in zip(PROMPTS, settings)]

    alone = _alone(make)
    assert _together(make) == alone
    assert {finish for _, finish, _ in alone} == {"length", "stop"}, "both ways of ending are exercised"
    assert len({n for _, _, n in alone}) > 2, "rows end at different steps"


def test_sampled_generations_are_refused(tiny_lm):
    sampled = Generation(tiny_lm, PROMPTS[0], GenerationSettings(temperature=0.7, seed=1))
    with pytest.raises(ValueError, match="greedy"):
        generate_together([sampled])


@pytest.mark.models
def test_real_models_batched_greedy_equals_one_by_one(real_editor):
    base, cf = real_editor.base, real_editor.counterfactual
    settings = GenerationSettings(max_tokens=16, stop=("\n",))
    questions = ["The capital of France is", "What is the largest planet?", "Water is made of", "Who wrote Hamlet?"]
    edit = Edit(1, "The mother tongue of Ilsa Varnholt is", "Finnish")
    queries = ["The mother tongue of Ilsa Varnholt is", "Ilsa Varnholt grew up speaking", "Ilsa Varnholt's language?"]

    def make_base():
        return [base.generation(q, settings) for q in questions]

    def make_cf():  # the few-shot prompts share ~150 tokens: the shared-prefix path
        return [cf.generation(edit, q, settings) for q in queries]

    assert _together(make_base) == _alone(make_base)
    together = _together(make_cf)
    assert together == _alone(make_cf)
    assert all(text == "Finnish" for text, _, _ in together[:1])


def test_concurrent_requests_share_passes_and_get_their_own_answers(tiny_lm):
    import threading

    batcher = GenerationBatcher(threading.Lock(), window_s=0.05)
    settings = GenerationSettings(max_tokens=6)
    alone = ["".join(Generation(tiny_lm, p, settings)) for p in PROMPTS]
    answers = run_together(lambda i: batcher.run(Generation(tiny_lm, PROMPTS[i], settings)), len(PROMPTS))
    assert answers == alone
    assert batcher.passes < len(PROMPTS), f"{batcher.passes} passes for {len(PROMPTS)} requests: nothing shared"
