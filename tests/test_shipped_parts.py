"""The trained SERAC parts shipped in models/: present, intact, served by default, and doing their job.

A guard against a broken file or loader, not a benchmark: the floors sit well below the figures the
manifest records (README: trained parts), on fixed slices of data the parts never trained on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from core.config import SeracConfig
from core.datasets import read_edit_file
from core.errors import ModelLoadError
from core.evaluation.run import EvalOptions, run_eval
from core.shipped import MANIFEST, read_manifest, sha256_file, verify_part
from tests.conftest import DATA, MODEL_CACHE, ROOT

MODELS = ROOT / "models"
CURATOR_SET = ROOT / "datasets" / "curator_dev.jsonl"
MAX_BYTES = 30 * 1024 * 1024  # the budget for both parts in git


def test_manifest_lists_every_file_with_its_hash_and_fits_the_budget():
    manifest = read_manifest(MODELS)
    assert set(manifest["parts"]) == {"scope", "counterfactual"}
    for part in manifest["parts"].values():
        on_disk = {p.name for p in (MODELS / part["folder"]).iterdir()}
        assert on_disk == set(part["files"]), "a file in the part folder is not in the manifest (or missing)"
        for name, digest in part["files"].items():
            assert sha256_file(MODELS / part["folder"] / name) == digest
    assert (
        manifest["bytes_total"]
        == sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file() and p.name != MANIFEST)
        <= MAX_BYTES
    )
    training = manifest["training"]
    assert training["command"] == "make train"
    for part in ("scope", "counterfactual"):
        assert training[part]["seed"] is not None and training[part]["step"] > 0
        assert all(d["sha256"] for d in training[part]["data"]), "every training file is identified by its hash"


def _parser_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "SERAC_MODELS_DIR"}


def test_the_default_command_line_serves_the_shipped_parts():
    sys.path.insert(0, str(ROOT))
    import app

    config = app.config_from(app.build_parser(_parser_env()).parse_args([]))
    scope_meta = json.loads((MODELS / "scope" / "serac.json").read_text())
    assert config.scope_scorer == "cross-encoder" and config.scope_checkpoint == str(MODELS / "scope")
    assert config.counterfactual_checkpoint == str(MODELS / "counterfactual")
    assert config.threshold == pytest.approx(scope_meta["threshold"])
    other_base = app.config_from(app.build_parser(_parser_env()).parse_args(["--base-model", "gemma-3-270m"]))
    assert other_base.base_model == "gemma-3-270m"  # the black-box base changes; the adapter keeps its own model
    assert other_base.counterfactual_model == "smollm2-135m-instruct"
    untrained = app.config_from(
        app.build_parser(_parser_env()).parse_args(
            ["--scope-checkpoint", "none", "--counterfactual-checkpoint", "none"]
        )
    )
    assert untrained.scope_scorer == "embedding" and untrained.counterfactual_checkpoint is None


@pytest.fixture
def corrupt_copy(tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(MODELS, copy)
    return copy


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
def test_a_damaged_weight_file_is_refused_with_one_clear_line(corrupt_copy, damage):
    weights = corrupt_copy / "scope" / "scope.safetensors"
    data = weights.read_bytes()
    if damage == "flip":
        weights.write_bytes(data[:-100] + bytes([data[-100] ^ 1]) + data[-99:])
    elif damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    else:
        weights.unlink()
    with pytest.raises(ModelLoadError, match="missing|sha256 differs") as info:
        verify_part(corrupt_copy / "scope")
    assert "scope.safetensors" in str(info.value) and "\n" not in str(info.value)
    assert verify_part(corrupt_copy / "counterfactual")["version"] == read_manifest(MODELS)["version"]


@pytest.mark.models
def test_app_refuses_an_altered_adapter_and_changes_nothing(corrupt_copy, tmp_path):
    adapter = corrupt_copy / "counterfactual" / "adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:-1] + b"\0")
    db = tmp_path / "edits.sqlite"
    env = {**os.environ, "SERAC_MODELS_DIR": str(corrupt_copy)}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "--db",
            f"sqlite:///{db}",
            "--cache-dir",
            str(MODEL_CACHE),
            "--device",
            "cpu",
            "ask",
            "The capital of France is",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "adapter_model.safetensors: sha256 differs" in result.stderr


@pytest.fixture(scope="module")
def shipped_editor():
    from core.loading import build_editor

    scope_meta = json.loads((MODELS / "scope" / "serac.json").read_text())
    config = SeracConfig(
        device="cpu",
        cache_dir=MODEL_CACHE,
        scope_scorer="cross-encoder",
        scope_checkpoint=str(MODELS / "scope"),
        threshold=scope_meta["threshold"],
        counterfactual_checkpoint=str(MODELS / "counterfactual"),
    )
    return build_editor(config)


def _evaluate(editor, path, fmt, limit):
    cases = [c for _, c in read_edit_file(path, fmt, limit).cases]
    editor.memory.clear()  # each measurement starts from an empty memory
    return run_eval(editor, cases, {}, EvalOptions(likelihood=False))


@pytest.mark.models
def test_the_shipped_parts_say_which_version_serves(shipped_editor):
    version = read_manifest(MODELS)["version"]
    for part in shipped_editor.trained_parts.values():
        assert part["trained"] and part["version"] == version
        assert f"shipped version {version}" in part["description"]


@pytest.mark.models
def test_counterfact_val_slice_stays_above_floors(shipped_editor):
    report = _evaluate(shipped_editor, DATA / "counterfact" / "val.json[1800:1830]", "counterfact", None)
    assert report["reliability"] >= 0.9 and report["generalization"] >= 0.8 and report["locality"] >= 0.85, report


@pytest.mark.models
@pytest.mark.slow  # about 45 s; the CounterFact slice guards the loader by default
def test_curator_set_slice_stays_above_floors(shipped_editor):
    report = _evaluate(shipped_editor, CURATOR_SET, "jsonl", 16)
    routing = report["routing"]
    assert routing["in_scope_recall"] >= 0.8 and routing["out_of_scope_rejection"] >= 0.8, report
    assert report["reliability"] >= 0.8 and report["generalization"] >= 0.7, report


@pytest.mark.models
def test_a_question_gets_a_non_empty_base_answer(shipped_editor):
    questions = ["What is the capital of France?", "Who wrote Hamlet?", "Name the largest planet of the solar system."]
    assert all(answer.strip() for answer in shipped_editor.base.answer(questions))
