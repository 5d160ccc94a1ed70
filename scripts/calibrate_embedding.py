"""Refit the embedding scorer's calibration (SeracConfig.similarity_scale / similarity_center).

Positives: each CounterFact train record's paraphrase vs its own edit prompt. Negatives: each
record's near-miss locality prompt vs its most similar edit prompt among all records.
Usage: .venv/bin/python scripts/calibrate_embedding.py [--data PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.embedder import SentenceEmbedder  # noqa: E402
from core.packaged import MINILM, resolve_model_path  # noqa: E402
from core.training.calibration import fit_similarity_calibration  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/counterfact/train.json"))
    p.add_argument("--limit", type=int, default=3000)
    args = p.parse_args()
    records = json.loads(Path(args.data).read_text())[: args.limit]
    embedder = SentenceEmbedder(resolve_model_path(MINILM, Path(".")), "cpu", 64)
    edits = embedder.encode([r["prompt"] for r in records])
    positives = (edits * embedder.encode([r["rephrase_prompt"] for r in records])).sum(1)
    negatives = (embedder.encode([r["locality_prompt"] for r in records]) @ edits.T).max(1)
    scale, center = fit_similarity_calibration(positives, negatives)
    print(
        json.dumps(
            {
                "records": len(records),
                "similarity_scale": round(scale, 3),
                "similarity_center": round(center, 3),
                "in_scope_recall": float((positives >= center).mean()),
                "out_of_scope_rejection": float((negatives < center).mean()),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
