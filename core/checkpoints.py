"""Training checkpoints: a folder holding the weights, a `serac.json` (what was trained, with which
settings, and what it measured) and, while training, a resumable `trainer_state.pt`.

Layout of a checkpoint folder:
- `serac.json`: {"kind": "scope" | "counterfactual", "config": {...}, "metrics": {...}, "step": N,
  "complete": bool, ...}; the scope kind also carries the chosen "threshold", the counterfactual
  kind its "prompt_format".
- the model files (`save_pretrained` output: a sequence classifier, or a LoRA adapter).
- `trainer_state.pt`: optimizer, scheduler, step and RNG states, so a run picks up where it stopped.

Invariant: a folder is written in place of the old one only once complete: files go to a temporary
sibling that is renamed into place, so a crash mid-save leaves the previous checkpoint loadable.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.errors import ModelLoadError

META_FILE = "serac.json"
STATE_FILE = "trainer_state.pt"


def read_meta(folder: str | Path) -> dict | None:
    """The checkpoint's serac.json, or None when the folder holds no checkpoint."""
    return read_json(Path(folder) / META_FILE, "checkpoint metadata")


def read_json(path: Path, what: str) -> dict | None:
    """A JSON file's content, None when it is absent; ModelLoadError (naming `what`) when unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: unreadable {what} ({exc})") from exc


def require_meta(folder: str | Path, kind: str) -> dict:
    """The serac.json of a checkpoint of this kind, or ModelLoadError saying what is wrong."""
    meta = read_meta(folder)
    if meta is None:
        raise ModelLoadError(f"{folder}: not a checkpoint folder (no {META_FILE}); train one with app.py train-{kind}")
    if meta.get("kind") != kind:
        raise ModelLoadError(f"{folder}: a {meta.get('kind')!r} checkpoint, expected {kind!r}")
    return meta


def save_checkpoint(folder: str | Path, meta: dict, write_model: Callable[[Path], None],
                    state: dict | None = None) -> Path:
    """Write model files (via `write_model(tmp_folder)`), serac.json and the trainer state atomically."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write_model(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        if state is not None:
            torch.save(state, tmp / STATE_FILE)
        old = folder.with_name(f".{folder.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_state(folder: str | Path) -> dict | None:
    """The trainer state saved with a checkpoint, or None."""
    path = Path(folder) / STATE_FILE
    return torch.load(path, weights_only=False) if path.is_file() else None


def rng_state() -> dict:
    """Every random generator's state, for resuming a run exactly."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
