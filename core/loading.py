"""Builds a SeracEditor from a SeracConfig with real models (the only place that loads weights).

Invariant: the base and counterfactual models share one set of weights when they name the same
model, so the default system holds SmolLM2 in memory once.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.base_model import LMBaseModel
from core.config import SeracConfig
from core.counterfactual import PromptedCounterfactual
from core.device import resolve_device, resolve_dtype
from core.embedder import SentenceEmbedder
from core.lm import load_lm
from core.memory import FaissEditMemory
from core.packaged import resolve_model_path
from core.router import ScopeRouter
from core.scope import EmbeddingScopeClassifier, ScopeClassifier
from core.serac import SeracEditor


def build_editor(config: SeracConfig) -> SeracEditor:
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    embedder = SentenceEmbedder(resolve_model_path(config.embedder, config.cache_dir), device, config.batch_size)
    base_lm = load_lm(resolve_model_path(config.base_model, config.cache_dir), device, dtype)
    cf_path = resolve_model_path(config.counterfactual_model or config.base_model, config.cache_dir)
    cf_lm = load_lm(cf_path, device, dtype)
    memory = FaissEditMemory(embedder.dim)
    router = ScopeRouter(embedder, memory, build_classifier(config, device), config.top_k)
    return SeracEditor(
        embedder, memory, router,
        LMBaseModel(base_lm, config.max_new_tokens, config.batch_size),
        PromptedCounterfactual(cf_lm, config.max_new_tokens, config.batch_size, counterfactual_format(cf_path)),
        config.threshold,
    )


def build_classifier(config: SeracConfig, device: str) -> ScopeClassifier:
    """The scorer named by `config.scope_scorer` (validated by the config)."""
    return EmbeddingScopeClassifier(config.similarity_scale, config.similarity_center)


def counterfactual_format(path: str) -> str:
    """'zeroshot' for a checkpoint trained by train-counterfactual (it says so in serac.json), else 'fewshot'."""
    meta = Path(path) / "serac.json"
    if meta.is_file():
        return json.loads(meta.read_text()).get("prompt_format", "fewshot")
    return "fewshot"
