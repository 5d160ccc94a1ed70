"""LoRA adapters on the counterfactual model, merged for serving (core.training.lora attaches them).

A counterfactual checkpoint (app.py train-counterfactual) is either a LoRA adapter (a few MB,
`"adapter": true` in its serac.json) applied to the configured base weights, or a full model folder.
Serving merges the adapter into a private copy of the weights, so the base model (which may share
the same path) stays untouched and answers as before.

Invariant: the base model's weights never change: the adapted model is always a separate instance.
"""

from __future__ import annotations

import warnings

import torch
from peft import PeftModel

from core.checkpoints import require_meta
from core.errors import ModelLoadError
from core.lm import CausalLM, load_lm


def load_counterfactual_lm(checkpoint: str, base_path: str, device: str, dtype: torch.dtype) -> tuple[CausalLM, str]:
    """(the trained counterfactual LM, its prompt format) from a train-counterfactual checkpoint."""
    meta = require_meta(checkpoint, "counterfactual")
    if not meta.get("adapter"):
        return load_lm(checkpoint, device, dtype), meta.get("prompt_format", "zeroshot")
    lm = CausalLM(base_path, device, dtype)  # a private copy: merging must not touch the shared base
    try:
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v6; nothing for users to do
            warnings.simplefilter("ignore", FutureWarning)
            lm.model = PeftModel.from_pretrained(lm.model, checkpoint).merge_and_unload().eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot apply adapter {checkpoint} to {base_path}: {str(exc).splitlines()[0]}") from exc
    lm.path = f"{base_path}+{checkpoint}"
    return lm, meta.get("prompt_format", "zeroshot")
