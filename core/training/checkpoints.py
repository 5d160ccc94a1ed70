"""Writing training checkpoints and resuming runs: the folder (see core.checkpoints for its layout)
plus, while training, a resumable `trainer_state.pt` (optimizer, scheduler, step and RNG states).

Invariant: a folder is written in place of the old one only once complete: files go to a temporary
sibling that is renamed into place, so a crash mid-save leaves the previous checkpoint loadable.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.checkpoints import write_meta

STATE_FILE = "trainer_state.pt"


def save_checkpoint(
    folder: str | Path, meta: dict, write_model: Callable[[Path], None], state: dict | None = None
) -> Path:
    """Write model files (via `write_model(tmp_folder)`), serac.json and the trainer state atomically."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write_model(tmp)
        write_meta(tmp, meta)
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
