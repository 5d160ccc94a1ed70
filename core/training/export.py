"""Turning training checkpoints into the compact parts shipped in `models/`, with their manifest.

- scope: the cross-encoder's weights above the token embeddings (which training keeps frozen as
  packaged), stored float16: 10.8M numbers, 21.6 MB; loaded over the packaged MiniLM (core.cross_encoder).
- counterfactual: the LoRA adapter, stored float16 (a few MB); merged over the packaged SmolLM2.
- manifest.json (core.shipped): sha256 of every file, the version, how the parts were trained (the
  command, seed, settings, data files with their sha256, the split) and what they measured.

Invariant: the output folder is written whole or not at all (a temporary sibling renamed into place);
the manifest lists exactly the files written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification

from core.checkpoints import read_meta, require_meta, write_meta
from core.cross_encoder import LAYERS_FILE
from core.datasets import split_path
from core.shipped import MANIFEST, sha256_file

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
TRAIN_COMMAND = "make train"


def export_parts(
    scope_ckpt: str, cf_ckpt: str, out: str | Path, encoder_alias: str, lm_alias: str, metrics: dict
) -> dict:
    """Write models/{scope,counterfactual} and manifest.json from two checkpoints; returns the manifest."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        scope_meta = _export_scope(scope_ckpt, tmp / "scope", encoder_alias)
        cf_meta = _export_counterfactual(cf_ckpt, tmp / "counterfactual", lm_alias)
        manifest = _manifest(tmp, scope_meta, cf_meta, metrics)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.chmod(0o755)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _export_scope(ckpt: str, folder: Path, encoder_alias: str) -> dict:
    meta = require_meta(ckpt, "scope")
    model = AutoModelForSequenceClassification.from_pretrained(ckpt, num_labels=1)
    layers = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in model.state_dict().items()
        if ".embeddings." not in f".{k}"
    }
    folder.mkdir(parents=True)
    save_file(layers, str(folder / LAYERS_FILE))
    return _write_meta(folder, meta, over=encoder_alias, stored="float16, layers above the embeddings")


def _export_counterfactual(ckpt: str, folder: Path, lm_alias: str) -> dict:
    meta = require_meta(ckpt, "counterfactual")
    if not meta.get("adapter"):
        raise ValueError(f"{ckpt}: a full-weight counterfactual model is too large to ship; train a LoRA adapter")
    folder.mkdir(parents=True)
    weights = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(Path(ckpt) / ADAPTER_FILES[1])).items()}
    save_file(weights, str(folder / ADAPTER_FILES[1]))
    config = json.loads((Path(ckpt) / ADAPTER_FILES[0]).read_text())
    config["base_model_name_or_path"] = lm_alias
    (folder / ADAPTER_FILES[0]).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return _write_meta(folder, meta, base_model=lm_alias, stored="float16 LoRA adapter")


def _write_meta(folder: Path, meta: dict, **changes) -> dict:
    """Write the part's serac.json (without the training machine's `init` path); returns the checkpoint's
    own meta with the changes, `init` kept, so the manifest can follow a run back to the run it started from."""
    write_meta(folder, {k: v for k, v in meta.items() if k != "init"} | changes)
    return meta | changes


def _manifest(folder: Path, scope_meta: dict, cf_meta: dict, metrics: dict) -> dict:
    parts = {name: _part_entry(folder / name) for name in ("scope", "counterfactual")}
    digest = hashlib.sha256("".join(h for p in parts.values() for h in sorted(p["files"].values())).encode())
    return {
        "version": f"{dt.date.today().isoformat()}-{digest.hexdigest()[:8]}",
        "parts": parts,
        "bytes_total": sum(p["bytes"] for p in parts.values()),
        "training": {
            "command": TRAIN_COMMAND,
            "scope": _training_entry(scope_meta),
            "counterfactual": _training_entry(cf_meta),
        },
        "metrics": metrics,
    }


def _part_entry(folder: Path) -> dict:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {
        "folder": folder.name,
        "files": {p.name: sha256_file(p) for p in files},
        "bytes": sum(p.stat().st_size for p in files),
    }


def _training_entry(meta: dict) -> dict:
    """How a part was trained: seed, settings, data files (sha256 of each) and split, steps and time; for a
    run that started from another checkpoint (`--init`, or the second source of an average), that run's
    entry too, under "init_run"."""
    config = meta.get("config", {})
    init = read_meta(meta["init"]) if meta.get("init") and Path(meta["init"]).is_dir() else None
    entry = {
        "seed": config.get("seed"),
        "settings": config,
        "init": meta.get("init"),
        "step": meta.get("step"),
        "train_minutes": meta.get("train_minutes"),
        "data": [_data_entry(d) for d in config.get("data", [])],
        "split": {
            "held_out_records_of_first_file": config.get("eval_records"),
            "records_per_file": config.get("limit"),
            "seed": config.get("seed"),
        },
        "metrics": meta.get("metrics", {}),
    }
    if meta.get("averaged"):  # core.training.average_scope: the two runs averaged and the second one's share
        entry["averaged"] = meta["averaged"]
    return ({"init_run": _training_entry(init)} if init else {}) | entry


def _data_entry(spec: str) -> dict:
    path, part = split_path(spec)
    return {"path": spec, "sha256": sha256_file(path) if path.is_file() else None, "records": [part.start, part.stop]}
