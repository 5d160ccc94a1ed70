"""Measure the trained SERAC parts against the untrained defaults on held-out data (never trained on).

- scope: all N records' edits in memory at once; every edit prompt, paraphrase and locality prompt is
  routed (top-k by MiniLM cosine, then the scorer); prints in-scope recall, out-of-scope rejection
  and pair precision/recall/AUC for the untrained calibrated cosine and the trained cross-encoder at
  its chosen threshold.
- counterfactual (--cf-records M): edit-following on M records (edit prompt and paraphrase, each
  given its own edit), untrained four-shot prompt vs the trained adapter; plus what a misrouted
  locality prompt gets.
Usage: .venv/bin/python scripts/measure_trained_parts.py [--data PATH] [--skip 0] [--limit 1000] [--cf-records 200]
       [--thresholds 0.5,0.9,0.99]
       [--scope checkpoints/scope] [--counterfactual checkpoints/counterfactual] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.adapters import load_counterfactual_lm  # noqa: E402
from core.base_model import LMBaseModel  # noqa: E402
from core.checkpoints import require_meta  # noqa: E402
from core.config import SeracConfig  # noqa: E402
from core.counterfactual import PromptedCounterfactual  # noqa: E402
from core.cross_encoder import CrossEncoderScopeClassifier  # noqa: E402
from core.datasets import read_edit_file  # noqa: E402
from core.embedder import SentenceEmbedder  # noqa: E402
from core.lm import load_lm  # noqa: E402
from core.packaged import MINILM, SMOLLM2, resolve_model_path  # noqa: E402
from core.scope import EmbeddingScopeClassifier  # noqa: E402
from core.training.counterfactual_eval import measure_counterfactual  # noqa: E402
from core.training.scope_eval import routing_metrics, score_probes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def measure_scope(cases, folder: str | None, top_k: int, thresholds: list[float] = ()) -> dict:
    defaults = SeracConfig()
    embedder = SentenceEmbedder(resolve_model_path(MINILM, ROOT / ".cache/models"), "cpu", 64)
    out = {}
    t0 = time.perf_counter()
    base = score_probes(
        EmbeddingScopeClassifier(defaults.similarity_scale, defaults.similarity_center), embedder, cases, top_k
    )
    out["untrained_embedding@0.5"] = routing_metrics(base, 0.5) | {"seconds": round(time.perf_counter() - t0, 1)}
    if folder:
        threshold = require_meta(folder, "scope")["threshold"]
        t0 = time.perf_counter()
        trained = score_probes(CrossEncoderScopeClassifier.load(folder, "cpu"), embedder, cases, top_k)
        out[f"cross_encoder@{threshold:.3f}"] = routing_metrics(trained, threshold) | {
            "seconds": round(time.perf_counter() - t0, 1)
        }
        out["cross_encoder@0.5"] = routing_metrics(trained, 0.5)
        for t in thresholds:
            out[f"cross_encoder@{t}"] = routing_metrics(trained, t)
    return out


def measure_cf(cases, folder: str | None) -> dict:
    path = resolve_model_path(SMOLLM2, ROOT / ".cache/models")
    lm = load_lm(path, "cpu", torch.float32)
    base = LMBaseModel(lm, 16, 16)
    out = {}
    t0 = time.perf_counter()
    out["untrained_fewshot"] = measure_counterfactual(PromptedCounterfactual(lm, 16, 16, "fewshot"), cases, base)
    out["untrained_fewshot"]["seconds"] = round(time.perf_counter() - t0, 1)
    if folder:
        cf_lm, fmt = load_counterfactual_lm(folder, path, "cpu", torch.float32)
        t0 = time.perf_counter()
        out["trained"] = measure_counterfactual(PromptedCounterfactual(cf_lm, 16, 16, fmt), cases, base)
        out["trained"]["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/counterfact/val.json"))
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument(
        "--skip", type=int, default=0, help="records skipped before the --limit ones (e.g. those trained on)"
    )
    p.add_argument("--thresholds", default="", help="also the trained scope's routing at these thresholds (comma list)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--cf-records", type=int, default=0, help="records for the counterfactual measurement (0: skip)")
    p.add_argument("--scope", default=str(ROOT / "checkpoints/scope"))
    p.add_argument("--counterfactual", default=str(ROOT / "checkpoints/counterfactual"))
    p.add_argument("--skip-scope", action="store_true")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    cases = [c for _, c in read_edit_file(args.data, "auto", args.skip + args.limit).cases][args.skip :]
    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    result = {"data": args.data, "skip": args.skip, "records": len(cases)}
    if not args.skip_scope:
        result["scope"] = measure_scope(
            cases, args.scope if Path(args.scope).exists() else None, args.top_k, thresholds
        )
    if args.cf_records:
        folder = args.counterfactual if Path(args.counterfactual).exists() else None
        result["counterfactual"] = measure_cf(cases[: args.cf_records], folder)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
