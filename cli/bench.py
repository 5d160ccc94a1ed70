"""The `bench` command: insertion cost, scope lookup at scale (flat vs IVF), routing overhead, peak memory.

Phases, in order (the JSON is rewritten after each, so an interrupted run keeps what it measured):
1. models: load_editor(config) (cli.context), the same system `ask` and the UI run;
2. insertion: a fresh SQLite edit log in a temp folder and the editor's memory, both pre-filled with
   the first real CounterFact edits; then `--inserts` more, one at a time through log + embed + index;
   then bulk import: `--import-edits` CounterFact-shaped edits through `app.py import` in a child process
   into an empty temp log, edits/s and the child's peak RSS (cli/bench_import.py);
3. routing: with those real edits (up to 10k) in memory, `--routing-queries` queries (half paraphrases,
   half unrelated prompts) routed and answered by the base model alone, in turn; with fast routing on
   (the default), each query is also routed through the torch reference path in the same loop, and the
   issue's targets (p50 <= 15 ms, <= 0.02 of the base answer) are printed beside both;
4. lookup: for each of `--sizes`, a memory of real MiniLM vectors (up to 10k, cached under
   <cache-dir>/../bench) grown with noisy copies beyond them, built through core.index_rule as the
   memory builds it (trained on a sample, then added in chunks) and searched one query at a time by
   real paraphrase vectors, with the flat and the compressed IVF index: build s, p50/p95, recall@k
   against exact search, index bytes and the peak RSS while building, beside issue 15's targets; the
   automatic choice marked;
5. generation: the base model's single-query greedy tokens/s on each decode path (core.lm) against the
   memory-bandwidth bound (core/benchmarks/generation.py), and the counterfactual model's bytes per token.
The edit log named by --db is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cli import Command
from cli.bench_import import describe as describe_import
from cli.bench_import import measure_import
from cli.bench_table import format_table
from cli.context import load_editor
from core.config import SeracConfig
from core.errors import InvalidInput
from core.progress import terminal_progress

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "counterfact" / "train.json"
REAL_LIMIT = 10_000  # real embeddings up to here; synthetic (noisy copies) above
MAX_SIZE = 5_000_000


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sizes",
        default="1000,10000,100000,1000000",
        help="memory sizes for the lookup benchmark, comma-separated (default %(default)s)",
    )
    p.add_argument("--queries", type=int, default=200, help="lookup queries per size, asked one at a time")
    p.add_argument("--k", type=int, default=10, help="neighbours retrieved; recall@k vs flat (default %(default)s)")
    p.add_argument("--inserts", type=int, default=100, help="edits inserted one at a time (default %(default)s)")
    p.add_argument(
        "--import-edits",
        type=int,
        default=10_000,
        help="CounterFact-shaped edits imported by `app.py import` into an empty temp log, timed with its peak RSS "
        "(cli/bench_import.py; 0 skips the phase; default %(default)s)",
    )
    p.add_argument("--routing-queries", type=int, default=30, help="queries routed and answered (default %(default)s)")
    p.add_argument("--generation-tokens", type=int, default=32, help="greedy tokens per answer (default %(default)s)")
    p.add_argument(
        "--generation-prompts", type=int, default=4, help="prompts answered per repeat (default %(default)s)"
    )
    p.add_argument("--generation-repeats", type=int, default=5, help="repeats; the best is kept (default %(default)s)")
    p.add_argument(
        "--generation-threads",
        type=int,
        default=None,
        help="torch threads for the generation phase (default: as set; on a CPU shared with other work, 1 is "
        "often faster: threads that wait for each other at every small operation lose when one is descheduled)",
    )
    p.add_argument(
        "--restart-edits",
        type=int,
        default=1_000_000,
        help="edits in the log of the restart phase (built once under the cache folder; 0 skips it; "
        "default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic vectors and query choice")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="CounterFact JSON whose prompts are the real edits")
    p.add_argument("--json", dest="json_out", default="artifacts/bench.json", help="report path (default %(default)s)")


def _run(args: argparse.Namespace, config: SeracConfig) -> int:
    sizes = parse_sizes(args.sizes)
    for name in (
        "queries",
        "k",
        "inserts",
        "routing_queries",
        "generation_tokens",
        "generation_prompts",
        "generation_repeats",
    ):
        if getattr(args, name) < 1:
            raise InvalidInput(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.import_edits < 0:
        raise InvalidInput(f"--import-edits must be 0 (skip) or a positive integer, got {args.import_edits}")
    if not 0 <= args.restart_edits <= MAX_SIZE:
        raise InvalidInput(f"--restart-edits must be in 0..{MAX_SIZE} (0 skips), got {args.restart_edits}")
    if args.generation_threads is not None and args.generation_threads < 1:
        raise InvalidInput(f"--generation-threads must be a positive integer, got {args.generation_threads}")
    cases = _cases(args.data)
    out = Path(args.json_out)
    report = {
        "settings": _settings(args, sizes),
        "config": config.public_dict(),
        "peak_rss_bytes": {},
        "elapsed_s": {},
        "load_avg_1min": {},
    }
    started = time.perf_counter()
    editor = load_editor(config)
    _phase(report, "models", out, started)
    n_real = min(REAL_LIMIT, max(sizes), len(cases))
    real = _embedded(editor, [c.edit.prompt for c in cases[:n_real]], config, args.data, "prompts")
    report["insertion"] = _insertion(editor, cases[:n_real], real, min(args.inserts, n_real // 2))
    _phase(report, "insertion", out, started)
    if args.import_edits:
        report["import"] = measure_import(Path(args.data), args.import_edits, args.seed)
        _phase(report, "import", out, started)
    report["routing"] = _routing(editor, cases[:n_real], args.routing_queries, args.seed, config)
    _phase(report, "routing", out, started)
    paraphrases = _embedded(
        editor, [c.paraphrases[0] for c in cases[: min(args.queries, n_real)]], config, args.data, "paraphrases"
    )
    report["lookup"] = []
    for size in sizes:
        report["lookup"].append(_lookup(real, paraphrases, size, args))
        _phase(report, f"lookup n={size}", out, started)
    if args.restart_edits:
        report["restart"] = _restart(editor, config, cases[:n_real], real, args)
        _phase(report, "restart", out, started)
    report["generation"] = _generation(editor, cases, args)
    _phase(report, "generation", out, started)
    print(format_table(report))
    if report.get("import"):
        print("\n".join(describe_import(report["import"])))
    if report["generation"]:
        from core.benchmarks.generation import describe

        print("\n".join(describe(report["generation"])))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _restart(editor, config: SeracConfig, cases, real: np.ndarray, args) -> dict:
    from cli.bench_restart import measure_restart
    from core.benchmarks.data import noisy_copies

    rng = np.random.default_rng(args.seed)
    queries = noisy_copies(real, rng.integers(0, len(real), args.queries), rng)
    return measure_restart(editor, config, cases, real, args.restart_edits, queries, terminal_progress)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InvalidInput(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_SIZE:
        raise InvalidInput(f"--sizes must list integers in 1..{MAX_SIZE}, got {text!r}")
    return sizes


def _cases(path: str):
    from core.datasets import read_edit_file

    cases = [case for _, case in read_edit_file(path, "counterfact").cases if case.paraphrases and case.unrelated]
    if len(cases) < 2:
        raise InvalidInput(f"{path}: needs at least 2 CounterFact records with a paraphrase and an unrelated prompt")
    return cases


def _embedded(editor, texts: list[str], config: SeracConfig, data: str, kind: str) -> np.ndarray:
    from core.benchmarks.data import cached_embeddings

    name = f"{Path(data).parent.name}_{Path(data).stem}_{kind}"
    return cached_embeddings(
        texts, editor.embedder.encode, Path(config.cache_dir).parent / "bench", name, terminal_progress
    )


def _insertion(editor, cases, real: np.ndarray, n_insert: int) -> dict:
    """Pre-fill a temp log and the memory with the first edits, then insert the last n_insert one by one."""
    from core.benchmarks.insert import measure_insertion
    from db.repository import EditRepository

    keep = len(cases) - n_insert
    with tempfile.TemporaryDirectory(prefix="serac-bench-") as folder:
        log = EditRepository(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        editor.memory.clear()
        editor.memory.add(log.add_edits([c.edit for c in cases[:keep]], "bench", action="import"), real[:keep])
        result = measure_insertion(
            [c.edit for c in cases[keep:]], log, editor.embedder.encode, editor.memory, progress=terminal_progress
        )
        log.engine.dispose()
    return {**result, "edits_before": keep, "index_kind": editor.memory.index_kind}


def _routing(editor, cases, n_queries: int, seed: int, config: SeracConfig) -> dict:
    from core.benchmarks.routing import measure_routing

    rng = np.random.default_rng(seed)
    picked = rng.choice(len(cases), size=n_queries, replace=n_queries > len(cases))
    queries = [cases[i].paraphrases[0] if j % 2 == 0 else cases[i].unrelated[0] for j, i in enumerate(picked)]
    reference = _reference_router(editor, config) if config.fast_routing else None
    result = measure_routing(editor, queries, progress=terminal_progress, reference=reference)
    return {
        **result,
        "scope_scorer": editor.router.classifier.__class__.__name__,
        "top_k": editor.router.top_k,
        "fast_routing": config.fast_routing,
        "onnx_threads": getattr(getattr(editor.router.classifier, "onnx", None), "small_threads", None),
    }


def _reference_router(editor, config: SeracConfig):
    """The torch path over the editor's own memory (fast routing off), to time beside the fast one."""
    from core.device import resolve_device
    from core.embedder import SentenceEmbedder
    from core.loading import build_classifier
    from core.packaged import resolve_model_path
    from core.router import ScopeRouter

    slow = config.replace(fast_routing=False)
    device = resolve_device(slow.device)
    embedder = SentenceEmbedder(resolve_model_path(slow.embedder, slow.cache_dir), device, slow.batch_size)
    return ScopeRouter(embedder, editor.memory, build_classifier(slow, device), slow.top_k)


