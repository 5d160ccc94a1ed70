"""The trained SERAC parts shipped in the repository (`models/`), and the manifest that vouches for them.

Layout (written by `app.py export-parts`, core.training.export):
- `models/manifest.json`: {"version", "parts": {name: {"folder", "files": {file: sha256}, "bytes"}},
  "training": {command, seed, settings, data files with sha256, split}, "metrics": {...}};
- `models/scope/`: the cross-encoder's layers above the packaged MiniLM embeddings, float16
  (`scope.safetensors`), and its serac.json (threshold, the packaged encoder it loads over);
- `models/counterfactual/`: a LoRA adapter over the packaged SmolLM2, float16, and its serac.json.

Invariant: a part folder listed in a manifest beside it loads only when every listed file is present
with the listed sha256; otherwise ModelLoadError names the first bad file in one line. Folders without
a manifest (fresh training checkpoints) load unchecked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.checkpoints import read_json
from core.errors import ModelLoadError

MANIFEST = "manifest.json"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of the models folder `folder` (or None when it has none)."""
    return read_json(Path(folder) / MANIFEST, "manifest")


def manifest_entry(part_folder: str | Path) -> dict | None:
    """The part's entry in the manifest beside it (with the manifest's "version"), or None when no
    manifest lists it. Reads the manifest only; `verify_part` checks the files."""
    part_folder = Path(part_folder)
    manifest = read_manifest(part_folder.parent)
    entry = next((p for p in (manifest or {}).get("parts", {}).values() if p.get("folder") == part_folder.name), None)
    return None if entry is None else {**entry, "version": manifest.get("version")}


def verify_part(part_folder: str | Path) -> dict | None:
    """Check a part folder against the manifest beside it; its manifest entry (with "version"), or None
    when no manifest lists it. Raises ModelLoadError on a missing, truncated or altered file."""
    part_folder = Path(part_folder)
    entry = manifest_entry(part_folder)
    if entry is None:
        return None
    for name, want in sorted(entry["files"].items()):
        path = part_folder / name
        if not path.is_file():
            raise ModelLoadError(
                f"{path}: missing (listed in {part_folder.parent / MANIFEST}); "
                f"restore it with `git checkout -- {part_folder}`"
            )
        if sha256_file(path) != want:
            raise ModelLoadError(
                f"{path}: sha256 differs from {part_folder.parent / MANIFEST} (truncated or "
                f"altered); restore it with `git checkout -- {part_folder}`"
            )
    return entry


def verify_parts(config) -> None:
    """The trained parts a SeracConfig names, checked against their manifest (`verify_part`: the sha256 of every
    file, about 0.02 s): a light module, so a command refuses a bad file before it imports the model stack."""
    if config.counterfactual_checkpoint:
        verify_part(config.counterfactual_checkpoint)
    if config.scope_scorer == "cross-encoder":
        verify_part(config.scope_checkpoint)
