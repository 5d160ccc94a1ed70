"""train-scope for a few steps on a tiny CounterFact slice: the loss falls, the checkpoint round-trips,
a re-run resumes, and the trained folder loads as the app's scorer."""

from __future__ import annotations

import json
import shutil

import pytest

from core.checkpoints import read_meta
from core.config import SeracConfig
from core.cross_encoder import CrossEncoderScopeClassifier
from core.loading import build_classifier, trained_parts
from core.packaged import MINILM, resolve_model_path
from core.training.records import load_split
from core.training.scope_data import mine_pairs, record_queries
from core.training.scope_eval import roc_auc, routing_metrics, score_probes
from core.training.settings import TrainSettings
from core.training.train_scope import train_scope
from tests.conftest import DATA, MODEL_CACHE

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_embedder_module):
    out = tmp_path_factory.mktemp("scope") / "ckpt"
    settings = TrainSettings(
        data=(str(DATA / "counterfact" / "train.json"),),
        out=out,
        limit=24,
        eval_records=6,
        max_steps=12,
        batch_size=16,
        lr=1e-4,
        warmup_steps=1,
        save_every=5,
        seed=1,
    )
    meta = train_scope(settings, tiny_embedder_module, resolve_model_path(MINILM, MODEL_CACHE))
    return settings, meta


@pytest.fixture(scope="module")
def tiny_embedder_module():
    from tests.conftest import HashingEmbedder

    return HashingEmbedder()


def test_loss_falls_and_metrics_are_recorded(trained):
    _, meta = trained
    m = meta["metrics"]
    assert meta["kind"] == "scope" and meta["complete"] and meta["step"] == 12
    assert m["probe_loss_after"] < m["probe_loss_before"]
    assert 0.0 < meta["threshold"] < 1.0
    assert {"in_scope_recall", "out_of_scope_rejection", "pair_precision", "pair_recall", "pair_auc"} <= set(
        m["heldout"]
    )


def test_checkpoint_round_trips_with_the_same_outputs(trained, tiny_embedder_module):
    settings, meta = trained
    _, held = load_split(settings)
    loaded = CrossEncoderScopeClassifier.load(str(settings.out), "cpu")
    probes = score_probes(loaded, tiny_embedder_module, held, settings.top_k)
    again = routing_metrics(probes, meta["threshold"])
    assert again == pytest.approx(meta["metrics"]["heldout"], abs=1e-3)


def test_rerun_resumes_from_the_checkpoint(trained, tiny_embedder_module):
    settings, meta = trained
    more = settings.__class__(**{**settings.__dict__, "max_steps": 14})
    resumed = train_scope(more, tiny_embedder_module, "no-such-init-path: the checkpoint must be used")
    assert resumed["step"] == 14 and resumed["complete"]


def test_the_app_loads_the_checkpoint_as_its_scorer(trained):
    settings, _ = trained
    config = SeracConfig(scope_scorer="cross-encoder", scope_checkpoint=str(settings.out), device="cpu")
    assert isinstance(build_classifier(config, "cpu"), CrossEncoderScopeClassifier)
    parts = trained_parts(config)
    assert parts["scope_classifier"]["trained"] and not parts["counterfactual"]["trained"]
    assert json.loads((settings.out / "serac.json").read_text())["config"]["limit"] == 24


def test_hard_negatives_come_from_other_records_only(tiny_embedder_module):
    settings = TrainSettings(data=(str(DATA / "counterfact" / "train.json"),), limit=20, eval_records=4)
    train, _ = load_split(settings)
    pairs = mine_pairs(train, tiny_embedder_module, hard_negatives=2)
    positives = [p for p in pairs if p.label == 1.0]
    own = {(c.edit.prompt, q) for c in train for q in (c.edit.prompt, *c.paraphrases)}
    own |= {(train[j].edit.prompt, q.text) for q in record_queries(train) for j in q.rewriters}  # core.evaluation.facts
    assert {(p.edit_prompt, p.query) for p in positives} == own
    assert all((p.edit_prompt, p.query) not in own for p in pairs if p.label == 0.0)
    assert len(pairs) - len(positives) > len(positives)  # near misses + mined negatives


