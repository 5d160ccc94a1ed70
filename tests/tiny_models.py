"""Tiny real components for fast tests: a word-level tokenizer and a 2-layer Llama with random weights, and a
tiny BERT cross-encoder over MiniLM's tokenizer.

They go through the same loading code as the real models (saved to a folder, loaded by path), so a
test that uses them exercises CausalLM, LMBaseModel and PromptedCounterfactual for real, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from core.packaged import MINILM, resolve_model_path

WORDS = [
    "the",
    "of",
    "is",
    "a",
    "in",
    "to",
    "and",
    "capital",
    "mother",
    "tongue",
    "language",
    "city",
    "fact",
    "query",
    "answer",
    "according",
    "->",
    "english",
    "french",
    "paris",
    "osmund",
    "veltria",
    "danielle",
    "darrieux",
    "where",
    "from",
    "people",
    "speak",
    "who",
    "what",
]


def save_tiny_lm(folder: Path, seed: int = 0) -> Path:
    """Write a tokenizer and a randomly initialised tiny causal LM to `folder`; returns it."""
    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, ":": 4, ".": 5, ",": 6, "?": 7}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()  # words and punctuation runs
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_editor(folder: Path, threshold: float = 0.5, embedder=None):
    """A real SeracEditor on tiny parts: a hashing embedder, a faiss memory and one tiny LM for both models."""
    from core.base_model import LMBaseModel
    from core.counterfactual import PromptedCounterfactual
    from core.lm import CausalLM
    from core.memory import FaissEditMemory
    from core.router import ScopeRouter
    from core.scope import EmbeddingScopeClassifier
    from core.serac import SeracEditor
    from tests.conftest import HashingEmbedder

    if not (folder / "config.json").exists():
        save_tiny_lm(folder)
    embedder = embedder or HashingEmbedder()
    lm = CausalLM(str(folder), "cpu", torch.float32)
    memory = FaissEditMemory(embedder.dim)
    router = ScopeRouter(embedder, memory, EmbeddingScopeClassifier(12.25, 0.669), top_k=5)
    return SeracEditor(embedder, memory, router, LMBaseModel(lm, 4, 8), PromptedCounterfactual(lm, 4, 8), threshold)


def tiny_bert_classifier(seed: int = 0):
    """(a tiny random-weight BERT with a one-logit head in eval mode, MiniLM's packaged tokenizer): the cross-encoder
    scope classifier's shape in a few kB."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MINILM, Path(".")))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    return BertForSequenceClassification(config).eval(), tokenizer
