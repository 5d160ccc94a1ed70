"""train-counterfactual for a few steps on a tiny slice, on a tiny real Llama (SmolLM2's tokenizer,
random weights): the loss falls, the adapter round-trips (same outputs once loaded the app's way),
a re-run resumes, and a full fine-tune (rank 0) works too."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from core.adapters import load_counterfactual_lm
from core.base_model import LMBaseModel
from core.checkpoints import read_meta
from core.lm import load_lm
from core.packaged import SMOLLM2, resolve_model_path
from core.training.counterfactual_data import IGNORE, collate, examples
from core.training.loop import batch_indices
from core.training.records import load_split
from core.training.settings import TrainSettings
from core.training.train_counterfactual import PROBE_EXAMPLES, train_counterfactual
from tests.conftest import DATA, MODEL_CACHE


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    """A 2-layer Llama with SmolLM2's tokenizer, saved as a model folder."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(SMOLLM2, MODEL_CACHE))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _settings(out, **changes) -> TrainSettings:
    base = dict(
        data=(str(DATA / "counterfact" / "train.json"),),
        out=out,
        limit=20,
        eval_records=3,
        max_steps=8,
        batch_size=8,
        lr=1e-2,
        warmup_steps=1,
        save_every=4,
        seed=2,
        lora_r=4,
        lora_alpha=8,
    )
    return TrainSettings(**{**base, **changes})


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_lm):
    settings = _settings(tmp_path_factory.mktemp("cf") / "ckpt")
    return settings, train_counterfactual(settings, tiny_lm, max_new_tokens=4, measure_before=False)


def test_loss_falls_and_the_checkpoint_says_how_to_serve_it(trained):
    _, meta = trained
    assert meta["kind"] == "counterfactual" and meta["complete"] and meta["adapter"] and meta["step"] == 8
    assert meta["prompt_format"] == "zeroshot"
    assert meta["metrics"]["probe_loss_after"] < meta["metrics"]["probe_loss_before"]
    assert set(meta["metrics"]["heldout_after"]) >= {"reliability", "generalization", "misrouted_keeps_base"}


def test_adapter_round_trips_with_the_same_outputs(trained, tiny_lm):
    settings, meta = trained
    lm, fmt = load_counterfactual_lm(str(settings.out), tiny_lm, "cpu", torch.float32)
    train, _ = load_split(settings)
    data = examples(train, 0.0, settings.seed)
    probe = collate(lm.tokenizer, [data[i] for i in batch_indices(len(data), PROBE_EXAMPLES, 0, settings.seed)], "cpu")
    with torch.no_grad():
        loss = float(lm.model(**probe).loss)
    assert fmt == "zeroshot"
    assert loss == pytest.approx(meta["metrics"]["probe_loss_after"], abs=1e-3)


def test_base_weights_are_untouched_by_serving_the_adapter(trained, tiny_lm):
    settings, _ = trained
    base = load_lm(tiny_lm, "cpu", torch.float32)
    before = [p.clone() for p in base.model.parameters()]
    load_counterfactual_lm(str(settings.out), tiny_lm, "cpu", torch.float32)
    assert all(torch.equal(a, b) for a, b in zip(before, base.model.parameters()))


def test_rerun_resumes_from_the_checkpoint(trained, tiny_lm):
    settings, _ = trained
    resumed = train_counterfactual(_settings(settings.out, max_steps=10), tiny_lm, 4, measure_before=False)
    assert resumed["step"] == 10 and resumed["complete"]


def test_full_fine_tune_with_rank_zero(tmp_path, tiny_lm):
    meta = train_counterfactual(_settings(tmp_path / "full", lora_r=0, max_steps=4), tiny_lm, 4, measure_before=False)
    assert not meta["adapter"] and meta["metrics"]["probe_loss_after"] < meta["metrics"]["probe_loss_before"]
    assert read_meta(tmp_path / "full")["complete"]


def test_examples_put_the_loss_on_the_answer_only(tiny_lm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    train, _ = load_split(_settings("unused", limit=6))
    data = examples(train, 0.0, 0)
    assert all(ex.in_scope and ex.answer.endswith("\n") for ex in data)
    batch = collate(tokenizer, data[:2], "cpu")
    answer_ids = tokenizer(data[0].answer, add_special_tokens=False).input_ids
    labelled = batch["labels"][0][batch["labels"][0] != IGNORE].tolist()
    assert labelled == answer_ids
    base = LMBaseModel(load_lm(tiny_lm, "cpu", torch.float32), 3, 8)
    with_negatives = examples(train, 0.25, 0, base.answer)
    negatives = [ex for ex in with_negatives if not ex.in_scope]
    assert 0 < len(negatives) <= len(data)
    prompts = [ex.prompt.rsplit("Query: ", 1)[1].split("\n", 1)[0] for ex in negatives]
    assert [ex.answer for ex in negatives] == [f" {a.strip()}\n" for a in base.answer(prompts)]
    assert all(any(q in c.unrelated for c in train) for q in prompts)  # near misses of the same records
    with pytest.raises(ValueError, match="base model"):
        examples(train, 0.25, 0)