def _generation(editor, cases, args) -> dict | None:
    """Decode paths of the base model (a remote base has no local weights: None), on the first edits' prompts."""
    from core.benchmarks.generation import measure_generation

    lm = getattr(editor.base, "lm", None)
    if lm is None:
        return None
    prompts = [c.edit.prompt for c in cases[: args.generation_prompts]]
    result = measure_generation(
        lm,
        prompts,
        args.generation_tokens,
        args.generation_repeats,
        progress=terminal_progress,
        threads=args.generation_threads,
    )
    cf = editor.counterfactual.lm
    decoder = cf.decoder()
    result["counterfactual"] = {
        "model": cf.path,
        "decode_path": cf.decode_in_use,
        "weight_bytes_per_token": decoder.weight_bytes_per_token() if decoder else None,
    }
    return result


def _lookup(real: np.ndarray, paraphrases: np.ndarray, size: int, args) -> dict:
    from core.benchmarks.data import NOISE_SIGMA, GrownVectors
    from core.benchmarks.lookup import measure_lookup

    source = GrownVectors(real, size, args.seed + size)  # made chunk by chunk, never held whole
    queries = paraphrases[: min(len(paraphrases), size)]  # paraphrases of edits that are in this memory
    result = measure_lookup(source, queries, args.k, progress=terminal_progress)
    return {**result, "real_rows": min(size, len(real)), "noise_sigma": NOISE_SIGMA, "queries": len(queries)}


