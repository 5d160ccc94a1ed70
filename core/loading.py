"""Builds a SeracEditor from a SeracConfig with real models (the only place that loads weights).

Invariant: the base and counterfactual models share one set of weights when they name the same
model, so the default system holds SmolLM2 in memory once. A trained counterfactual checkpoint
(LoRA) gets its own merged copy; the base model stays untouched. Without checkpoints the untrained
defaults load, and `editor.trained_parts` says which parts are trained (for the UI). A remote base
('openai:URL', core.remote_base) loads no local base weights at all; the counterfactual model still loads
(`config.counterfactual_name`).
"""

from __future__ import annotations

from core.adapters import load_counterfactual_lm
from core.base_model import BaseModel, LMBaseModel
from core.checkpoints import read_meta, require_meta
from core.config import SeracConfig
from core.counterfactual import PromptedCounterfactual
from core.cross_encoder import CrossEncoderScopeClassifier
from core.device import resolve_device, resolve_dtype
from core.embedder import SentenceEmbedder
from core.lm import load_lm
from core.memory import FaissEditMemory
from core.packaged import resolve_model_path
from core.remote_base import RemoteBase
from core.router import ScopeRouter, SimilarityCutoff
from core.scope import EmbeddingScopeClassifier, ScopeClassifier
from core.serac import SeracEditor
from core.shipped import manifest_entry, verify_part, verify_parts


def build_editor(config: SeracConfig, verified: bool = False) -> SeracEditor:
    """The whole system the config names. The trained parts' files are checked against their manifest first (an
    altered or missing file is refused before any model loads), once: `verified` says the caller has just done
    it (cli.context.load_editor does, before importing this module)."""
    if not verified:
        verify_parts(config)
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    embedder = SentenceEmbedder(
        resolve_model_path(config.embedder, config.cache_dir),
        device,
        config.batch_size,
        config.fast_routing,
        config.cache_dir,
        config.embedder,
    )
    cf_path = resolve_model_path(config.counterfactual_name, config.cache_dir)
    if config.counterfactual_checkpoint:
        cf_lm, cf_format = load_counterfactual_lm(config.counterfactual_checkpoint, cf_path, device, dtype)
    else:
        cf_lm, cf_format = load_lm(cf_path, device, dtype), counterfactual_format(cf_path)
    cf_lm.use_decode(config.decode_path)
    memory = FaissEditMemory(embedder.dim)
    router = ScopeRouter(embedder, memory, _classifier(config, device), config.top_k, similarity_cutoff(config))
    editor = SeracEditor(
        embedder,
        memory,
        router,
        build_base(config, device, dtype),
        PromptedCounterfactual(cf_lm, config.max_new_tokens, config.batch_size, cf_format),
        config.threshold,
    )
    editor.trained_parts = trained_parts(config)
    return editor


def build_base(config: SeracConfig, device: str, dtype) -> BaseModel:
    """The base model: an OpenAI-compatible server for 'openai:URL' (no local weights load), else a local LM."""
    if config.remote_base_url:
        return RemoteBase(config)
    lm = load_lm(resolve_model_path(config.base_model, config.cache_dir), device, dtype)
    lm.use_decode(config.decode_path)
    return LMBaseModel(lm, config.max_new_tokens, config.batch_size)


def build_classifier(config: SeracConfig, device: str) -> ScopeClassifier:
    """The scorer named by `config.scope_scorer` (validated by the config); a shipped part is checked
    against its manifest first and loads over the packaged encoder its serac.json names."""
    if config.scope_scorer == "cross-encoder":
        verify_part(config.scope_checkpoint)
    return _classifier(config, device)


def _classifier(config: SeracConfig, device: str) -> ScopeClassifier:
    """build_classifier without the manifest check (build_editor has made it)."""
    if config.scope_scorer == "cross-encoder":
        meta = require_meta(config.scope_checkpoint, "scope")
        init = resolve_model_path(meta["over"], config.cache_dir) if meta.get("over") else None
        return CrossEncoderScopeClassifier.load(
            config.scope_checkpoint, device, max(config.batch_size, 32), init, config.fast_routing, config.cache_dir
        )
    return EmbeddingScopeClassifier(config.similarity_scale, config.similarity_center)


def similarity_cutoff(config: SeracConfig) -> SimilarityCutoff | None:
    """Fast routing's cut-off, for the cross-encoder only (the embedding scorer costs nothing to ask)."""
    if not config.fast_routing or config.scope_scorer != "cross-encoder":
        return None
    return SimilarityCutoff(config.skip_similarity, config.skip_min_threshold, config.skip_gap)


def trained_parts(config: SeracConfig) -> dict[str, dict]:
    """Which learned parts are trained, for the UI: {"scope_classifier": {...}, "counterfactual": {...}},
    each with "trained" (bool), "checkpoint" (folder or None) and a one-line "description"."""
    scope = read_meta(config.scope_checkpoint) if config.scope_scorer == "cross-encoder" else None
    cf = read_meta(config.counterfactual_checkpoint) if config.counterfactual_checkpoint else None
    return {
        "scope_classifier": _part(
            scope,
            config.scope_checkpoint,
            "trained cross-encoder",
            "untrained default: calibrated MiniLM cosine similarity",
        ),
        "counterfactual": _part(
            cf,
            config.counterfactual_checkpoint,
            "trained LoRA counterfactual model",
            "untrained default: the base LM with a four-shot prompt",
        ),
    }


def _part(meta: dict | None, folder: str | None, trained: str, untrained: str) -> dict:
    if meta is None:
        return {"trained": False, "checkpoint": None, "version": None, "description": untrained}
    shipped = manifest_entry(folder)  # build_editor has checked the files; this reads the version only
    version = shipped["version"] if shipped else None
    where = f"shipped version {version}" if version else f"{folder}, step {meta.get('step')}"
    return {"trained": True, "checkpoint": str(folder), "version": version, "description": f"{trained} ({where})"}


def counterfactual_format(path: str) -> str:
    """'zeroshot' for a checkpoint trained by train-counterfactual (it says so in serac.json), else 'fewshot'."""
    return (read_meta(path) or {}).get("prompt_format", "fewshot")
