"""Continuous batching in the decode loop (core.batch_decode, core.generation.generate_together's `join`): rows of
the base model and of its unmerged adapter that join a running batch between tokens get the answers they get alone,
their prompts run inside the batch's next step (no pass of their own; first logits those of the prompt pass), and
become the batch when every live row ends in that step;
the batch's cache does not grow without bound while rows keep joining and leaving; with the transformers decode path
(no shared static decoder) nothing joins and the rows still get their own answers."""

from __future__ import annotations

import pytest
import torch

from core.adapters import load_counterfactual_lm
from core.batch_decode import RowBatch
from core.generation import Generation, GenerationSettings, generate_together
from core.lm import CausalLM
from tests.tiny_lora import PROMPTS as TINY_PROMPTS
from tests.tiny_lora import save_tiny_adapter
from tests.tiny_models import save_tiny_lm

PROMPTS = [*TINY_PROMPTS, "what language do people speak in paris"]


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> tuple[CausalLM, CausalLM]:
    folder = tmp_path_factory.mktemp("tiny-join")
    base_dir = save_tiny_lm(folder / "base")
    adapter = save_tiny_adapter(base_dir, folder / "adapter")
    cf, _ = load_counterfactual_lm(str(adapter), str(base_dir), "cpu", torch.float32)
    return cf.family, cf  # the base LM this module's folder loaded (no other test uses it)


def _make(family, i: int) -> Generation:
    base, cf = family
    settings = GenerationSettings(max_tokens=4 + 3 * (i % 4), temperature=0.0 if i % 3 else 1.1, seed=i)
    lm = base if i % 2 == 0 else cf
    return Generation(lm, PROMPTS[i % len(PROMPTS)], settings, one_line=lm is cf)


def test_rows_that_join_between_tokens_get_their_answers_alone(family):
    count = 12
    alone = ["".join(_make(family, i)) for i in range(count)]
    waiting = [_make(family, i) for i in range(2, count)]
    joined_at: list[int] = []

    def join(live: int) -> list[Generation]:  # one or two rows join after each step, while any are left
        joined_at.append(live)
        return [waiting.pop(0) for _ in range(min(len(waiting), 1 + len(joined_at) % 2))]

    texts = generate_together([_make(family, 0), _make(family, 1)], join=join)
    assert texts == alone
    assert not waiting and len(joined_at) > 5, "rows joined over several steps"


def test_the_cache_stays_short_while_rows_keep_joining_and_leaving(family):
    base, cf = family
    batch, ended, steps = RowBatch(), [0], 0

    def row(lm, i: int):
        left = [3 + i % 5]

        def take(token: int) -> bool:
            left[0] -= 1
            ended[0] += left[0] == 0
            return left[0] == 0

        return lm, base.tokenizer(PROMPTS[i % len(PROMPTS)]).input_ids, lambda logits: int(logits.argmax()), take

    longest = 0
    with torch.inference_mode():
        batch.add([row(base, 0), row(cf, 1)])
        while steps < 80:
            batch.step()
            steps += 1
            batch.add([row(cf if steps % 2 else base, steps)])
            longest = max(longest, batch.cache.length)
    assert ended[0] > 40, "rows kept leaving"
    prompt_max = max(len(base.tokenizer(p).input_ids) for p in PROMPTS)
    assert longest <= prompt_max + 8, f"the cache grew to {longest} columns over {steps} steps"


def test_with_the_transformers_path_nothing_joins_and_each_row_keeps_its_answer(family):
    base, _ = family
    base.use_decode("transformers")
    try:
        alone = ["".join(_make(family, i)) for i in range(4)]
        asked: list[int] = []
        texts = generate_together([_make(family, i) for i in range(4)], join=lambda live: asked.append(live) or [])
        assert texts == alone and asked == []
    finally:
        base.use_decode("static")


def test_a_joining_rows_prompt_runs_inside_the_live_step_with_the_prompt_pass_logits(family):
    """Rows that join a live batch add no pass of their own: their prompts run in the next step's products (one
    decoder step, no transformers forward), and their first logits equal the transformers prompt pass's."""
    base, cf = family
    prompts = [base.tokenizer(p).input_ids for p in PROMPTS]
    calls: list[int] = []
    hook = base.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.inference_mode():
            batch = RowBatch()
            batch.add([(base, prompts[0], lambda logits: int(logits.argmax()), lambda token: False)])
            decoder, passes, steps = base.decoder(), len(calls), base.decoder().steps
            joining = [
                (lm, prompts[i], lambda logits: int(logits.argmax()), lambda token: False)
                for lm, i in ((base, 2), (cf, 4), (cf, 1))
            ]
            batch.add(joining)
            assert batch.pending == joining and len(batch.rows) == 1, "they wait for the next step"
            batch.step()
            assert len(calls) == passes and decoder.steps == steps + 1, "one step, no prompt pass of their own"
            assert len(batch.rows) == 4 and not batch.pending
            for k, (lm, ids, _, _) in enumerate(joining, start=1):
                alone, _ = lm.prompt_state([ids])
                assert torch.allclose(batch.logits[k, -1], alone[0, -1], atol=1e-4), f"row {k}'s first logits"
    finally:
        hook.remove()


def test_rows_waiting_to_join_when_every_live_row_ends_become_the_batch(family):
    base, cf = family
    ids = [base.tokenizer(p).input_ids for p in PROMPTS]
    with torch.inference_mode():
        batch = RowBatch()
        batch.add([(base, ids[0], lambda logits: int(logits.argmax()), lambda token: True)])  # ends at its next token
        joining = [
            (lm, ids[i], lambda logits: int(logits.argmax()), lambda token: False) for lm, i in ((cf, 2), (base, 3))
        ]
        batch.add(joining)
        batch.step()
        assert batch.rows == joining and not batch.pending and batch.joinable
        for k, (lm, row_ids, _, _) in enumerate(joining):
            alone, _ = lm.prompt_state([row_ids])
            assert torch.allclose(batch.logits[k, -1], alone[0, -1], atol=1e-4)
        batch.step()  # and they decode on from there
        assert batch.cache.length == max(len(ids[2]), len(ids[3])) + 1
