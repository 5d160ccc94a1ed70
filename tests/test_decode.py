"""core.decode through core.lm on tiny real Llamas (one with grouped key/value heads): the static decode path gives
the transformers path's greedy tokens and logits, batched (padding, shared prefix, rows leaving), streamed and
past its first buffer; int8 stays close; models it cannot run fall back to transformers."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from core.config import SeracConfig
from core.decode import StaticDecoder, supports
from core.errors import ConfigError
from core.lm import CausalLM
from tests.tiny_models import save_tiny_lm

WORDS = ["the", "capital", "of", "veltria", "is", "where", "people", "speak", "who", "what", "from"]
SHARED = " ".join(WORDS * 4)  # 44 tokens: past MIN_SHARED_PREFIX, so the prefix cache is used


def _prompts() -> list[str]:
    """Prompts of different lengths (left padding) and a group that shares a long prefix."""
    short = ["the capital of veltria is", "who speak", "what is the capital of veltria from where people speak"]
    return short + [f"{SHARED} {w} {v}" for w, v in zip(WORDS, reversed(WORDS))][:5]


@pytest.fixture(scope="module", params=["tiny", "tiny-gqa"])
def lm(request, tmp_path_factory) -> CausalLM:
    folder = save_tiny_lm(tmp_path_factory.mktemp(request.param), seed=3)
    if request.param == "tiny-gqa":  # 4 query heads over 2 key/value heads, as SmolLM2 (9 over 3)
        config = LlamaConfig.from_pretrained(folder)
        config.num_attention_heads, config.num_key_value_heads, config.hidden_size = 4, 2, 48
        torch.manual_seed(5)
        model = LlamaForCausalLM(config)
        with torch.no_grad():  # wider weights than the default init, so greedy picks vary from token to token
            for p in model.parameters():
                p.mul_(8.0) if p.dim() == 2 else None
        model.save_pretrained(folder)
    return CausalLM(str(folder), "cpu", torch.float32)


def _generate(lm: CausalLM, path: str, prompts: list[str], tokens: int, batch: int) -> list[str]:
    lm.use_decode(path)
    assert lm.decode_in_use == path
    return lm.generate(prompts, tokens, batch)


def test_the_default_path_is_static(lm):
    assert SeracConfig().decode_path == "static"
    fresh = CausalLM(lm.path, "cpu", torch.float32)
    assert fresh.decode_path == fresh.decode_in_use == "static"


def test_static_batched_greedy_answers_equal_the_transformers_path(lm):
    prompts = _prompts()
    reference = _generate(lm, "transformers", prompts, 12, 3)
    assert len(set(reference)) > 3  # the answers differ from prompt to prompt: the comparison is not vacuous
    assert _generate(lm, "static", prompts, 12, 3) == reference
    assert _generate(lm, "static", prompts, 12, 8) == _generate(lm, "transformers", prompts, 12, 8)


def _stream(lm: CausalLM, path: str, prompt: str, tokens: int) -> tuple[list[int], list[torch.Tensor]]:
    lm.use_decode(path)
    seen: list[torch.Tensor] = []

    def pick(logits: torch.Tensor) -> int:
        seen.append(logits.clone())
        return int(logits.argmax())

    ids = lm.tokenizer(prompt).input_ids
    return list(lm.stream_tokens(ids, tokens, pick)), seen


def test_static_stream_matches_token_for_token_and_logit_for_logit_past_its_first_buffer(lm):
    # 150 tokens from an 11-token prompt: the buffer (64 columns at first) doubles twice on the way
    ids = lm.tokenizer(_prompts()[0]).input_ids
    lm.end_ids = frozenset()  # never stop early: every step is compared
    try:
        ref_tokens, ref_logits = _stream(lm, "transformers", _prompts()[0], 150)
        tokens, logits = _stream(lm, "static", _prompts()[0], 150)
    finally:
        lm.end_ids = frozenset(lm.tokenizer.all_special_ids) - {lm.tokenizer.unk_token_id}
    assert len(ids) + 150 > 2 * 64 and len(tokens) == 150
    assert tokens == ref_tokens
    worst = max(float((a - b).abs().max()) for a, b in zip(logits, ref_logits))
    assert worst < 1e-4, worst


def test_single_rows_through_openblas_answer_as_through_torch_and_transformers(lm):
    """A single row's products go through numpy's OpenBLAS on the static path and through torch on static-torch
    (core.products): the same greedy answers, and torch's threads in the calling thread as they were."""
    threads = torch.get_num_threads()
    reference = _generate(lm, "transformers", _prompts(), 12, 1)
    assert _generate(lm, "static", _prompts(), 12, 1) == reference
    assert lm.decoder().head.row_backend == "openblas" and lm.decoder().layers[0].qkv.array is not None
    assert _generate(lm, "static-torch", _prompts(), 12, 1) == reference
    assert lm.decoder().head.row_backend == "torch" and lm.decoder().layers[0].qkv.array is None
    assert torch.get_num_threads() == threads


