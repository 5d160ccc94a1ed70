"""Teacher-forced likelihood metrics: does the edited system prefer the new target over the old one?

For each probe the log-probability of a target is taken under the prompt the system actually used for
it: the counterfactual prompt with the chosen edit when the probe was routed to an edit, else the
base model's own prompt for the query (the bare completion, or the chat turn of a question). Scores
(CounterFact papers' "efficacy", "paraphrase", "neighborhood"):
- reliability / generalization: share of edit prompts / paraphrases with log P(new) > log P(old);
- locality: share of unrelated prompts with log P(their true answer) > log P(the record's new target).
Records without an old target (or unrelated prompts without a known answer) are left out and counted.

Invariant: needs models exposing `lm` (a CausalLM) and, for the counterfactual model, `build_prompt`;
other models get None for every likelihood metric, with the reason, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.datasets import EditCase
from core.evaluation.harness import Probe, ProbeResult
from core.evaluation.metrics import mean, prefers
from core.progress import NoProgress, ProgressFactory
from core.serac import SeracEditor
from core.types import Edit


def likelihood_metrics(
    editor: SeracEditor,
    cases: Sequence[EditCase],
    probes: Sequence[Probe],
    results: dict[int, ProbeResult],
    edits: dict[int, Edit],
    batch_size: int = 32,
    progress: ProgressFactory = NoProgress,
) -> dict:
    """The three likelihood shares and the mean log-probability margins behind them."""
    base_lm = getattr(editor.base, "lm", None)
    base_prompt = getattr(editor.base, "prompt", lambda q: q)
    cf_lm, build = getattr(editor.counterfactual, "lm", None), getattr(editor.counterfactual, "build_prompt", None)
    if base_lm is None or cf_lm is None or build is None:
        return {
            "reliability": None,
            "generalization": None,
            "locality": None,
            "skipped": "the models do not expose their language model and prompt format",
        }
    rows = _pairs(cases, probes, results)  # (probe index, kind, preferred target, other target)
    groups: dict[str, list] = {"base": [], "counterfactual": []}
    for index, kind, good, bad in rows:
        r, query = results[index], probes[index].query
        prompt = build(edits[r.chosen_edit_id], query) if r.chosen_edit_id is not None else base_prompt(query)
        groups["counterfactual" if r.chosen_edit_id is not None else "base"].append((index, kind, prompt, good, bad))
    scored = []
    bar = progress(total=len(rows), desc="likelihood")
    for route, lm in (("base", base_lm), ("counterfactual", cf_lm)):
        scored += _score_group(lm, groups[route], batch_size, bar)
    bar.close()
    return _summary(scored, len(probes) - len(rows))


def _pairs(cases: Sequence[EditCase], probes: Sequence[Probe], results: dict[int, ProbeResult]) -> list[tuple]:
    out = []
    for i in results:
        probe, case = probes[i], cases[probes[i].case]
        if probe.kind != "unrelated" and case.old_target:
            out.append((i, probe.kind, case.edit.target, case.old_target))
        elif probe.kind == "unrelated" and case.unrelated_answers:
            out.append((i, probe.kind, case.unrelated_answers[0], case.edit.target))
    return out


def _score_group(lm, rows: list[tuple], batch_size: int, bar, chunk: int = 128) -> list[tuple[str, float, float]]:
    """(kind, log P(preferred), log P(other)) per row; the prompt runs once for both targets."""
    out = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        scores = lm.target_logprobs([p for _, _, p, _, _ in part], [[g, b] for *_, g, b in part], batch_size)
        out += [(kind, s[0], s[1]) for (_, kind, *_), s in zip(part, scores)]
        bar.update(len(part))
    return out


def _summary(scored: list[tuple[str, float, float]], left_out: int) -> dict:
    by_kind = {k: [(g, b) for kind, g, b in scored if kind == k] for k in ("edit", "paraphrase", "unrelated")}

    def pref(kind: str) -> float | None:
        return prefers([g for g, _ in by_kind[kind]], [b for _, b in by_kind[kind]])

    return {
        "reliability": pref("edit"),
        "generalization": pref("paraphrase"),
        "locality": pref("unrelated"),
        "mean_margin": {k: mean([g - b for g, b in v]) for k, v in by_kind.items()},
        "n_scored": {k: len(v) for k, v in by_kind.items()},
        "n_left_out": left_out,
    }
