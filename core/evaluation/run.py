"""One evaluation run end to end, and the scaling sweep over memory sizes.

`run_eval`: fresh memory with the records' edits (and optional filler edits) -> probe every record ->
contract metrics, latency, optional teacher-forced likelihood and baselines -> one report dict.
`run_scaling`: the same on the first records' probes at several memory sizes; the memory is filled up
to each size with other records' edits.

Invariant: the report always has the contract keys (core.evaluation.harness.REPORT_KEYS); an interrupted run
reports what it has with `"complete": false`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.datasets import EditCase
from core.evaluation.baselines import run_baselines
from core.evaluation.harness import (
    ProbeResult,
    answer_probes,
    build_probes,
    latency_summary,
    load_memory,
    route_latencies,
    summarize,
)
from core.evaluation.likelihood import likelihood_metrics
from core.progress import NoProgress, ProgressFactory
from core.serac import SeracEditor


@dataclass(frozen=True)
class EvalOptions:
    likelihood: bool = True
    baselines: bool = False
    chunk_size: int = 96  # probes per `ask` call: larger batches, coarser progress and checkpoints


def run_eval(
    editor: SeracEditor,
    cases: Sequence[EditCase],
    config: dict,
    options: EvalOptions = EvalOptions(),
    filler: Sequence[EditCase] = (),
    done: dict[int, ProbeResult] | None = None,
    on_chunk: Callable[[list[ProbeResult]], None] | None = None,
    progress: ProgressFactory = NoProgress,
) -> dict:
    """Evaluate the system on `cases` with all their edits in memory at once."""
    t0 = time.perf_counter()
    edits = {e.id: e for e in load_memory(editor, cases, filler, progress)}
    probes = build_probes(cases)
    results, interrupted = answer_probes(editor, probes, done, options.chunk_size, on_chunk, progress)
    report: dict = {"n_edits": len(editor.memory), "n_records": len(cases)}
    report.update(summarize(cases, probes, results, loaded=list(cases) + list(filler)))
    try:
        single = [] if interrupted else route_latencies(editor, [p.query for p in probes])
        report["latency_ms"] = latency_summary(results, single)
        if options.likelihood and not interrupted:
            report["likelihood"] = likelihood_metrics(editor, cases, probes, results, edits, progress=progress)
        if options.baselines and not interrupted:
            report["baselines"] = run_baselines(editor, cases, probes, results, edits, progress=progress)
    except KeyboardInterrupt:
        interrupted = True
        report.setdefault("latency_ms", latency_summary(results, []))
    report["config"] = {
        **config,
        "likelihood": options.likelihood,
        "baselines": options.baselines,
        "chunk_size": options.chunk_size,
        "n_filler_edits": len(filler),
    }
    report.update(
        {
            "n_probes": len(probes),
            "n_answered": len(results),
            "complete": not interrupted,
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    )
    return report


def run_scaling(
    editor: SeracEditor,
    probe_cases: Sequence[EditCase],
    pool: Sequence[EditCase],
    sizes: Sequence[int],
    config: dict,
    options: EvalOptions = EvalOptions(likelihood=False),
    progress: ProgressFactory = NoProgress,
) -> dict:
    """The evaluation at each memory size: probes of `probe_cases`, memory filled from `pool` (other edits)."""
    points = []
    for size in sorted(set(sizes)):
        n_probe = min(len(probe_cases), size)
        filler = list(pool)[: max(0, size - n_probe)]
        report = run_eval(editor, probe_cases[:n_probe], config, options, filler, progress=progress)
        report["requested_size"] = size
        points.append(report)
        if not report["complete"]:
            break
    return {
        "sizes": [p["requested_size"] for p in points],
        "points": points,
        "complete": bool(points) and all(p["complete"] for p in points) and len(points) == len(set(sizes)),
    }
