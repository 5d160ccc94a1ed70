"""The evaluation harness on tiny real parts (hashing embedder, faiss memory, a 2-layer Llama)."""

import pytest

from core.datasets import EditCase
from core.evaluation.harness import REPORT_KEYS, answer_probes, build_probes, load_memory
from core.evaluation.run import EvalOptions, run_eval, run_scaling
from core.types import EditDraft
from tests.tiny_models import tiny_editor

CASES = [
    EditCase(
        EditDraft("the capital of veltria is", "osmund"),
        ("where is the capital of veltria",),
        ("the capital of paris is",),
        "paris",
        ("french",),
    ),
    EditCase(
        EditDraft("the mother tongue of danielle darrieux is", "english"),
        ("danielle darrieux people speak the language",),
        ("what language do people speak in paris",),
        "french",
        ("french",),
    ),
    EditCase(
        EditDraft("who is the mother of osmund", "danielle"),
        ("osmund mother is who",),
        ("the city of english people",),
        None,
        (),
    ),
]
FILLER = [EditCase(EditDraft(f"fact {w} query {w} answer", w)) for w in ("city", "people", "language", "tongue")]


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    return tiny_editor(tmp_path_factory.mktemp("tiny"))


def _in_unit(value):
    return value is not None and 0.0 <= value <= 1.0


def test_report_has_the_contract_keys_and_values_in_range(editor):
    report = run_eval(editor, CASES, {"name": "tiny"}, EvalOptions(likelihood=True, baselines=True))
    assert set(REPORT_KEYS) <= set(report) and report["complete"]
    assert report["n_edits"] == 3 and report["counts"] == {"edit": 3, "paraphrase": 3, "unrelated": 3}
    for key in ("reliability", "generalization", "locality", "drawdown"):
        assert _in_unit(report[key]), key
    assert report["drawdown"] == pytest.approx(1 - report["locality"])
    collisions = report["locality_collisions"]  # no record's near miss asks another record's fact here
    assert collisions["n"] == 0 and collisions["locality_without"] == report["locality"]
    assert set(report["routing"]) == {"in_scope_recall", "out_of_scope_rejection"}
    assert report["latency_ms"]["route_p50"] <= report["latency_ms"]["route_p95"]
    assert report["config"]["name"] == "tiny" and report["config"]["baselines"] is True
    likelihood = report["likelihood"]
    assert likelihood["n_scored"] == {"edit": 2, "paraphrase": 2, "unrelated": 2}  # record 3 has no old target
    assert all(_in_unit(likelihood[k]) for k in ("reliability", "generalization", "locality"))


def test_edit_prompts_route_to_their_own_edit_and_baselines_behave(editor):
    report = run_eval(editor, CASES, {}, EvalOptions(likelihood=False, baselines=True))
    assert report["routing"]["in_scope_recall"] >= 0.5  # each edit prompt is its own nearest edit (cosine 1)
    base = report["baselines"]
    assert base["no_edit"]["locality"] == 1.0 and base["no_edit"]["routing"]["in_scope_recall"] == 0.0
    assert base["lookup_table"]["reliability"] == 1.0 and base["lookup_table"]["generalization"] == 0.0
    assert base["retrieve_always"]["routing"]["out_of_scope_rejection"] == 0.0


def test_memory_is_fresh_and_holds_exactly_the_evaluated_edits(editor):
    load_memory(editor, FILLER)
    run_eval(editor, CASES, {}, EvalOptions(likelihood=False))
    assert editor.memory.ids() == [1, 2, 3]
    assert [editor.memory.get(i).target for i in (1, 2, 3)] == ["osmund", "english", "danielle"]


def test_resume_answers_only_the_missing_probes_and_matches_a_full_run(editor):
    load_memory(editor, CASES)
    probes = build_probes(CASES)
    full, _ = answer_probes(editor, probes, chunk_size=4)
    seen = []
    part = {i: full[i] for i in range(4)}
    resumed, interrupted = answer_probes(editor, probes, part, chunk_size=2, on_chunk=seen.extend)
    assert not interrupted and sorted(r.index for r in seen) == list(range(4, len(probes)))
    assert {i: (r.answer, r.route) for i, r in resumed.items()} == {i: (r.answer, r.route) for i, r in full.items()}


def test_an_interrupt_stops_cleanly_with_the_answers_so_far(editor):
    def stop_after_first(rows):
        raise KeyboardInterrupt

    load_memory(editor, CASES)
    results, interrupted = answer_probes(editor, build_probes(CASES), chunk_size=3, on_chunk=stop_after_first)
    assert interrupted and len(results) == 3


def test_scaling_fills_the_memory_to_each_size_with_other_edits(editor):
    sweep = run_scaling(editor, CASES, FILLER, [2, 5, 7], {}, EvalOptions(likelihood=False))
    assert sweep["complete"] and sweep["sizes"] == [2, 5, 7]
    assert [p["n_edits"] for p in sweep["points"]] == [2, 5, 7]
    assert [p["n_records"] for p in sweep["points"]] == [2, 3, 3]
