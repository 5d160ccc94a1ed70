"""Measure fast routing's similarity cut-off (SeracConfig.skip_similarity / skip_min_threshold) on dev data.

For each dev file, all its edits in one memory and every probe's top-k pairs scored by a scope part (the
shipped one by default); prints, per file and over all, the lowest cosine of an in-scope pair and of any
pair scoring at least the floor, and the share of pairs below the cut-off with the highest score among them.
A cut-off is safe for a part when it lies, with a margin, below both lowest cosines.
Usage: .venv/bin/python scripts/routing_cutoff.py [--cutoff 0.2] [--floor 0.01] [--scope models/scope] [--k 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.benchmarks.cutoff import scored_pairs, summary  # noqa: E402
from core.config import SKIP_MIN_THRESHOLD, SKIP_SIMILARITY, SeracConfig  # noqa: E402
from core.datasets import read_edit_file  # noqa: E402
from core.embedder import SentenceEmbedder  # noqa: E402
from core.loading import build_classifier  # noqa: E402
from core.packaged import MINILM, resolve_model_path  # noqa: E402

DEV = [
    (str(ROOT / "datasets" / "curator_dev.jsonl"), "jsonl"),
    (str(ROOT.parent / "shared" / "data" / "zsre" / "dev.json[300:]"), "zsre"),
    (str(ROOT.parent / "shared" / "data" / "counterfact" / "val.json"), "counterfact"),
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cutoff", type=float, default=SKIP_SIMILARITY)
    p.add_argument("--floor", type=float, default=SKIP_MIN_THRESHOLD)
    p.add_argument("--scope", default=str(ROOT / "models" / "scope"))
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--cache-dir", default=str(ROOT / ".cache" / "models"))
    args = p.parse_args()
    config = SeracConfig(
        device="cpu", scope_scorer="cross-encoder", scope_checkpoint=args.scope, cache_dir=args.cache_dir
    )
    embedder = SentenceEmbedder(resolve_model_path(MINILM, config.cache_dir), "cpu", 64, True, config.cache_dir)
    classifier = build_classifier(config, "cpu")
    everything = []
    for spec, fmt in DEV:
        pairs = scored_pairs(embedder, classifier, [c for _, c in read_edit_file(spec, fmt).cases], args.k)
        everything += pairs
        print(json.dumps({"data": spec, **summary(pairs, args.cutoff, args.floor)}), flush=True)
    print(json.dumps({"data": "all", **summary(everything, args.cutoff, args.floor)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
