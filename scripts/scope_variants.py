"""Train scope-classifier variants (step 2 of the recipe, or any train-scope settings) and measure each on
the held-out training records and on the three dev splits never trained on.

Each variant is NAME=JSON, the JSON overriding the recipe's step-2 settings (see RECIPE); "init" names
the folder it starts from (default --init; "minilm" starts from the encoder itself). Per variant it
writes OUT/NAME/ (the checkpoint), OUT/NAME-<split>.npz (core.training.scope_dev.ProbeTable of the
held-out records and of each dev split) and one line of OUT/results.jsonl: routing at the threshold the
variant picked on the held-out records, per split. A checkpoint folder with a complete serac.json is
measured again without training.
Usage: .venv/bin/python scripts/scope_variants.py --data-dir ../shared/data --init checkpoints/scope \\
         --out checkpoints/variants 'relpos4={"relation_positives": 4}' 'lr2={"lr": 2e-5}'
       .venv/bin/python scripts/scope_variants.py --measure checkpoints/scope2v --out checkpoints/variants
       (--measure FOLDER[=NAME]: measure an existing checkpoint; a shipped layers-only folder such as models/scope
       with --layers-over MINILM_FOLDER)
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

from core.checkpoints import read_meta  # noqa: E402
from core.cross_encoder import CrossEncoderScopeClassifier  # noqa: E402
from core.embedder import SentenceEmbedder  # noqa: E402
from core.packaged import MINILM, resolve_model_path  # noqa: E402
from core.training.records import load_split  # noqa: E402
from core.training.scope_dev import dev_splits, probe_table, save_table, table_metrics  # noqa: E402
from core.training.settings import TrainSettings  # noqa: E402
from core.training.train_scope import train_scope  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The Makefile's step 2 (train-scope --init step 1), as TrainSettings fields.
RECIPE = {
    "forms": str(ROOT / "datasets/forms.json"),
    "eval_records": 1000,
    "hard_negatives": 4,
    "subject_negatives": 2,
    "min_rejection": 0.995,
    "seed": 0,
    "restart": True,
    "max_steps": 1000,
    "warmup_steps": 20,
    "relation_negatives": 12,
}


def settings_of(name: str, overrides: dict, args: argparse.Namespace) -> TrainSettings:
    data = (f"{args.data_dir}/counterfact/train.json", f"{args.data_dir}/zsre/dev.json[:300]")
    fields = RECIPE | {k: v for k, v in overrides.items() if k != "init"}
    return TrainSettings(data=data, out=Path(args.out) / name, device=args.device, save_every=10**6, **fields)


def measure(name: str, folder: Path, settings: TrainSettings, embedder, args, layers_over: str | None) -> dict:
    """Tables of the held-out records and each dev split; routing at the folder's own threshold."""
    threshold = read_meta(folder)["threshold"]
    classifier = CrossEncoderScopeClassifier.load(str(folder), args.device, 256, init_path=layers_over)
    splits = {"heldout": load_split(settings)[1]} | dev_splits(args.data_dir)
    line = {"name": name, "threshold": threshold}
    for split, cases in splits.items():
        table = probe_table(classifier, embedder, cases, settings.top_k)
        save_table(table, Path(args.out) / f"{name}-{split}.npz")
        line[split] = table_metrics(table, table.scores, threshold)
    return line


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", help="NAME=JSON overrides of the step-2 recipe")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared/data"))
    p.add_argument("--init", default=str(ROOT / "checkpoints/scope"), help="default start of each variant")
    p.add_argument("--embedder", default=None, help="MiniLM folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--out", default=str(ROOT / "checkpoints/variants"))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--measure", action="append", default=[], help="FOLDER[=NAME]: measure only")
    p.add_argument("--layers-over", default=None, help="with --measure: folders hold layers over this encoder")
    args = p.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    args.embedder = args.embedder or resolve_model_path(MINILM, ROOT / ".cache/models")
    embedder = SentenceEmbedder(args.embedder, args.device, 256)
    results = Path(args.out) / "results.jsonl"
    for spec in args.measure:
        folder, _, name = spec.partition("=")
        line = measure(
            name or Path(folder).name, Path(folder), settings_of("m", {}, args), embedder, args, args.layers_over
        )
        _write(results, line)
    for spec in args.variants:
        name, _, text = spec.partition("=")
        overrides = json.loads(text or "{}")
        settings = settings_of(name, overrides, args)
        init = overrides.get("init", args.init)
        init = args.embedder if init == "minilm" else init
        t0 = time.monotonic()
        meta = read_meta(settings.out) if (settings.out / "serac.json").exists() else {}
        if not meta.get("complete"):
            train_scope(settings, embedder, init)
        line = measure(name, settings.out, settings, embedder, args, None)
        _write(results, line | {"overrides": overrides, "minutes": round((time.monotonic() - t0) / 60, 2)})


def _write(results: Path, line: dict) -> None:
    text = json.dumps(line)
    print(text, flush=True)
    with results.open("a") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