def _phase(report: dict, name: str, out: Path, started: float) -> None:
    """Record the peak RSS, the seconds elapsed and the machine's load so far; rewrite the JSON report.

    The load average tells a reader whether other work shared the CPU while the phase was timed."""
    report["peak_rss_bytes"][name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report["elapsed_s"][name] = time.perf_counter() - started
    report["load_avg_1min"][name] = os.getloadavg()[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))


def _settings(args: argparse.Namespace, sizes: list[int]) -> dict:
    from core import index_rule

    return {
        "sizes": sizes,
        "queries": args.queries,
        "k": args.k,
        "inserts": args.inserts,
        "import_edits": args.import_edits,
        "restart_edits": args.restart_edits,
        "routing_queries": args.routing_queries,
        "generation": {
            "tokens": args.generation_tokens,
            "prompts": args.generation_prompts,
            "repeats": args.generation_repeats,
            "threads": args.generation_threads,
        },
        "seed": args.seed,
        "data": str(args.data),
        "index_rule": {
            "flat_limit": index_rule.FLAT_LIMIT,
            "approx_kind": index_rule.APPROX_KIND,
            "shrink_back": index_rule.SHRINK_BACK,
            "rebuild_factor": index_rule.REBUILD_FACTOR,
            "nlist_per_sqrt": index_rule.NLIST_PER_SQRT,
            "nprobe_per_sqrt_nlist": index_rule.NPROBE_PER_SQRT_NLIST,
            "scan_max": index_rule.SCAN_MAX,
        },
    }


COMMANDS = [
    Command(
        "bench",
        "measure edit insertion, scope lookup at 1k..1M edits (flat vs IVF index, recall), "
        "routing overhead vs the base answer, generation tokens/s vs the memory-bandwidth bound and peak memory; "
        "prints a table, writes JSON",
        _args,
        _run,
    )
]
