"""Measure fast routing's cut-offs (SeracConfig.skip_similarity / skip_gap / skip_min_threshold) on dev data.

For each dev file, all its edits in one memory and every probe's top-k pairs scored by a scope part (the
shipped one by default); and CounterFact val's first 1,000 records in a memory filled to 10,000 edits with
CounterFact train prompts (the issue's scale). Prints, per setting and over all, the lowest cosine of an
in-scope pair and of any pair scoring at least the floor, the largest gap below the probe's most similar
candidate of such pairs, the highest score beyond each cut-off, the pairs left to score per probe and the
decisions that change at the floor. A cut-off is safe for a part when it lies, with a margin, beyond
every in-scope pair and every pair scoring at the floor. With --dominant S, also what a dominance rule would
do (core.benchmarks.cutoff.dominance_summary: a most similar pair scoring >= S rules out the pairs more than
--dominant-gap below it), judged at --threshold (the shipped part's 0.04).
Usage: .venv/bin/python scripts/routing_cutoff.py [--cutoff 0.2] [--gap 0.15] [--floor 0.01] [--scope models/scope]
       [--k 5] [--torch] [--dominant 0.99 --dominant-gap 0.05 --threshold 0.04]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.benchmarks.cutoff import dominance_summary, scored_pairs, summary  # noqa: E402
from core.config import SKIP_GAP, SKIP_MIN_THRESHOLD, SKIP_SIMILARITY, SeracConfig  # noqa: E402
from core.datasets import read_edit_file  # noqa: E402
from core.embedder import SentenceEmbedder  # noqa: E402
from core.loading import build_classifier  # noqa: E402
from core.packaged import MINILM, resolve_model_path  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DEV = [
    (str(ROOT / "datasets" / "curator_dev.jsonl"), "jsonl"),
    (str(DATA / "zsre" / "dev.json[300:]"), "zsre"),
    (str(DATA / "counterfact" / "val.json"), "counterfact"),
]
AT_SCALE = (str(DATA / "counterfact" / "val.json"), 1000, str(DATA / "counterfact" / "train.json"), 10_000)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cutoff", type=float, default=SKIP_SIMILARITY)
    p.add_argument("--gap", type=float, default=SKIP_GAP)
    p.add_argument("--floor", type=float, default=SKIP_MIN_THRESHOLD)
    p.add_argument("--scope", default=str(ROOT / "models" / "scope"))
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--torch", action="store_true", help="score with the torch path (default: the ONNX copy)")
    p.add_argument("--cache-dir", default=str(ROOT / ".cache" / "models"))
    p.add_argument("--dominant", type=float, default=None, help="also judge a dominance rule at this score")
    p.add_argument("--dominant-gap", type=float, default=0.05)
    p.add_argument("--threshold", type=float, default=0.04, help="routing threshold the dominance rule is judged at")
    args = p.parse_args()
    config = SeracConfig(
        device="cpu",
        scope_scorer="cross-encoder",
        scope_checkpoint=args.scope,
        cache_dir=args.cache_dir,
        fast_routing=not args.torch,
    )
    path = resolve_model_path(MINILM, config.cache_dir)
    embedder = SentenceEmbedder(path, "cpu", 64, config.fast_routing, config.cache_dir)
    classifier = build_classifier(config, "cpu")
    everything = []
    for spec, fmt in DEV:
        pairs = scored_pairs(embedder, classifier, [c for _, c in read_edit_file(spec, fmt).cases], args.k)
        everything += _shifted(pairs, everything)
        print(json.dumps({"data": spec, **_summaries(pairs, args)}), flush=True)
    spec, limit, fill_spec, size = AT_SCALE
    cases = [c for _, c in read_edit_file(spec, "counterfact", limit).cases]
    fill = [c.edit.prompt for _, c in read_edit_file(fill_spec, "counterfact", size - len(cases)).cases]
    pairs = scored_pairs(embedder, classifier, cases, args.k, fill)
    everything += _shifted(pairs, everything)
    print(json.dumps({"data": f"{spec}[:{limit}] in {size} edits", **_summaries(pairs, args)}))
    print(json.dumps({"data": "all", **_summaries(everything, args)}))
    return 0


def _summaries(pairs, args) -> dict:
    """The cut-offs' summary, and with --dominant the dominance rule's on top of them."""
    out = summary(pairs, args.cutoff, args.floor, args.gap)
    if args.dominant is not None:
        skipped = np.array([p.similarity < args.cutoff or p.gap > args.gap for p in pairs], dtype=bool)
        out["dominance"] = dominance_summary(pairs, skipped, args.threshold, args.dominant, args.dominant_gap)
    return out


def _shifted(pairs, before):
    """The pairs with probe numbers after those already gathered (each setting numbers its probes from 0)."""
    start = max((p.probe for p in before), default=-1) + 1
    return [replace(p, probe=p.probe + start) for p in pairs]


if __name__ == "__main__":
    sys.exit(main())
