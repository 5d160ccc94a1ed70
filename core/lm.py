"""A causal language model with batched greedy decoding: the engine under both answer models.

Invariant: `generate` is deterministic (greedy), returns one continuation per prompt in order,
and never includes the prompt; decoding of a row stops at its first line break or end-of-text.
Loaded models are shared by (path, device, dtype) so the base and the counterfactual model load
the same weights once.

Speed: prompts are tokenized once, sorted by length (less padding) and batched. When every prompt of
a call starts with the same long token prefix (the few-shot demonstrations of the counterfactual
prompt, about 150 of its 180 tokens), that prefix is run once, its key/value cache is kept, and
each batch only runs the tokens after it: batch layout is [shared prefix][left padding][suffix].
Decode steps (one new token per row) run through `decode_path`: "static" (default; core.decode's fused
float32 steps over a static key/value cache, the same greedy tokens as transformers' own forward; a single
row's products through numpy's OpenBLAS, core.products), "static-torch" (the same through torch's MKL), "int8"
(the same steps over int8 weights: faster, answers may differ) or "transformers" (the model's forward with
a DynamicCache, the reference). Models core.decode cannot run use the transformers path whatever is asked.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from core.batch_decode import decode_rows
from core.config import DECODE_PATHS, STATIC_DECODERS
from core.decode import LoraDeltas, StaticDecoder, StaticKV, supports
from core.errors import ModelLoadError

_CACHE: dict[tuple[str, str, torch.dtype], CausalLM] = {}
_CACHE_LOCK = threading.Lock()
MIN_SHARED_PREFIX = 32  # tokens; shorter common prefixes are not worth a cache
_PREFIX_MEMO = 4  # prefix caches kept per model


class CausalLM:
    """A tokenizer and a causal LM on one device, used for greedy continuations and target scores."""

    lora: LoraDeltas | None = None  # an adapter every row of this model steps with (core.adapters.AdaptedLM)

    def __init__(self, path: str, device: str, dtype: torch.dtype):
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load language model '{path}': {str(exc).splitlines()[0]}") from exc
        self._setup(tokenizer, model, path, device)

    def _setup(self, tokenizer, model, path: str, device: str) -> None:
        self.tokenizer, self.model, self.path, self.device = tokenizer, model, path, device
        self.tokenizer.padding_side = "left"  # new tokens line up at the right edge of the batch
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._stop = self._stop_token_mask()  # (vocab,) bool: tokens that end a line or the text
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        # special tokens (end of text, end of turn, a new turn) end an open-ended generation; unk does not
        self.end_ids = frozenset(self.tokenizer.all_special_ids) - {self.tokenizer.unk_token_id}
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", None) or 2048)
        self._prefixes: dict[tuple[int, ...], DynamicCache] = {}
        self._lock = threading.Lock()  # the prefix memo and the decoder are shared by threads
        self.decode_path, self._decoder = "static", None

    def use_decode(self, path: str) -> None:
        """Run later decode steps through this path (one of DECODE_PATHS); the decoder is built on first use."""
        if path not in DECODE_PATHS:
            raise ValueError(f"decode path must be one of {DECODE_PATHS}, got {path!r}")
        with self._lock:
            self.decode_path, self._decoder = path, None

    @property
    def decode_in_use(self) -> str:
        """The path decode steps really take: `decode_path`, or "transformers" for a model core.decode cannot run."""
        usable = supports(self.model) and (self.decode_path != "int8" or self.device == "cpu")
        return self.decode_path if usable else "transformers"

    @property
    def family(self) -> CausalLM:
        """The LM whose weights and decoder this one steps with (itself; an adapted LM's: its base), so rows of one
        family share decode passes (`decode_rows`)."""
        return self

    def decoder(self) -> StaticDecoder | None:
        """The static decoder of `decode_in_use` (built now if needed), or None for the transformers path."""
        with self._lock:
            path = self.decode_in_use
            if path == "transformers":
                return None
            if self._decoder is None:
                self._decoder = StaticDecoder(self.model, *STATIC_DECODERS[path])
            return self._decoder

    def _stop_token_mask(self) -> torch.Tensor:
        vocab = self.tokenizer.get_vocab()
        size = max(len(self.tokenizer), self.model.get_output_embeddings().weight.shape[0])
        mask = torch.zeros(size, dtype=torch.bool)
        for token, i in vocab.items():
            if "\n" in self.tokenizer.convert_tokens_to_string([token]):
                mask[i] = True
        for i in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id):
            if i is not None:
                mask[i] = True
        return mask.to(self.device)

    def chat_prompt(self, message: str) -> str:
        """The text that asks `message` as one user turn of the model's chat template."""
        return self.chat_text([("user", message)])

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], max_new_tokens: int, batch_size: int) -> list[str]:
        """Greedy continuation of each prompt, stopping early once every row has a line break."""
        rows = [self.tokenizer(p).input_ids for p in prompts]
        shared = _shared_length(rows)
        out: list[str | None] = [None] * len(rows)
        for batch in _length_sorted_batches(rows, batch_size):
            new = self._greedy([rows[i] for i in batch], shared, max_new_tokens)
            for i, text in zip(batch, self.tokenizer.batch_decode(new, skip_special_tokens=True)):
                out[i] = text
        return out  # type: ignore[return-value]

    def chat_text(self, messages: Sequence[tuple[str, str]]) -> str:
        """The text that asks a whole chat ((role, content) turns) through the model's chat template."""
        chat = [{"role": role, "content": content} for role, content in messages]
        return self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)

    @torch.inference_mode()
    def stream_tokens(self, ids: list[int], max_new_tokens: int, pick: Callable[[torch.Tensor], int]) -> Iterator[int]:
        """The tokens continuing one prompt, one at a time; `pick(logits (vocab,))` chooses each. Ends after
        max_new_tokens or a token of `end_ids`; the caller may stop reading earlier. Same forward passes as
        `generate`, so greedy picks give the same tokens."""
        logits, (mask, positions, cache) = self._decoding(*self._forward([ids], 0))
        for step in range(max_new_tokens):
            token = pick(logits[0, -1])
            yield token
            if token in self.end_ids or step == max_new_tokens - 1:
                return
            logits, mask, positions = self._step(torch.tensor([[token]], device=self.device), mask, positions, cache)

    def greedy_until(
        self, rows: list[list[int]], limits: Sequence[int], finished: Callable[[int, list[int]], bool]
    ) -> list[list[int]]:
        """Greedy tokens for several prompts in one batch: row i ends after limits[i] tokens, a token of `end_ids`,
        or once `finished(i, its tokens)`. Each row gets the tokens `stream_tokens` gives it alone with argmax picks."""
        new: list[list[int]] = [[] for _ in rows]

        def take(i: int, token: int) -> bool:
            new[i].append(token)
            return token in self.end_ids or len(new[i]) >= limits[i] or finished(i, new[i])

        self.decode_together(rows, [_argmax] * len(rows), take)
        return new

    @torch.inference_mode()
    def decode_together(
        self,
        rows: list[list[int]],
        picks: Sequence[Callable[[torch.Tensor], int]],
        take: Callable[[int, int], bool],
    ) -> None:
        """Several prompts decoded in one batch (shared prefix, left padding): row i's next token is `picks[i](its
        logits (vocab,))`, handed to `take(i, token)`, which says whether row i has ended; an ended row leaves the
        batch. Each row gets the tokens `stream_tokens` gives it alone with the same pick."""
        decode_rows([(self, ids, picks[i], lambda token, i=i: take(i, token)) for i, ids in enumerate(rows)])

    def prompt_state(self, rows: list[list[int]]):
        """Logits (B, 1, vocab) after each prompt and the state to decode on (mask, positions, cache), the prompts
        run in one batch (shared prefix, left padding)."""
        return self._decoding(*self._forward(rows, _shared_length(rows)))

    @torch.inference_mode()
    def target_logprobs(
        self, prompts: Sequence[str], alternatives: Sequence[Sequence[str]], batch_size: int = 16
    ) -> list[list[float]]:
        """For each prompt, the summed log-probability of each of its alternative targets.

        The prompt is run once per row; each alternative then continues from a copy of its cache.
        """
        rows = [self.tokenizer(p).input_ids for p in prompts]
        shared = _shared_length(rows)
        scores: list[list[float]] = [[] for _ in rows]
        for batch in _length_sorted_batches(rows, batch_size):
            logits, state = self._forward([rows[i] for i in batch], shared)
            first = torch.log_softmax(logits[:, -1].float(), dim=-1)  # (B, vocab): the first target token
            n_alt = max(len(alternatives[i]) for i in batch)
            for j in range(n_alt):
                targets = [self._target_ids(alternatives[i][j]) if j < len(alternatives[i]) else [] for i in batch]
                values = self._continuation_logprob(first, state, targets, last=j == n_alt - 1)
                for b, i in enumerate(batch):
                    if j < len(alternatives[i]):
                        scores[i].append(values[b])
        return scores

    def _target_ids(self, target: str) -> list[int]:
        return self.tokenizer(" " + target.strip(), add_special_tokens=False).input_ids

    def _continuation_logprob(self, first: torch.Tensor, state, targets: list[list[int]], last: bool) -> list[float]:
        """Summed log-probabilities of right-padded target rows continuing a batch's cached prompts."""
        mask, positions, cache = state
        width = max(max((len(t) for t in targets), default=0), 1)
        ids = torch.full((len(targets), width), self.tokenizer.pad_token_id, dtype=torch.long, device=self.device)
        t_mask = torch.zeros((len(targets), width), dtype=torch.long, device=self.device)
        for b, t in enumerate(targets):
            ids[b, : len(t)] = torch.tensor(t, dtype=torch.long)
            t_mask[b, : len(t)] = 1
        out = [float(first[b, t[0]]) if t else 0.0 for b, t in enumerate(targets)]
        if width > 1:
            cache = cache if last else copy.deepcopy(cache)
            pos = positions[:, -1:] + 1 + torch.arange(width, device=self.device)[None]
            logits = self.model(
                input_ids=ids,
                attention_mask=torch.cat([mask, t_mask], dim=1),
                position_ids=pos,
                past_key_values=cache,
                use_cache=True,
            ).logits  # (B, width, vocab)
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # position k predicts target token k+1
            for b, t in enumerate(targets):
                if len(t) > 1:
                    out[b] += float(logp[b, : len(t) - 1].gather(1, ids[b, 1 : len(t), None]).sum())
        return out

    def _greedy(self, rows: list[list[int]], shared: int, max_new_tokens: int) -> list[list[int]]:
        """New token ids per row; a row leaves the batch once it has emitted a line break or end-of-text."""
        logits, (mask, positions, cache) = self._decoding(*self._forward(rows, shared))
        alive = torch.arange(len(rows), device=self.device)
        new: list[list[int]] = [[] for _ in rows]
        for step in range(max_new_tokens):
            token = logits[:, -1].argmax(-1)  # (alive,)
            for row, t in zip(alive.tolist(), token.tolist()):
                new[row].append(t)
            stop = self._stop[token]
            if bool(stop.all()) or step == max_new_tokens - 1:
                break
            if bool(stop.any()):  # drop finished rows: their later tokens are never used
                keep = (~stop).nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                alive, token, mask, positions = alive[keep], token[keep], mask[keep], positions[keep]
            logits, mask, positions = self._step(token[:, None], mask, positions, cache)
        return new

    def _step(self, tokens: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache):
        """One decode step: each row's next token (B, 1) in; its logits (B, 1, vocab) and the mask and
        positions grown by that token out (the cache grows in place)."""
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        positions = positions[:, -1:] + 1
        if isinstance(cache, StaticKV):
            return cache.decoder.step(tokens[:, 0], positions[:, 0], mask, cache)[:, None], mask, positions
        logits = self.model(
            input_ids=tokens, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True
        ).logits
        return logits, mask, positions

    def _decoding(self, logits: torch.Tensor, state):
        """The prompt's state for decode steps: its DynamicCache moved into a StaticKV unless the path is
        transformers'."""
        mask, positions, cache = state
        decoder = self.decoder()
        return logits, (mask, positions, cache if decoder is None else decoder.adopt(cache, mask.shape[0], self.lora))

    def _forward(self, rows: list[list[int]], shared: int):
        """Logits at each row's last position, (B, 1, vocab), and the state to continue decoding."""
        suffixes = [r[shared:] for r in rows]
        width = max(len(s) for s in suffixes)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        for b, s in enumerate(suffixes):
            ids[b, width - len(s) :] = torch.tensor(s)
            mask[b, shared + width - len(s) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(1) - 1).clamp(min=0)[:, shared:]  # pads take no position
        cache = self._prefix_cache(tuple(rows[0][:shared]), len(rows)) if shared else DynamicCache()
        logits = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits  # only the next token
        return logits, (mask, positions, cache)

    def _prefix_cache(self, prefix: tuple[int, ...], batch: int) -> DynamicCache:
        """A fresh copy of the prefix's key/value cache, repeated for `batch` rows."""
        with self._lock:
            if prefix not in self._prefixes:
                cache = DynamicCache()
                self.model(input_ids=torch.tensor([prefix], device=self.device), past_key_values=cache, use_cache=True)
                if len(self._prefixes) >= _PREFIX_MEMO:
                    self._prefixes.pop(next(iter(self._prefixes)))
                self._prefixes[prefix] = cache
            cache = copy.deepcopy(self._prefixes[prefix])
        cache.batch_repeat_interleave(batch)
        return cache


def _argmax(logits: torch.Tensor) -> int:
    return int(logits.argmax())


def _shared_length(rows: list[list[int]]) -> int:
    """Tokens every row starts with (leaving each row at least one token of its own), or 0 if few."""
    if len(rows) < 2:
        return 0
    first, n = rows[0], min(len(r) for r in rows) - 1
    for r in rows[1:]:
        k = 0
        while k < n and r[k] == first[k]:
            k += 1
        n = k
    return n if n >= MIN_SHARED_PREFIX else 0


def _length_sorted_batches(rows: list[list[int]], batch_size: int) -> list[list[int]]:
    """Row indices grouped into batches of similar length (less padding), longest first."""
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


def load_lm(path: str, device: str, dtype: torch.dtype) -> CausalLM:
    """The shared CausalLM for these weights, loading it on first use."""
    key = (path, device, dtype)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = CausalLM(path, device, dtype)
        return _CACHE[key]