def test_static_decoding_past_max_position_embeddings_equals_the_transformers_path(tmp_path):
    """A prompt near or past the configured context (the counterfactual model's prompt holds the edit and the
    query) decodes as transformers does, instead of indexing past the rotary tables (an IndexError before)."""
    folder = save_tiny_lm(tmp_path / "short-context", seed=3)
    config = LlamaConfig.from_pretrained(folder)
    config.max_position_embeddings = 16
    config.save_pretrained(folder)
    short = CausalLM(str(folder), "cpu", torch.float32)
    prompts = [" ".join(WORDS * 2), "the capital of veltria is"]  # 22 tokens: past the 16 positions at once
    reference = _generate(short, "transformers", prompts, 12, 2)
    assert _generate(short, "static", prompts, 12, 2) == reference


def test_static_greedy_until_rows_leave_and_keep_their_tokens(lm):
    rows = [lm.tokenizer(p).input_ids for p in _prompts()]
    limits = [3, 9, 1, 12, 5, 7, 2, 10]
    lm.use_decode("transformers")
    reference = lm.greedy_until(rows, limits, lambda i, toks: len(toks) >= 6 and i % 2 == 0)
    lm.use_decode("static")
    assert lm.greedy_until(rows, limits, lambda i, toks: len(toks) >= 6 and i % 2 == 0) == reference
    assert [len(r) for r in reference] != [limits[0]] * len(rows)  # rows did leave at different steps


def test_int8_weights_read_a_third_of_the_bytes_and_stay_close(lm):
    lm.use_decode("static")
    full = lm.decoder().weight_bytes_per_token()
    lm.use_decode("int8")
    assert lm.decode_in_use == "int8"
    small = lm.decoder().weight_bytes_per_token()
    assert small < 0.4 * full
    ref_tokens, ref_logits = _stream(lm, "transformers", _prompts()[1], 8)
    _, logits = _stream(lm, "int8", _prompts()[1], 8)
    # the prompt runs through transformers either way; the first decode step's logits move a little, not a lot
    assert float((logits[0] - ref_logits[0]).abs().max()) == 0.0
    scale = float(ref_logits[1].abs().max())
    assert 0 < float((logits[1] - ref_logits[1]).abs().max()) < 0.1 * scale


def test_the_static_decoder_shares_the_float32_weights(lm):
    lm.use_decode("static")
    decoder = lm.decoder()
    attn = lm.model.model.layers[0].self_attn
    assert attn.q_proj.weight.data_ptr() == decoder.layers[0].qkv.weight.data_ptr()  # a view, not a copy
    embed = lm.model.model.embed_tokens.weight
    tied = embed is lm.model.get_output_embeddings().weight
    every = sum(p.numel() * 4 for p in lm.model.parameters())  # each tensor once (a tied head is the embedding)
    # a step reads every weight once, but of the input embedding only its token's row
    assert decoder.weight_bytes_per_token() == every - (0 if tied else embed.numel() * 4) + embed.shape[1] * 4


def test_models_it_cannot_run_use_the_transformers_path(lm):
    half = LlamaForCausalLM(lm.model.config).to(torch.bfloat16)
    assert supports(lm.model) and not supports(half)
    with pytest.raises(ValueError, match="decoder weights"):
        StaticDecoder(lm.model, "int4")
    with pytest.raises(ValueError, match="row backend"):
        StaticDecoder(lm.model, "float32", "cublas")
    with pytest.raises(ValueError, match="decode path"):
        lm.use_decode("fast")
    with pytest.raises(ConfigError, match="decode_path"):
        SeracConfig(decode_path="fast")


def test_generation_benchmark_table_names_each_path_its_bound_and_the_target(lm):
    from core.benchmarks.generation import describe, measure_generation

    lm.use_decode("static")
    threads = torch.get_num_threads()
    result = measure_generation(lm, _prompts()[:2], tokens=5, repeats=2, threads=1)
    assert lm.decode_path == "static" and torch.get_num_threads() == threads  # both restored
    assert result["threads"] == 1
    table = "\n".join(describe(result))
    assert "memory bandwidth" in table and ">= 0.5" in table
    for path in ("transformers", "static-torch", "static", "int8"):
        r = result["paths"][path]
        assert r["in_use"] == path and r["decode_tokens_per_s"]["best"] >= r["decode_tokens_per_s"]["median"] > 0
        assert r["fraction_of_bound"] == pytest.approx(r["decode_tokens_per_s"]["best"] / r["bound_tokens_per_s"])
    assert result["paths"]["static"]["same_answers"] is True and result["paths"]["static-torch"]["same_answers"] is True
    assert [line.split()[0] for line in table.splitlines()[3:7]] == ["transformers", "static-torch", "static", "int8"]
