"""One decode loop over the rows of one model family (core.lm.CausalLM.family): the base LM's rows and its unmerged
adapter's (core.adapters.AdaptedLM) step together; a row that ends leaves the batch, and new rows may join between
tokens (continuous batching: `join`), so the batch stays full while requests keep coming.

A row is (lm, prompt ids, pick, take): `pick(logits (vocab,))` chooses its next token and `take(token)` says whether
it has ended. Rows that join run their prompts with the other rows of their LM that join with them; their cache
columns are then right-aligned with the batch's (core.decode.stack), the columns to their left masked.

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
    """Live rows, their last logits and the decode state (mask, positions, cache) they share."""

    def __init__(self) -> None:
        self.rows: list[DecodeRow] = []
        self.logits = self.mask = self.positions = self.cache = None

    @property
    def joinable(self) -> bool:
        return isinstance(self.cache, StaticKV)

    def add(self, rows: Sequence[DecodeRow]) -> None:
        """Run the new rows' prompts (one batch per LM) and put them beside the live rows."""
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
        """Each row picks its next token; ended rows leave; the rest run one step together."""
        tokens = [pick(self.logits[k, -1]) for k, (_, _, pick, _) in enumerate(self.rows)]
        keep = [k for k, (row, token) in enumerate(zip(self.rows, tokens)) if not row[3](token)]
        if not keep:
            self.rows = []
            return
        lm = self.rows[0][0]
        if len(keep) < len(self.rows):  # ended rows leave: their cache rows are dropped
            index = torch.tensor(keep, device=lm.device)
            self.cache.batch_select_indices(index)
            self.rows, self.mask, self.positions = [self.rows[k] for k in keep], self.mask[index], self.positions[index]
        last = torch.tensor([[tokens[k]] for k in keep], device=lm.device)
        # a StaticKV steps through its decoder whichever LM's _step runs; a DynamicCache's rows are all of one LM
        self.logits, self.mask, self.positions = lm._step(last, self.mask, self.positions, self.cache)


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
    while batch.rows:
        batch.step()
        if join is not None and batch.rows and batch.joinable:
            more = join(len(batch.rows))
            if more:
                batch.add(more)
