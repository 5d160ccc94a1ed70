"""LoRA adapters on the counterfactual model for serving (core.training.lora attaches them).

A counterfactual checkpoint (app.py train-counterfactual) is either a LoRA adapter (a few MB,
`"adapter": true` in its serac.json) applied to the configured base weights, or a full model folder.

Serving keeps a plain LoRA adapter unmerged over the shared base weights (`AdaptedLM`): its own module tree whose
leaf modules (projections, norms, embeddings) are the base model's own objects, with peft's LoRA layers injected
into that tree only. Its prompts run through peft's unmerged arithmetic, y = x W^T + ((x A^T) B^T) * scale, and its
decode steps through the base model's static decoder with the same delta (core.decode.LoraDeltas), so the base
model's rows and the counterfactual model's rows of a batch share one pass (core.lm.decode_rows), and no second
copy of the weights is held (about 540 MB for SmolLM2-135M in float32). An adapter that is not plain LoRA (DoRA, a
LoRA bias) is merged into a private copy of the weights, as before.

Invariant: the base model's weights never change, and its answers do not depend on whether an adapter is loaded:
the adapter lives in the adapted tree alone (merging never runs on shared modules).
"""

from __future__ import annotations

import copy
import warnings

import torch
from peft import PeftModel

from core.checkpoints import require_meta
from core.decode import LoraDeltas, StaticDecoder
from core.errors import ModelLoadError
from core.lm import CausalLM, load_lm


class AdaptedLM(CausalLM):
    """A counterfactual LM as a LoRA adapter over a base CausalLM's own weights (unmerged)."""

    def __init__(self, base: CausalLM, model, lora: LoraDeltas, path: str):
        self._setup(base.tokenizer, model, path, base.device)
        self.base, self.lora = base, lora

    @property
    def family(self) -> CausalLM:
        return self.base

    def use_decode(self, path: str) -> None:
        """The adapter steps with its base's decoder, so the path is the base's (one setting for the family)."""
        self.base.use_decode(path)

    @property
    def decode_in_use(self) -> str:
        return self.base.decode_in_use

    def decoder(self) -> StaticDecoder | None:
        return self.base.decoder()


def load_counterfactual_lm(checkpoint: str, base_path: str, device: str, dtype: torch.dtype) -> tuple[CausalLM, str]:
    """(the trained counterfactual LM, its prompt format) from a train-counterfactual checkpoint."""
    meta = require_meta(checkpoint, "counterfactual")
    fmt = meta.get("prompt_format", "zeroshot")
    if not meta.get("adapter"):
        return load_lm(checkpoint, device, dtype), fmt
    base = load_lm(base_path, device, dtype)
    base.decoder()  # fuse the shared weights first: the adapted tree must see the tensors the decoder reads
    tree = _same_leaves(base.model)
    _apply(tree, checkpoint, base_path)
    lora = LoraDeltas.from_model(tree)
    if lora is not None:
        return AdaptedLM(base, tree, lora, f"{base_path}+{checkpoint}"), fmt
    return merged_lm(checkpoint, base_path, device, dtype), fmt  # not plain LoRA


def merged_lm(checkpoint: str, base_path: str, device: str, dtype: torch.dtype) -> CausalLM:
    """The adapter merged into a private copy of the base weights (W + B A * scale): what serving ran before the
    unmerged path, and still runs for an adapter that is not plain LoRA."""
    lm = CausalLM(base_path, device, dtype)
    lm.model = _apply(lm.model, checkpoint, base_path).merge_and_unload().eval()
    lm.path = f"{base_path}+{checkpoint}"
    return lm


def _same_leaves(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the module tree whose leaf modules (and so every weight) are the original's own objects: peft may
    replace a projection of the copy with a LoRA layer around it without touching the original tree."""
    memo = {id(m): m for m in model.modules() if next(m.children(), None) is None}
    memo |= {id(t): t for t in (*model.parameters(), *model.buffers())}
    return copy.deepcopy(model, memo).eval()


def _apply(model: torch.nn.Module, checkpoint: str, base_path: str) -> PeftModel:
    """peft's LoRA layers of `checkpoint` injected into `model` (unmerged), or ModelLoadError."""
    try:
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v6; nothing for users to do
            warnings.simplefilter("ignore", FutureWarning)
            return PeftModel.from_pretrained(model, checkpoint).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot apply adapter {checkpoint} to {base_path}: {str(exc).splitlines()[0]}") from exc
