"""Reading a checkpoint folder's `serac.json`: what was trained, with which settings, what it measured.

Layout of a checkpoint folder:
- `serac.json`: {"kind": "scope" | "counterfactual", "config": {...}, "metrics": {...}, "step": N,
  "complete": bool, ...}; the scope kind also carries the chosen "threshold", the counterfactual
  kind its "prompt_format"; a shipped part also "over" (the packaged encoder it loads over).
- the model files (`save_pretrained` output: a sequence classifier, or a LoRA adapter; a shipped
  scope part: only its layers, core.cross_encoder.LAYERS_FILE).
Writing and resuming checkpoints is training's business (core.training.checkpoints).

Invariant: every reader of a serac.json or of the shipped manifest goes through `read_json`, so an
unreadable file always gives the same one-line ModelLoadError.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import ModelLoadError

META_FILE = "serac.json"


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


def write_meta(folder: Path, meta: dict) -> None:
    """Write a checkpoint's serac.json (sorted keys, readable indentation)."""
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


def require_meta(folder: str | Path, kind: str) -> dict:
    """The serac.json of a checkpoint of this kind, or ModelLoadError saying what is wrong."""
    meta = read_meta(folder)
    if meta is None:
        raise ModelLoadError(f"{folder}: not a checkpoint folder (no {META_FILE}); train one with app.py train-{kind}")
    if meta.get("kind") != kind:
        raise ModelLoadError(f"{folder}: a {meta.get('kind')!r} checkpoint, expected {kind!r}")
    return meta
