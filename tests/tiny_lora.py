"""A tiny real LoRA adapter over the tiny LM of tests/tiny_models.py, saved as train-counterfactual saves one."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

# prompts of unequal lengths for the tiny LM and its adapter (lower case: its word-level vocabulary)
PROMPTS = [
    "the capital of veltria is",
    "who",
    "where is the tower of brin it is in the city of paris and the capital of",
    "marta quell plays the",
    "fact : the mother tongue of danielle darrieux is -> english query : what is the language of danielle",
    "osmund",
]
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def save_tiny_adapter(base: Path, out: Path, dora: bool = False) -> Path:
    """A LoRA adapter over the top layer of the tiny LM, its B matrices random (peft starts them at zero, which
    would change nothing), saved as train-counterfactual saves one (serac.json says: an adapter)."""
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=PROJECTIONS, layers_to_transform=[1], use_dora=dora)
    peft_model = get_peft_model(model, config)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)
    peft_model.save_pretrained(out)
    meta = {"kind": "counterfactual", "adapter": True, "prompt_format": "zeroshot", "complete": True}
    (out / "serac.json").write_text(json.dumps(meta))
    return out
