"""The `eval` command: load N benchmark edits at once into a fresh memory and measure the whole system.

Contract (mission.md): `eval --format {counterfact,zsre} --data PATH [--limit N] [--json OUT]` prints
and writes {n_edits, reliability, generalization, locality, drawdown, routing, latency_ms, config};
extra keys (likelihood, baselines, scaling) sit beside them. The edit log is never touched.
`--checkpoint FILE` keeps every answered probe (JSONL) so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli import Command
from core.config import SeracConfig
from core.errors import InvalidInput
from core.progress import terminal_progress


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=("counterfact", "zsre", "jsonl"),
        required=True,
        help="benchmark file format (jsonl: {prompt, target, paraphrases, unrelated} per line, e.g. "
        "datasets/curator_dev.jsonl); a path may end with a slice of its records: dev.json[300:]",
    )
    p.add_argument("--data", required=True, help="benchmark JSON file, e.g. ../shared/data/counterfact/val.json")
    p.add_argument("--limit", type=int, help="use the first N records (default: all; with --sizes: the smallest size)")
    p.add_argument("--json", dest="json_out", help="write the report here as JSON")
    p.add_argument(
        "--baselines",
        action="store_true",
        help="also score: base model without edits, always-retrieve prompting, exact-match lookup table",
    )
    p.add_argument("--no-likelihood", action="store_true", help="skip the teacher-forced likelihood metrics")
    p.add_argument("--sizes", help="scaling sweep: comma-separated memory sizes, e.g. 10,100,1000,10000")
    p.add_argument("--fill-data", help="extra records whose edits fill the memory in a sweep (same --format)")
    p.add_argument("--plot", help="scaling figure path without extension (default: beside --json, else eval_scaling)")
    p.add_argument("--checkpoint", help="JSONL file of answered probes; an interrupted run resumes from it")
    p.add_argument("--chunk-size", type=int, default=96, help="probes per batched ask (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="prompts per forward pass (default %(default)s)")


def _run(args: argparse.Namespace, config: SeracConfig) -> int:
    sizes = _sizes(args.sizes)
    if args.limit is not None and args.limit < 1 or args.chunk_size < 1:
        raise InvalidInput("--limit and --chunk-size must be positive")
    config = config.replace(batch_size=args.batch_size)
    options = {"likelihood": not args.no_likelihood, "baselines": args.baselines, "chunk_size": args.chunk_size}
    settings = {**config.public_dict(), "format": args.format, "data": str(args.data), "limit": args.limit}
    report = _scaling(args, config, settings, options, sizes) if sizes else _single(args, config, settings, options)
    print(format_report(report))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        print(f"wrote {args.json_out}", file=sys.stderr)
    return 0 if report.get("complete", True) else 130


def _single(args, config, settings, options: dict) -> dict:
    cases = _cases(args.data, args.format, args.limit)  # read before the model stack is imported: bad input fails fast
    from cli.context import load_editor
    from core.evaluation.harness import ProbeResult
    from core.evaluation.run import EvalOptions, run_eval

    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    header = {
        k: settings[k]
        for k in (
            "format",
            "data",
            "limit",
            "threshold",
            "top_k",
            "base_model",
            "counterfactual_model",
            "embedder",
            "scope_scorer",
            "max_new_tokens",
        )
    }
    done = _read_checkpoint(checkpoint, header) if checkpoint else {}
    if checkpoint and not checkpoint.exists():
        checkpoint.write_text(json.dumps({"header": header}) + "\n")
    if done:
        print(f"resuming: {len(done)} probes already answered in {checkpoint}", file=sys.stderr)

    def save(rows: list[ProbeResult]) -> None:
        if checkpoint:
            with checkpoint.open("a") as f:
                f.writelines(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in rows)

    editor, chosen = load_editor(config), EvalOptions(**options)
    return run_eval(editor, cases, settings, chosen, done=done, on_chunk=save, progress=terminal_progress)


def _scaling(args, config, settings, options: dict, sizes: list[int]) -> dict:
    records = _cases(args.data, args.format, None)  # read before the model stack is imported: bad input fails fast
    n_probe = args.limit or min(sizes)
    pool = records[n_probe:] + (_cases(args.fill_data, args.format, None) if args.fill_data else [])
    from cli.context import load_editor
    from cli.eval_plot import save_scaling_figure
    from core.evaluation.run import EvalOptions, run_scaling

    if max(sizes) > n_probe + len(pool):
        print(f"note: only {n_probe + len(pool)} edits available; larger sizes are capped", file=sys.stderr)
    editor, chosen = load_editor(config), EvalOptions(**options)
    sweep = run_scaling(editor, records[:n_probe], pool, sizes, settings, chosen, progress=terminal_progress)
    report = dict(sweep["points"][-1]) if sweep["points"] else {}
    report["scaling"] = sweep
    stem = args.plot or (str(Path(args.json_out).with_suffix("")) + "_scaling" if args.json_out else "eval_scaling")
    report["scaling"]["figures"] = save_scaling_figure(sweep, stem)
    report["complete"] = sweep["complete"]
    return report


def _cases(path: str, fmt: str, limit: int | None):
    from core.datasets import located, read_edit_file

    read = read_edit_file(path, fmt, limit)
    for number, message in read.errors[:5]:
        print(f"{located(path, read.unit, number)}: skipped: {message}", file=sys.stderr)
    if not read.cases:
        raise InvalidInput(f"{path}: no usable {fmt} records")
    return [case for _, case in read.cases]


def _sizes(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InvalidInput(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise InvalidInput("--sizes must list positive integers")
    return sizes


def _read_checkpoint(path: Path, header: dict) -> dict:
    from core.evaluation.harness import ProbeResult

    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    try:
        first = json.loads(lines[0]) if lines else {}
        if first.get("header") != json.loads(json.dumps(header)):
            raise InvalidInput(
                f"{path} is a checkpoint of a different run (data, limit or models differ); "
                "delete it or pass another --checkpoint"
            )
        rows = [ProbeResult(**json.loads(line)) for line in lines[1:] if line.strip()]
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidInput(f"{path}: not a checkpoint written by eval ({exc})") from None
    return {r.index: r for r in rows}


def format_report(report: dict) -> str:
    """A short table of the headline numbers, then the full report as JSON."""

    def pct(v) -> str:
        return "   -  " if v is None else f"{100 * v:5.1f}%"

    rows = [("SERAC", report)] + [(name, m) for name, m in report.get("baselines", {}).items()]
    lines = [
        f"{'system':<16} {'reliab.':>7} {'general.':>8} {'locality':>8} {'drawdown':>8} {'in-scope':>8} {'oos-rej':>8}"
    ]
    for name, m in rows:
        r = m.get("routing", {})
        lines.append(
            f"{name:<16} {pct(m.get('reliability')):>7} {pct(m.get('generalization')):>8} "
            f"{pct(m.get('locality')):>8} {pct(m.get('drawdown')):>8} {pct(r.get('in_scope_recall')):>8} "
            f"{pct(r.get('out_of_scope_rejection')):>8}"
        )
    collisions = report.get("locality_collisions") or {}
    if collisions.get("n"):
        lines.append(
            f"{collisions['n']} unrelated prompts ask a fact another loaded edit rewrites "
            f"({collisions['routed_to_rewriter']} routed to it); locality without them: "
            f"{pct(collisions['locality_without']).strip()}"
        )
    if "likelihood" in report and report["likelihood"].get("reliability") is not None:
        lk = report["likelihood"]
        lines.append(
            f"{'SERAC (P new>old)':<16} {pct(lk['reliability']):>7} {pct(lk['generalization']):>8} "
            f"{pct(lk['locality']):>8}"
        )
    return "\n".join(lines) + "\n" + json.dumps(report, indent=2, ensure_ascii=False, default=str)


COMMANDS = [
    Command(
        "eval",
        "measure reliability, generalization, locality, routing and latency on a benchmark "
        "with N edits in memory at once (see README: Evaluation)",
        _args,
        _run,
    )
]
