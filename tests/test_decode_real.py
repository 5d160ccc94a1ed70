"""The default decode path on the real default model (SmolLM2): on a fixed set of CounterFact prompts, questions and
edits, the base and the four-shot counterfactual answers of the static path (the default) are those of the
transformers path (the reference); the int8 path's are not all, and where they part is measured (not the default)."""

from __future__ import annotations

import json

import pytest
import torch

from core.base_model import LMBaseModel
from core.benchmarks.generation import measure_generation
from core.counterfactual import PromptedCounterfactual
from core.lm import load_lm
from core.packaged import resolve_model_path
from core.types import Edit
from tests.conftest import DATA, MODEL_CACHE

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return json.loads((DATA / "counterfact" / "val.json").read_text())[:6]


@pytest.fixture(scope="module")
def lm():
    model = load_lm(resolve_model_path("smollm2-135m-instruct", MODEL_CACHE), "cpu", torch.float32)
    yield model
    model.use_decode("static")


def _answers(lm, path: str, queries: list[str], pairs: list[tuple[Edit, str]]) -> tuple[list[str], list[str]]:
    lm.use_decode(path)
    try:
        assert lm.decode_in_use == path
        base = LMBaseModel(lm, max_new_tokens=16, batch_size=8).answer(queries)
        return base, PromptedCounterfactual(lm, 16, 8, "fewshot").answer(pairs)
    finally:
        lm.use_decode("static")  # the model is shared by the session's other tests: leave it as build_editor does


def _fixed_set(records: list[dict]) -> tuple[list[str], list[tuple[Edit, str]]]:
    queries = [r["prompt"] for r in records] + [r["locality_prompt"] for r in records[:3]]
    queries += ["What is the capital of France?", "Who wrote Hamlet?"]  # chat form: through the template
    pairs = [(Edit(i, r["prompt"], r["target_new"]), r["rephrase_prompt"]) for i, r in enumerate(records[:4], 1)]
    return queries, pairs


@pytest.fixture(scope="module")
def reference(lm, records) -> tuple[list[str], list[str]]:
    """The transformers path's base and counterfactual answers on the fixed set (computed once)."""
    return _answers(lm, "transformers", *_fixed_set(records))


def test_static_path_gives_the_transformers_answers(lm, records, reference):
    queries, pairs = _fixed_set(records)
    assert sum(bool(a) for a in reference[0]) >= len(queries) - 1  # real answers, not empty lines
    assert _answers(lm, "static", queries, pairs) == reference


@pytest.mark.slow  # the opt-in path; about 10 s
def test_int8_answers_part_from_the_reference_only_after_the_start(lm, records, reference):
    queries, pairs = _fixed_set(records)
    quantised = _answers(lm, "int8", queries, pairs)
    ref, got = reference[0] + reference[1], quantised[0] + quantised[1]
    same_first_word = sum(a.split()[:1] == b.split()[:1] for a, b in zip(ref, got))
    # measured: most answers keep their first word; whole answers drift (activation rounding), so int8 is opt-in
    assert same_first_word >= 0.6 * len(ref), list(zip(ref, got))


@pytest.mark.slow  # tests/test_bench_cli.py runs the generation phase by default
def test_generation_benchmark_reports_the_bound_and_same_answers(lm, records):
    result = measure_generation(lm, [r["prompt"] for r in records[:2]], tokens=6, repeats=1)
    static, reference = result["paths"]["static"], result["paths"]["transformers"]
    assert result["default"] == "static" and lm.decode_path == "static"
    # SmolLM2-135M in float32: about 135M weights of 4 bytes (the tied embedding read once, as the head)
    assert 530e6 < static["weight_bytes_per_token"] < 545e6
    assert static["weight_bytes_per_token"] == reference["weight_bytes_per_token"]
    assert result["paths"]["int8"]["weight_bytes_per_token"] < 0.3 * static["weight_bytes_per_token"]
    bw = result["bandwidth"]["best_gb_s"] * 1e9
    assert static["bound_tokens_per_s"] == pytest.approx(bw / static["weight_bytes_per_token"])
    assert static["same_answers"] is True and reference["same_answers"] is True
