"""One decode loop over the rows of one model family (core.lm.CausalLM.family): the base LM's rows and its unmerged
adapter's (core.adapters.AdaptedLM) step together; a row that ends leaves the batch, and new rows may join between
tokens (continuous batching: `join`), so the batch stays full while requests keep coming.

A row is (lm, prompt ids, pick, take): `pick(logits (vocab,))` chooses its next token and `take(token)` says whether
it has ended. The first rows run their prompts through the LM's prompt pass (one batch per LM). Rows that join a
live batch wait for its next step, whose products over the weights also run their prompts (StaticDecoder.
step_joining: a prompt costs its rows of a pass that reads the weights anyway, not a pass of its own; 150
CounterFact rows on SmolLM2 joining one or two per step took 47.6 s instead of 52.6 s here, the same answers); their
cache columns are then right-aligned with the batch's (core.decode.stack), the columns to their left masked.

Invariants:
- each row gets the tokens CausalLM.stream_tokens gives it alone with the same pick (greedy: the same tokens);
- rows join only where the cache is a StaticKV of the family's one decoder; with the transformers path, or LMs of
  different families, each LM's rows run one loop after another and `join` is never asked;
- when rows join, the leading columns no live row attends to are dropped, so a loop fed for long stays short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from core.decode import StaticKV, stack

#: (lm, prompt token ids, pick(logits) -> token, take(token) -> ended)
DecodeRow = tuple[Any, list[int], Callable[[torch.Tensor], int], Callable[[int], bool]]


class RowBatch:
    """Live rows, their last logits and the decode state (mask, positions, cache) they share; rows waiting to join
    (`pending`), whose prompts run in the next step."""

    def __init__(self) -> None:
        self.rows: list[DecodeRow] = []
        self.pending: list[DecodeRow] = []
        self.logits = self.mask = self.positions = self.cache = None

    @property
    def joinable(self) -> bool:
        return isinstance(self.cache, StaticKV)

    def add(self, rows: Sequence[DecodeRow]) -> None:
        """Rows join: beside a live StaticKV batch, they wait for the next step, which runs their prompts in the pass
        over the weights it makes anyway (StaticDecoder.step_joining); otherwise their prompts run now (one batch
        per LM)."""
        if self.rows and self.joinable:
            self.pending += rows
            return
        groups: dict[int, list[DecodeRow]] = {}
        for row in rows:
            groups.setdefault(id(row[0]), []).append(row)
        states = [(group[0][0], group[0][0].prompt_state([r[1] for r in group])) for group in groups.values()]
        if not self.rows and len(states) == 1:  # one LM: its own state, whatever its cache (transformers' too)
            self.logits, (self.mask, self.positions, self.cache) = states[0][1]
        else:
            parts = [(mask, positions[:, -1:], kv) for _, (_, (mask, positions, kv)) in states]
            logits = [lg for _, (lg, _) in states]
            if self.rows:
                parts.insert(0, self._trimmed())
                logits.insert(0, self.logits)
            self.mask, self.positions, self.cache = stack(parts)
            self.logits = torch.cat(logits)
        self.rows += [r for group in groups.values() for r in group]

    def _trimmed(self) -> tuple[torch.Tensor, torch.Tensor, StaticKV]:
        """The live rows' state without the leading columns none of them attends to."""
        dead = int((self.mask.sum(0) == 0).cumprod(0).sum())
        kv = self.cache
        if dead:
            kv.keys, kv.values, kv.length = kv.keys[:, :, :, dead:], kv.values[:, :, :, dead:], kv.length - dead
        return self.mask[:, dead:], self.positions[:, -1:], kv

    def step(self) -> None:
        """Each row picks its next token; ended rows leave; the rest run one step together, with the prompts of the
        rows waiting to join."""
        last = self._pick() if self.rows else None
        if self.pending:
            self._join(last)
        elif last is not None:
            # a StaticKV steps through its decoder whichever LM's _step runs; a DynamicCache's rows are all of one LM
            self.logits, self.mask, self.positions = self.rows[0][0]._step(last, self.mask, self.positions, self.cache)

    def _pick(self) -> torch.Tensor | None:
        """Each live row's next token; ended rows leave the batch (their cache rows are dropped). The tokens of the
        rows left (B, 1), or None when every row ended."""
        tokens = [pick(self.logits[k, -1]) for k, (_, _, pick, _) in enumerate(self.rows)]
        keep = [k for k, (row, token) in enumerate(zip(self.rows, tokens)) if not row[3](token)]
        if not keep:
            self.rows, self.logits, self.mask, self.positions, self.cache = [], None, None, None, None
            return None
        device = self.rows[0][0].device
        if len(keep) < len(self.rows):
            index = torch.tensor(keep, device=device)
            self.cache.batch_select_indices(index)
            self.rows, self.mask, self.positions = [self.rows[k] for k in keep], self.mask[index], self.positions[index]
        return torch.tensor([[tokens[k]] for k in keep], device=device)

    def _join(self, last: torch.Tensor | None) -> None:
        """One step of the live rows (if any) that also runs the waiting rows' prompts; they join the batch."""
        rows, self.pending = self.pending, []
        lora = next((row[0].lora for row in rows if row[0].lora is not None), None)
        adapted = [row[0].lora is not None for row in rows]
        prompts = [row[1] for row in rows]
        if last is None:
            decoder = rows[0][0].decoder()
            _, logits, (self.mask, self.positions, self.cache) = decoder.step_joining(None, prompts, lora, adapted)
            self.logits, self.rows = logits[:, None], rows
            return
        mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        positions = self.positions[:, -1:] + 1
        live = (last[:, 0], positions[:, 0], mask, self.cache)
        live_logits, logits, part = self.cache.decoder.step_joining(live, prompts, lora, adapted)
        self.mask, self.positions = mask, positions
        self.mask, self.positions, self.cache = stack([self._trimmed(), part])
        self.logits = torch.cat([live_logits, logits])[:, None]
        self.rows += rows


@torch.inference_mode()
def decode_rows(rows: Sequence[DecodeRow], join: Callable[[int], Sequence[DecodeRow]] | None = None) -> None:
    """Decode rows of one family in one batch until every row has ended. `join(live rows)`, asked after each step
    while rows are live and the batch can take more, gives rows to add now (none: an empty list)."""
    lms = [row[0] for row in rows]
    separate = len({id(lm) for lm in lms}) > 1 and (len({id(lm.family) for lm in lms}) > 1 or lms[0].decoder() is None)
    if separate:  # no shared static decoder: each LM's rows in a loop of their own
        for lm_id in dict.fromkeys(id(lm) for lm in lms):
            decode_rows([row for row in rows if id(row[0]) == lm_id])
        return
    batch = RowBatch()
    batch.add(rows)
    while batch.rows or batch.pending:
        batch.step()
        if join is not None and batch.rows and batch.joinable:
            more = join(len(batch.rows))
            if more:
                batch.add(more)
