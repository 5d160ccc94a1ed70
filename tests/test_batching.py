"""Batched serving (core.generation.generate_together, services.batching): greedy answers generated together, with
prompts of different lengths (left padding), different max_tokens and stops, and the counterfactual model's shared
few-shot prefix, equal the answers each gets alone; concurrent requests (completions and a chat, routed and not)
share passes and get their own routing, answer and errors."""

from __future__ import annotations

import pytest

from core.config import SeracConfig
from core.generation import ChatMessage, Generation, GenerationSettings, InvalidParameter, generate_together
from core.lm import CausalLM
from core.types import Edit, EditDraft
from db.repository import EditRepository
from services.services import Services
from services.serving import serve
from tests.threads import run_together
from tests.tiny_models import save_tiny_lm, tiny_editor

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
@pytest.mark.slow  # the tiny-model cases above run by default
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


def test_concurrent_requests_share_passes_and_get_their_own_answers_and_routing(tmp_path):
    url = f"sqlite:///{tmp_path / 'batch.sqlite'}"
    services = Services(SeracConfig(db_url=url, device="cpu"), EditRepository(url), tiny_editor(tmp_path / "lm"))
    services.add_edits([EditDraft("the capital of veltria is", "osmund")], "alice", "add")
    services.batcher.window_s = 0.05
    asked = [*PROMPTS, "the capital of veltria is", ("system", "be brief", "where is the tower of brin")]
    prompts = [p if isinstance(p, str) else (ChatMessage(p[0], p[1]), ChatMessage("user", p[2])) for p in asked]
    settings = GenerationSettings(max_tokens=6)

    def whole(served):
        return served.decision.route, served.decision.chosen and served.decision.chosen.edit.id, served.text()

    alone = [whole(serve(services, p, settings)) for p in prompts]
    assert "counterfactual" in {a[0] for a in alone} and "base" in {a[0] for a in alone}
    together = run_together(lambda i: whole(serve(services, prompts[i], settings, whole=True)), len(prompts))
    assert together == alone
    assert services.batcher.passes < len(prompts), f"{services.batcher.passes} passes: nothing shared"
    too_long = GenerationSettings(max_tokens=2048)
    with pytest.raises(InvalidParameter, match="context"):  # its own error, raised to it alone
        serve(services, PROMPTS[0], too_long, whole=True)
