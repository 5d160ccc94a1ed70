"""Batched serving (core.generation.generate_together, services.batching): answers decoded together, with
prompts of different lengths (left padding), different max_tokens and stops, and the counterfactual model's shared
few-shot prefix, equal the answers each gets alone (greedy exactly; sampled rows with their own seeds; streams with
their deltas as they come); concurrent requests (completions and a chat, routed and not, whole and streamed) share
passes and get their own routing, answer and errors; a pass gathers the company the previous pass had."""

from __future__ import annotations

import time

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


def test_sampled_rows_decoded_together_keep_their_own_seeded_samples(tiny_lm):
    def make():
        temperatures = (0.7, 1.3, 0.0, 1.0, 0.9, 1.6)
        settings = [GenerationSettings(max_tokens=10, temperature=t, seed=7 + i) for i, t in enumerate(temperatures)]
        settings[4] = GenerationSettings(max_tokens=10, temperature=0.9, seed=7, top_p=0.8)
        return [Generation(tiny_lm, p, s) for p, s in zip(PROMPTS, settings)]

    alone = _alone(make)
    assert _together(make) == alone
    reseeded = [
        Generation(tiny_lm, PROMPTS[1], GenerationSettings(max_tokens=10, temperature=1.3, seed=s)) for s in (1, 2, 3)
    ]
    assert len({"".join(g) for g in reseeded}) > 1, "the seed decides the sample: the rows above are not greedy"


def test_streams_decoded_together_get_their_own_deltas_as_they_come(tiny_lm):
    def make():
        return [Generation(tiny_lm, p, GenerationSettings(max_tokens=8, stop=("capital",))) for p in PROMPTS]

    alone = [list(g) for g in make()]
    seen: list[list[str]] = [[] for _ in PROMPTS]
    texts = generate_together(make(), lambda i, delta: seen[i].append(delta))
    assert ["".join(d) for d in seen] == texts == ["".join(d) for d in alone]
    assert sum(len(d) > 1 for d in seen) >= 3, "most rows came in several deltas, not one at the end"


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
    before = services.batcher.passes  # each alone request above had a pass of its own
    together = run_together(lambda i: whole(serve(services, prompts[i], settings, whole=True)), len(prompts))
    assert together == alone
    passes = services.batcher.passes - before
    assert passes < len(prompts), f"{passes} passes: nothing shared"
    too_long = GenerationSettings(max_tokens=2048)
    with pytest.raises(InvalidParameter, match="context"):  # its own error, raised to it alone
        serve(services, PROMPTS[0], too_long, whole=True)


def test_a_pass_gathers_the_company_the_previous_pass_had_and_a_lone_client_stops_waiting(tmp_path):
    """Clients that come back one by one after a pass of four are answered in one pass of four again (the pass
    waits for them, bounded by gather_s); once the load is one client, passes stop expecting company."""
    url = f"sqlite:///{tmp_path / 'gather.sqlite'}"
    services = Services(SeracConfig(db_url=url, device="cpu"), EditRepository(url), tiny_editor(tmp_path / "lm"))
    batcher, settings = services.batcher, GenerationSettings(max_tokens=4)
    batcher.window_s, batcher.gather_s = 0.05, 5.0
    first = run_together(lambda i: serve(services, PROMPTS[i], settings, whole=True).batch, 4)
    assert first == [4, 4, 4, 4] and batcher.expected == 4

    def staggered(i: int) -> int:
        time.sleep(0.2 * i)  # each arrives long after the window: only gathering puts them in one pass
        return serve(services, PROMPTS[i], settings, whole=True).batch

    assert run_together(staggered, 4) == [4, 4, 4, 4]
    batcher.gather_s = 0.3
    lone = [serve(services, PROMPTS[0], settings, whole=True).batch for _ in range(2)]
    assert lone == [1, 1] and batcher.expected == 1  # the first lone pass waited once (0.3 s); the next expects 1
    batcher.gather_s = 3.0
    started = time.perf_counter()
    serve(services, PROMPTS[0], settings, whole=True)
    assert time.perf_counter() - started < 3.0, "a lone client does not wait for company"
    assert batcher.sizes[4] == 2 and batcher.sizes[1] == 3


def test_concurrent_streams_and_sampled_requests_share_one_pass_and_each_gets_its_own_answer(tmp_path):
    url = f"sqlite:///{tmp_path / 'streams.sqlite'}"
    services = Services(SeracConfig(db_url=url, device="cpu"), EditRepository(url), tiny_editor(tmp_path / "lm"))
    services.add_edits([EditDraft("the capital of veltria is", "osmund")], "alice", "add")
    services.batcher.window_s = 0.2
    settings = [
        GenerationSettings(max_tokens=8),
        GenerationSettings(max_tokens=8, temperature=1.2, seed=3),
        GenerationSettings(max_tokens=5, stop=("capital",)),
        GenerationSettings(max_tokens=8, temperature=0.8, seed=11),
    ]
    asked = [(PROMPTS[i], settings[i % 4], i % 3 != 0) for i in range(len(PROMPTS))]  # (prompt, settings, stream)

    def answer(i: int):
        prompt, s, streamed = asked[i]
        served = serve(services, prompt, s, whole=not streamed)
        deltas = list(served.stream())
        return served.decision.route, "".join(deltas), len(deltas), served.generation.finish_reason, served.batch

    alone = [answer(i)[:2] for i in range(len(asked))]
    assert "counterfactual" in {a[0] for a in alone} and "base" in {a[0] for a in alone}
    before = services.batcher.passes
    together = run_together(answer, len(asked))
    assert [t[:2] for t in together] == alone
    assert services.batcher.passes - before == 1 and {t[4] for t in together} == {len(asked)}
    assert any(t[2] > 1 for t, a in zip(together, asked) if a[2]), "a stream sends its text in several deltas"
