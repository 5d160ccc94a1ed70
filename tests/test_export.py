"""export-parts: training checkpoints -> the compact float16 parts and manifest that models/ ships.

Tiny real runs (MiniLM cross-encoder for a few steps; a 2-layer Llama with SmolLM2's tokenizer and a
LoRA adapter), exported, then loaded the way the app loads shipped parts: same scores and logits up
to float16 rounding, and the manifest vouches for exactly the files written.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from core.adapters import load_counterfactual_lm
from core.cross_encoder import CrossEncoderScopeClassifier
from core.packaged import MINILM, resolve_model_path
from core.shipped import read_manifest, verify_part
from core.training.export import export_parts
from core.training.settings import TrainSettings
from core.training.train_counterfactual import train_counterfactual
from core.training.train_scope import train_scope
from tests.conftest import DATA, MODEL_CACHE, HashingEmbedder
from tests.test_training_counterfactual import tiny_lm  # noqa: F401  (fixture)

pytestmark = pytest.mark.models
PAIRS = (
    ["The mother tongue of Danielle Darrieux is", "Toko Yasuda, the"],
    ["What language did Danielle Darrieux grow up speaking?", "Which instrument does Toko Yasuda play?"],
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_lm):  # noqa: F811
    root = tmp_path_factory.mktemp("export")
    data = (str(DATA / "counterfact" / "train.json"),)
    first = TrainSettings(
        data=data, out=root / "scope-ckpt0", limit=16, eval_records=4, max_steps=2, batch_size=8, warmup_steps=1, seed=3
    )
    train_scope(first, HashingEmbedder(), resolve_model_path(MINILM, MODEL_CACHE))
    scope = dataclasses.replace(first, out=root / "scope-ckpt", max_steps=3)  # a second run from the first's weights
    train_scope(scope, HashingEmbedder(), str(first.out))
    cf = TrainSettings(
        data=data,
        out=root / "cf-ckpt",
        limit=12,
        eval_records=2,
        max_steps=3,
        batch_size=4,
        lr=1e-2,
        warmup_steps=1,
        seed=3,
        lora_r=4,
        lora_alpha=8,
    )
    train_counterfactual(cf, tiny_lm, max_new_tokens=4, measure_before=False)
    manifest = export_parts(
        str(scope.out), str(cf.out), root / "models", MINILM, tiny_lm, {"dev": {"reliability": 1.0}}
    )
    return root, manifest


def test_the_manifest_vouches_for_exactly_the_files_written(exported):
    root, manifest = exported
    assert read_manifest(root / "models") == manifest and manifest["metrics"] == {"dev": {"reliability": 1.0}}
    assert set(manifest["parts"]["scope"]["files"]) == {"scope.safetensors", "serac.json"}
    assert set(manifest["parts"]["counterfactual"]["files"]) == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "serac.json",
    }
    for part in ("scope", "counterfactual"):
        assert verify_part(root / "models" / part)["version"] == manifest["version"]
    assert manifest["training"]["scope"]["step"] == 3 and manifest["training"]["scope"]["seed"] == 3


def test_the_manifest_follows_a_run_back_to_the_run_it_started_from(exported):
    root, manifest = exported
    scope = manifest["training"]["scope"]
    assert scope["init"] == str(root / "scope-ckpt0")
    assert scope["init_run"]["step"] == 2 and scope["init_run"]["settings"]["max_steps"] == 2
    # the shipped part itself does not name the training machine's folders
    assert "init" not in json.loads((root / "models" / "scope" / "serac.json").read_text())


def test_the_scope_part_scores_as_its_checkpoint(exported):
    root, _ = exported
    meta = json.loads((root / "models" / "scope" / "serac.json").read_text())
    assert meta["over"] == MINILM and meta["kind"] == "scope" and "threshold" in meta
    full = CrossEncoderScopeClassifier.load(str(root / "scope-ckpt"), "cpu")
    shipped = CrossEncoderScopeClassifier.load(
        str(root / "models" / "scope"), "cpu", init_path=resolve_model_path(MINILM, MODEL_CACHE)
    )
    assert shipped.score_pairs(*PAIRS) == pytest.approx(full.score_pairs(*PAIRS), abs=2e-3)
    # the shipped file holds no embeddings: they come from the packaged encoder, which training kept frozen
    assert (root / "models" / "scope" / "scope.safetensors").stat().st_size < 0.6 * 2 * 22.7e6


def test_the_counterfactual_part_answers_as_its_checkpoint(exported, tiny_lm):  # noqa: F811
    root, _ = exported
    full, _ = load_counterfactual_lm(str(root / "cf-ckpt"), tiny_lm, "cpu", torch.float32)
    shipped, fmt = load_counterfactual_lm(str(root / "models" / "counterfactual"), tiny_lm, "cpu", torch.float32)
    ids = full.tokenizer(PAIRS[0], return_tensors="pt", padding=True)
    with torch.no_grad():
        a, b = full.model(**ids).logits, shipped.model(**ids).logits
    assert fmt == "zeroshot" and torch.allclose(a, b, atol=1e-2)


def test_a_stored_layer_file_that_does_not_fit_the_encoder_is_refused(exported, tmp_path):
    from safetensors.torch import save_file

    from core.errors import ModelLoadError

    root, _ = exported
    bad = tmp_path / "scope"
    bad.mkdir()
    (bad / "serac.json").write_text((root / "models" / "scope" / "serac.json").read_text())
    save_file({"classifier.weight": torch.zeros(1, 384, dtype=torch.float16)}, str(bad / "scope.safetensors"))
    with pytest.raises(ModelLoadError, match="does not fit the encoder"):
        CrossEncoderScopeClassifier.load(str(bad), "cpu", init_path=resolve_model_path(MINILM, MODEL_CACHE))
