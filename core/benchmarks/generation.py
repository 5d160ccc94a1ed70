"""Generation speed against the machine's memory-bandwidth bound, for each decode path (core.lm DECODE_PATHS).

A decode step of a single query reads every weight once (core.decode `weight_bytes_per_token`), so no
implementation can beat `bandwidth / bytes per token` tokens/s: the bound. Bandwidth is measured here, in the
same loop as the tokens: the sum of a 256 MB float32 tensor (torch, the model's threads; 8x the L3 cache),
bytes read per second. Each repeat measures the bandwidth once and then, for each path in turn, one greedy
answer of `tokens` tokens to each prompt; the best repeat of each is kept (noise only slows things down) and
the median is reported beside it. Decode tokens/s excludes the prompt's own forward pass (time to first token).

Invariants: the model's decode path is restored afterwards; every path answers the same prompts, and
`same_answers` says whether each path's greedy tokens equal the transformers path's (the reference).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch

from core.lm import CausalLM
from core.progress import NoProgress, ProgressFactory

TARGET_FRACTION = 0.5  # issue 15: reach at least half of the bandwidth bound
PROBE_BYTES = 256 * 2**20


def measure_bandwidth(buffer: torch.Tensor) -> float:
    """Bytes per second of one streaming read of `buffer` (a reduction: each byte read once, nothing written)."""
    started = time.perf_counter()
    float(buffer.sum())
    return buffer.numel() * buffer.element_size() / (time.perf_counter() - started)


def timed_answer(lm: CausalLM, ids: list[int], tokens: int) -> tuple[list[int], float, float]:
    """(greedy tokens, seconds to the first token, seconds for the rest) for one prompt, alone."""
    out: list[int] = []
    started = time.perf_counter()
    first = started
    for token in lm.stream_tokens(ids, tokens, lambda logits: int(logits.argmax())):
        out.append(token)
        if len(out) == 1:
            first = time.perf_counter()
    return out, first - started, time.perf_counter() - first


def measure_generation(
    lm: CausalLM,
    prompts: Sequence[str],
    tokens: int,
    repeats: int,
    paths: Sequence[str] = ("transformers", "static-torch", "static", "int8"),
    progress: ProgressFactory = NoProgress,
    threads: int | None = None,
) -> dict:
    """{"bandwidth", "paths": {path: {...tokens/s, bound, fraction}}, "default", "target_fraction", ...}.
    `threads`: torch's intra-op threads for this measurement only (None: as they are)."""
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads or threads_before)
    try:
        return _measure(lm, prompts, tokens, repeats, paths, progress)
    finally:
        torch.set_num_threads(threads_before)


def _measure(lm: CausalLM, prompts, tokens: int, repeats: int, paths, progress: ProgressFactory) -> dict:
    rows = [lm.tokenizer(p).input_ids for p in prompts]
    before = lm.decode_path
    runs: dict[str, list[dict]] = {p: [] for p in paths}
    answers: dict[str, list[list[int]]] = {}
    probe = torch.ones(PROBE_BYTES // 4)
    bandwidth = []
    bar = progress(total=repeats * len(paths), desc="generation, per decode path")
    try:
        for path in paths:  # untimed warm-up: builds each decoder, touches every weight once
            lm.use_decode(path)
            timed_answer(lm, rows[0], 2)
        for _ in range(repeats):
            bandwidth.append(max(measure_bandwidth(probe) for _ in range(3)))
            for path in paths:
                lm.use_decode(path)
                runs[path].append(_one_pass(lm, rows, tokens, answers.setdefault(path, [])))
                bar.update(1)
    finally:
        bar.close()
        lm.use_decode(before)
    return _summary(lm, runs, answers, bandwidth, tokens, len(prompts), repeats, before)


def _one_pass(lm: CausalLM, rows: list[list[int]], tokens: int, answers: list[list[int]]) -> dict:
    """Every prompt answered once: total decode tokens and seconds, and prompt seconds."""
    decode_tokens, decode_s, prompt_s = 0, 0.0, 0.0
    for row in rows:
        out, first_s, rest_s = timed_answer(lm, row, tokens)
        if len(answers) < len(rows):
            answers.append(out)
        decode_tokens, decode_s, prompt_s = decode_tokens + len(out) - 1, decode_s + rest_s, prompt_s + first_s
    return {"decode_tokens": decode_tokens, "decode_s": decode_s, "prompt_s": prompt_s}


def _summary(lm, runs, answers, bandwidth, tokens, n_prompts, repeats, default) -> dict:
    best_bw = max(bandwidth)
    out: dict = {
        "model": lm.path,
        "prompts": n_prompts,
        "tokens_per_answer": tokens,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "bandwidth": {
            "method": f"torch sum of a {PROBE_BYTES // 2**20} MB float32 tensor, bytes read per second",
            "best_gb_s": best_bw / 1e9,
            "median_gb_s": statistics.median(bandwidth) / 1e9,
        },
        "target_fraction": TARGET_FRACTION,
        "default": default,
        "paths": {},
    }
    reference = answers.get("transformers")
    for path, passes in runs.items():
        lm.use_decode(path)
        decoder = lm.decoder()
        weight_bytes = decoder.weight_bytes_per_token() if decoder else _model_bytes_per_token(lm)
        rates = [p["decode_tokens"] / p["decode_s"] for p in passes if p["decode_s"] > 0]
        bound = best_bw / weight_bytes
        out["paths"][path] = {
            "in_use": lm.decode_in_use,
            "weight_bytes_per_token": weight_bytes,
            "bound_tokens_per_s": bound,
            "decode_tokens_per_s": {"best": max(rates), "median": statistics.median(rates)},
            "fraction_of_bound": max(rates) / bound,
            "float32_bound_fraction": max(rates) / (best_bw / _model_bytes_per_token(lm)),
            "prompt_ms_per_answer": 1e3 * min(p["prompt_s"] for p in passes) / n_prompts,
            "same_answers": None if reference is None else answers[path] == reference,
            "answers_differing": None if reference is None else sum(a != b for a, b in zip(answers[path], reference)),
        }
    lm.use_decode(default)
    return out


def _model_bytes_per_token(lm: CausalLM) -> int:
    """Bytes a float32 step reads (the transformers path): every weight, but one row of the input embedding."""
    embed = lm.model.get_input_embeddings().weight
    tied = embed is lm.model.get_output_embeddings().weight
    every = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    return every - (0 if tied else embed.numel() * embed.element_size()) + embed.shape[1] * embed.element_size()


def describe(result: dict) -> list[str]:
    """The generation section of `bench`'s table."""
    bw = result["bandwidth"]
    lines = [
        f"generation (single query, {result['tokens_per_answer']} greedy tokens x {result['prompts']} prompts, "
        f"best of {result['repeats']}; {result['threads']} threads; default path {result['default']}):",
        f"  memory bandwidth {bw['best_gb_s']:.1f} GB/s (median {bw['median_gb_s']:.1f}; {bw['method']})",
        "  path          weights MB/token  bound tok/s  decode tok/s (median)  fraction  target  same answers",
    ]
    for path, r in result["paths"].items():
        same = "-" if r["same_answers"] is None else ("yes" if r["same_answers"] else f"no ({r['answers_differing']})")
        rate = r["decode_tokens_per_s"]
        lines.append(
            f"  {path:<13} {r['weight_bytes_per_token'] / 1e6:16.1f} {r['bound_tokens_per_s']:12.1f} "
            f"{rate['best']:8.1f} ({rate['median']:6.1f})      {r['fraction_of_bound']:8.2f}  "
            f">= {result['target_fraction']:.1f}  {same}"
        )
    return lines + [""]
