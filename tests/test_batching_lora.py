"""The counterfactual LoRA adapter served unmerged over the shared base weights (core.adapters.AdaptedLM,
core.decode.LoraDeltas, core.lm.decode_rows): it holds no copy of the base weights and leaves the base model's
answers as they were; its greedy answers equal the merged copy's on a fixed probe set; base and counterfactual rows
of unequal lengths decoded in one batch (one step per token for both) get the answers, deltas and sampled texts
each gets alone; concurrent requests routed both ways share passes through the batcher, streams included. Tiny
real models by default; the shipped adapter over SmolLM2 under the `models` marker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.adapters import AdaptedLM, load_counterfactual_lm, merged_lm
from core.base_model import LMBaseModel
from core.config import SeracConfig
from core.counterfactual import PromptedCounterfactual, zeroshot_prompt
from core.generation import Generation, GenerationSettings, generate_together
from core.lm import CausalLM, load_lm
from core.memory import FaissEditMemory
from core.router import ScopeRouter
from core.scope import EmbeddingScopeClassifier
from core.serac import SeracEditor
from core.types import Edit, EditDraft
from db.repository import EditRepository
from services.services import Services
from services.serving import serve
from tests.conftest import DATA, MODEL_CACHE, HashingEmbedder
from tests.threads import run_together
from tests.tiny_lora import PROMPTS, save_tiny_adapter
from tests.tiny_models import save_tiny_lm


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> tuple[CausalLM, AdaptedLM, Path, Path]:
    folder = tmp_path_factory.mktemp("tiny-lora")
    base_dir = save_tiny_lm(folder / "base")
    adapter = save_tiny_adapter(base_dir, folder / "adapter")
    cf, fmt = load_counterfactual_lm(str(adapter), str(base_dir), "cpu", torch.float32)
    assert fmt == "zeroshot"
    return load_lm(str(base_dir), "cpu", torch.float32), cf, base_dir, adapter


def test_the_adapter_is_served_unmerged_over_the_base_weights_and_leaves_the_base_answers(family):
    base, cf, base_dir, _ = family
    assert isinstance(cf, AdaptedLM) and cf.family is base and cf.decoder() is base.decoder()
    base_weights = {p.data_ptr() for p in base.model.parameters()}
    own = [n for n, p in cf.model.named_parameters() if p.data_ptr() not in base_weights]
    assert own and all("lora_" in n for n in own), f"weights held twice: {[n for n in own if 'lora_' not in n]}"
    assert not any("lora" in name for name, _ in base.model.named_modules()), "the base tree got LoRA layers"
    fresh = CausalLM(str(base_dir), "cpu", torch.float32)
    assert base.generate(PROMPTS, 8, 4) == fresh.generate(PROMPTS, 8, 4)
    assert cf.generate(PROMPTS, 8, 4) != base.generate(PROMPTS, 8, 4), "the adapter changes answers"


def test_unmerged_answers_equal_the_merged_copy_on_a_fixed_probe_set(family):
    _, cf, base_dir, adapter = family
    merged = merged_lm(str(adapter), str(base_dir), "cpu", torch.float32)
    prompts = PROMPTS + [p + " is the" for p in PROMPTS]
    assert cf.generate(prompts, 10, 4) == merged.generate(prompts, 10, 4)


def test_an_adapter_that_is_not_plain_lora_is_merged_into_a_private_copy(family, tmp_path):
    base, _, base_dir, _ = family
    dora = save_tiny_adapter(base_dir, tmp_path / "dora", dora=True)
    lm, _ = load_counterfactual_lm(str(dora), str(base_dir), "cpu", torch.float32)
    assert not isinstance(lm, AdaptedLM) and lm.family is lm
    assert {p.data_ptr() for p in lm.model.parameters()}.isdisjoint(p.data_ptr() for p in base.model.parameters())
    assert lm.generate(PROMPTS, 6, 4) != base.generate(PROMPTS, 6, 4)


def _mixed(base: CausalLM, cf: CausalLM, settings: list[GenerationSettings]) -> list[Generation]:
    """Base and counterfactual rows in turn, prompts of unequal lengths, the counterfactual ones one-line answers."""
    return [
        Generation(base, p, s) if i % 2 == 0 else Generation(cf, p, s, one_line=True)
        for i, (p, s) in enumerate(zip(PROMPTS, settings))
    ]


def _alone(generations: list[Generation]) -> list[tuple[str, str | None, int]]:
    return [("".join(g), g.finish_reason, g.completion_tokens) for g in generations]


def test_base_and_adapter_rows_decoded_together_equal_one_by_one_in_one_step_per_token(family):
    base, cf, _, _ = family
    settings = [GenerationSettings(max_tokens=n, stop=s) for n, s in zip((3, 9, 12, 5, 16, 7), ((), ("capital",)) * 3)]
    alone = _alone(_mixed(base, cf, settings))
    generations = _mixed(base, cf, settings)
    steps = base.decoder().steps
    texts = generate_together(generations)
    together = [(t, g.finish_reason, g.completion_tokens) for t, g in zip(texts, generations)]
    assert together == alone
    longest = max(n for _, _, n in alone)
    assert base.decoder().steps - steps == longest - 1, "base and adapter rows share each step"
    assert len({n for _, _, n in alone}) > 2, "rows end at different steps"


def test_mixed_sampled_rows_and_streams_keep_their_own_texts_and_deltas(family):
    base, cf, _, _ = family
    settings = [GenerationSettings(max_tokens=9, temperature=t, seed=5 + i) for i, t in enumerate((0.8, 1.2, 0, 1.5))]
    settings += [
        GenerationSettings(max_tokens=9, stop=("capital",)),
        GenerationSettings(max_tokens=9, temperature=1.0, seed=2),
    ]
    alone = [list(g) for g in _mixed(base, cf, settings)]
    seen: list[list[str]] = [[] for _ in PROMPTS]
    texts = generate_together(_mixed(base, cf, settings), lambda i, delta: seen[i].append(delta))
    assert ["".join(d) for d in seen] == texts == ["".join(d) for d in alone]
    assert [len(d) for d in seen] == [len(d) for d in alone], "the same deltas, as they came"


def _services(tmp_path: Path, family) -> Services:
    base, cf, _, _ = family
    embedder = HashingEmbedder()
    memory = FaissEditMemory(embedder.dim)
    router = ScopeRouter(embedder, memory, EmbeddingScopeClassifier(12.25, 0.669), top_k=5)
    editor = SeracEditor(
        embedder, memory, router, LMBaseModel(base, 4, 8), PromptedCounterfactual(cf, 4, 8, "zeroshot"), 0.5
    )
    url = f"sqlite:///{tmp_path / 'lora.sqlite'}"
    return Services(SeracConfig(db_url=url, device="cpu"), EditRepository(url), editor)


def test_concurrent_requests_routed_both_ways_share_passes_streams_included(family, tmp_path):
    services = _services(tmp_path, family)
    services.add_edits([EditDraft("the capital of veltria is", "osmund")], "alice", "add")
    services.batcher.window_s = 0.2
    asked = [(p, i % 2 == 1) for i, p in enumerate([*PROMPTS, "the capital of veltria is"])]  # (prompt, stream)
    settings = GenerationSettings(max_tokens=7)

    def answer(i: int):
        prompt, streamed = asked[i]
        served = serve(services, prompt, settings, whole=not streamed)
        deltas = list(served.stream())
        return served.decision.route, "".join(deltas), served.batch, len(deltas)

    alone = [answer(i)[:2] for i in range(len(asked))]
    assert {"counterfactual", "base"} == {route for route, _ in alone}
    before = services.batcher.passes
    together = run_together(answer, len(asked))
    assert [t[:2] for t in together] == alone
    assert services.batcher.passes - before == 1 and {t[2] for t in together} == {len(asked)}
    assert any(t[3] > 1 for t, (_, streamed) in zip(together, asked) if streamed), "streams come in several deltas"


@pytest.mark.models
@pytest.mark.slow  # the real adapter (about 17 s); the same equalities run by default on the tiny adapter above
def test_shipped_adapter_unmerged_equals_merged_and_mixed_batches_equal_one_by_one():
    """CounterFact val's first 12 records (edit prompt, paraphrase, unrelated prompt each) through the shipped
    adapter: the unmerged answers equal the merged copy's; base and counterfactual rows decoded together equal
    their answers alone."""
    from core.packaged import resolve_model_path

    path = resolve_model_path("smollm2-135m-instruct", MODEL_CACHE)
    adapter = str(Path(__file__).resolve().parent.parent / "models" / "counterfactual")
    cf, _ = load_counterfactual_lm(adapter, path, "cpu", torch.float32)
    records = json.loads((DATA / "counterfact" / "val.json").read_text())[:12]
    pairs = [(Edit(1, r["prompt"], r["target_new"]), q) for r in records for q in (r["prompt"], r["rephrase_prompt"])]
    pairs += [(Edit(1, r["prompt"], r["target_new"]), r["locality_prompt"]) for r in records]
    prompts = [zeroshot_prompt(e, q) for e, q in pairs]
    unmerged = cf.generate(prompts, 12, 16)
    assert unmerged == merged_lm(adapter, path, "cpu", torch.float32).generate(prompts, 12, 16)
    assert sum(a.strip().startswith(e.target) for a, (e, _) in zip(unmerged, pairs)) >= len(pairs) // 2
    base = load_lm(path, "cpu", torch.float32)
    settings = [GenerationSettings(max_tokens=n) for n in (12, 6, 16, 9, 12, 5)]
    queries = ["The capital of France is", "Water is made of", "What is the largest planet?"]

    def make() -> list[Generation]:
        rows = [Generation(base, q, s) for q, s in zip(queries, settings)]
        return rows + [Generation(cf, p, s, one_line=True) for p, s in zip(prompts[::7], settings[3:])]

    generations = make()
    assert [(t, g.completion_tokens) for t, g in zip(generate_together(generations), generations)] == [
        ("".join(g), g.completion_tokens) for g in make()
    ]


def test_requests_that_arrive_while_a_pass_decodes_join_it_and_return_before_it_ends(family, tmp_path):
    """A long stream is decoding; whole requests (routed both ways) sent meanwhile join its pass between tokens,
    get their answers alone, and return while the long row is still going."""
    services = _services(tmp_path, family)
    services.add_edits([EditDraft("the capital of veltria is", "osmund")], "alice", "add")
    services.batcher.window_s, services.batcher.gather_s = 0.0, 0.0
    long, short = GenerationSettings(max_tokens=480), GenerationSettings(max_tokens=5)
    asked = ["the capital of veltria is", "who", "marta quell plays the", "where is the tower of brin"]
    alone = [serve(services, p, short, whole=True).text() for p in asked]
    long_alone = serve(services, "osmund", long, whole=True).text()
    before = services.batcher.passes
    stream = serve(services, "osmund", long)
    deltas = stream.stream()
    first = next(deltas)  # the long row is decoding now
    together = run_together(lambda i: serve(services, asked[i], short, whole=True), len(asked))
    made = stream.generation.completion_tokens
    assert [t.text() for t in together] == alone
    assert made < 480, "the joiners returned while the long row was still decoding"
    assert first + "".join(deltas) == long_alone
    assert services.batcher.passes - before == 1, "the joiners were answered in the running pass"
    assert max(t.batch for t in together) >= 3, "joiners decoded beside the long row and each other"
