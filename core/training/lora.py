"""Fresh LoRA adapters on the counterfactual model for training (serving merges them: core.adapters).

Invariant: the base weights are frozen; only the adapters' weights train.
"""

from __future__ import annotations

import torch
from peft import LoraConfig, PeftModel, get_peft_model

# Every linear layer of a Llama-style block (SmolLM2, Gemma 3): attention and MLP.
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def attach_lora(model: torch.nn.Module, r: int, alpha: int, top_layers: int = 0, dropout: float = 0.05) -> PeftModel:
    """The model wrapped with fresh, trainable LoRA weights (the base weights are frozen); with
    `top_layers` > 0 only the last that many transformer blocks get adapters."""
    n_layers = int(model.config.num_hidden_layers)
    layers = list(range(max(0, n_layers - top_layers), n_layers)) if top_layers else None
    config = LoraConfig(
        task_type="CAUSAL_LM",
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(TARGET_MODULES),
        layers_to_transform=layers,
    )
    return get_peft_model(model, config)
