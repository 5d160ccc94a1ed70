"""A causal language model with batched greedy decoding: the engine under both answer models.

Invariant: `generate` is deterministic (greedy), returns one continuation per prompt in order,
and never includes the prompt. Loaded models are shared by (path, device, dtype) so the base and
the counterfactual model load the same weights once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.errors import ModelLoadError

_CACHE: dict[tuple[str, str, torch.dtype], "CausalLM"] = {}
_CACHE_LOCK = threading.Lock()


class CausalLM:
    """A tokenizer and a causal LM on one device, used for greedy continuations."""

    def __init__(self, path: str, device: str, dtype: torch.dtype):
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load language model '{path}': {str(exc).splitlines()[0]}") from exc
        self.path, self.device = path, device
        self.tokenizer.padding_side = "left"  # new tokens line up at the right edge of the batch
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], max_new_tokens: int, batch_size: int) -> list[str]:
        """Greedy continuation of each prompt, stopping early once every row has a line break."""
        out: list[str] = []
        for start in range(0, len(prompts), batch_size):
            out += self._generate_batch(list(prompts[start:start + batch_size]), max_new_tokens)
        return out

    def _generate_batch(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        ids = self.model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
            pad_token_id=self.tokenizer.pad_token_id, stop_strings=["\n"], tokenizer=self.tokenizer,
            top_p=None, top_k=None, temperature=None,
        )
        new = ids[:, enc["input_ids"].shape[1]:]  # (batch, new_tokens)
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)

    @torch.inference_mode()
    def target_logprob(self, prompts: Sequence[str], targets: Sequence[str]) -> list[float]:
        """Sum of log-probabilities of each target given its prompt (teacher forcing), one row at a time."""
        scores = []
        for prompt, target in zip(prompts, targets):
            p = self.tokenizer(prompt, return_tensors="pt").input_ids
            t = self.tokenizer(" " + target.strip(), add_special_tokens=False, return_tensors="pt").input_ids
            ids = torch.cat([p, t], dim=1).to(self.device)  # (1, P+T)
            logits = self.model(ids).logits[0, p.shape[1] - 1:-1].float()  # (T, vocab): predicts each target token
            logp = torch.log_softmax(logits, dim=-1).gather(1, t[0].to(self.device)[:, None])
            scores.append(float(logp.sum()))
        return scores


def load_lm(path: str, device: str, dtype: torch.dtype) -> CausalLM:
    """The shared CausalLM for these weights, loading it on first use."""
    key = (path, device, dtype)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = CausalLM(path, device, dtype)
        return _CACHE[key]