def test_auc_is_exact_on_small_cases():
    import numpy as np

    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    assert roc_auc(np.array([0.1, 0.9, 0.5]), np.array([1, 0, 0])) == 0.0


def test_missing_or_foreign_checkpoint_is_refused(tmp_path):
    from core.checkpoints import require_meta
    from core.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="train-scope"):
        require_meta(tmp_path, "scope")
    (tmp_path / "serac.json").write_text(json.dumps({"kind": "counterfactual"}))
    with pytest.raises(ModelLoadError, match="expected 'scope'"):
        require_meta(tmp_path, "scope")
    assert read_meta(tmp_path / "absent") is None


def test_two_runs_average_into_a_measured_classifier(trained, tiny_embedder_module, tmp_path):
    import dataclasses

    import torch

    from core.training.average_scope import average_scope

    settings, _ = trained
    first = tmp_path / "first"
    shutil.copytree(settings.out, first)  # a frozen copy: another test resumes the fixture's checkpoint
    second = dataclasses.replace(settings, out=tmp_path / "second", max_steps=2, lr=1e-3, restart=True)
    train_scope(second, tiny_embedder_module, str(first))
    out = dataclasses.replace(settings, out=tmp_path / "soup")
    meta = average_scope(out, str(first), str(second.out), 0.25, tiny_embedder_module)

    weights = [CrossEncoderScopeClassifier.load(str(f), "cpu").model.state_dict() for f in (first, second.out, out.out)]
    name = "classifier.weight"
    assert not torch.equal(weights[0][name], weights[1][name])
    assert torch.allclose(weights[2][name], 0.75 * weights[0][name] + 0.25 * weights[1][name], atol=1e-6)
    steps = [read_meta(first)["step"], 2]
    assert meta["averaged"] == {"from": [str(first), str(second.out)], "weight": 0.25, "steps": steps}
    assert meta["complete"] and meta["init"] == str(second.out) and 0.0 < meta["threshold"] < 1.0
    # measured as a training run measures: the same held-out figures when the saved folder is scored again
    _, held = load_split(out)
    probes = score_probes(CrossEncoderScopeClassifier.load(str(out.out), "cpu"), tiny_embedder_module, held, out.top_k)
    assert routing_metrics(probes, meta["threshold"]) == pytest.approx(meta["metrics"]["heldout"], abs=1e-3)


def test_averaging_refuses_what_does_not_fit_and_writes_nothing(trained, tiny_embedder_module, tmp_path):
    import dataclasses

    import torch

    from core.errors import InvalidInput, ModelLoadError
    from core.training.average_scope import average_scope, averaged

    settings, _ = trained
    out = dataclasses.replace(settings, out=tmp_path / "soup")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "serac.json").write_text(json.dumps({"kind": "counterfactual"}))
    with pytest.raises(ModelLoadError, match="expected 'scope'"):
        average_scope(out, str(settings.out), str(tmp_path / "foreign"), 0.5, tiny_embedder_module)
    with pytest.raises(InvalidInput, match="weight"):
        average_scope(out, str(settings.out), str(settings.out), 1.0, tiny_embedder_module)
    assert not out.out.exists()
    with pytest.raises(InvalidInput, match="architecture"):
        averaged({"w": torch.zeros(2, 3)}, {"w": torch.zeros(3, 2)}, 0.5)
    with pytest.raises(InvalidInput, match="architecture"):
        averaged({"w": torch.zeros(2)}, {"v": torch.zeros(2)}, 0.5)


def test_the_average_command_takes_exactly_two_folders_and_says_so(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    args = ["--data", str(DATA / "counterfact" / "train.json"), "--out", str(tmp_path / "soup")]
    done = subprocess.run(
        [sys.executable, "app.py", "--device", "cpu", "average-scope", "--from", str(tmp_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "average-scope takes exactly two --from folders, got 1" in done.stderr
    assert not (tmp_path / "soup").exists()
