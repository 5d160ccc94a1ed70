"""Training commands: `train-scope` (the cross-encoder scope classifier), `average-scope` (two scope
checkpoints' weights averaged, measured and thresholded) and `train-counterfactual` (a LoRA adapter on the
counterfactual model). Each writes a checkpoint folder with a serac.json of its settings and
measurements; the training runs resume from it when re-run and stop at --max-minutes.

Heavy imports (torch, transformers) happen inside the run functions so `app.py --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli import Command
from core.config import SeracConfig
from core.errors import InvalidInput

# Part folders inside the global --checkpoints-dir (training's output, export's input) and --models-dir
# (export's output, what serving loads by default): one setting each decides both sides.
SCOPE_DIR, COUNTERFACTUAL_DIR = "scope", "counterfactual"


def _common_args(p: argparse.ArgumentParser, out: str, batch_size: int, lr: float) -> None:
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="PATH",
        help="CounterFact / zsRE training file; repeat for several (the first supplies the held-out split)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help=f"checkpoint folder (default: {out} in the global --checkpoints-dir)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument(
        "--device",
        dest="train_device",
        choices=("auto", "cpu", "cuda"),
        default=None,
        help="where to train (default: the global --device)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=100_000,
        help="optimizer steps: what bounds a run, so a rerun on a busier machine trains the same (default %(default)s)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="optional wall-clock cap; a run it stops is not a reproduction of the recipe (default: none)",
    )
    p.add_argument(
        "--forms",
        default=None,
        metavar="JSON",
        help="restate records as questions, instructions and completions (datasets/forms.json)",
    )
    p.add_argument(
        "--swap-forms",
        type=float,
        default=0.33,
        help="with --forms: share of records whose edit itself is restated (default %(default)s)",
    )
    p.add_argument(
        "--restate-pool",
        choices=("template", "relation"),
        default="template",
        help="with --forms: restate in the template's own forms or in any form of its relation (default %(default)s)",
    )
    p.add_argument("--batch-size", type=int, default=batch_size, help="examples per step (default %(default)s)")
    p.add_argument("--lr", type=float, default=lr, help="peak learning rate (default %(default)s)")
    p.add_argument("--warmup-steps", type=int, default=50, help="linear warm-up steps (default %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="read at most N records per file")
    p.add_argument(
        "--eval-records",
        type=int,
        default=300,
        help="records of the first file held out for measuring (default %(default)s)",
    )
    p.add_argument("--save-every", type=int, default=200, help="checkpoint every N steps (default %(default)s)")
    p.add_argument("--restart", action="store_true", help="ignore a checkpoint in --out and start over")


def _scope_args(p: argparse.ArgumentParser) -> None:
    _common_args(p, SCOPE_DIR, 32, 5e-5)
    p.add_argument("--hard-negatives", type=int, default=3, help="nearest other edits per query used as negatives")
    p.add_argument(
        "--subject-negatives",
        type=int,
        default=0,
        help="per edit, negatives naming its subject in another relation and in a longer name (default 0)",
    )
    p.add_argument(
        "--relation-negatives",
        type=int,
        default=0,
        help="with --forms: per edit, queries asking another relation of its subject, in any form (default 0)",
    )
    p.add_argument(
        "--relation-positives",
        type=int,
        default=0,
        help="with --forms: per edit, queries asking its own relation of its subject in other wordings, "
        "as positives (default 0)",
    )
    p.add_argument(
        "--synthetic-edits",
        type=int,
        default=0,
        help="edits made from hand-written relation wordings over made-up subjects (default 0)",
    )
    p.add_argument(
        "--synthetic-negatives",
        type=int,
        default=3,
        help="per synthetic edit, queries asking other relations of its subject, as negatives (default 3)",
    )
    p.add_argument(
        "--synthetic-file",
        default="datasets/relation_wordings.json",
        help="relation wordings of --synthetic-edits (default %(default)s)",
    )
    p.add_argument(
        "--relation-sources",
        default="counterfact,zsre",
        help="comma-separated sections of --forms whose templates word the relation negatives "
        "(default counterfact,zsre)",
    )
    p.add_argument(
        "--min-rejection",
        type=float,
        default=0.99,
        help="threshold choice: best recall whose out-of-scope rejection reaches this (default %(default)s)",
    )
    p.add_argument(
        "--top-k",
        dest="measure_top_k",
        type=int,
        default=None,
        help="candidates per query when measuring (default: global)",
    )
    p.add_argument("--init", default=None, help="initial weights (default: the global --embedder, MiniLM)")
    p.add_argument(
        "--train-embeddings",
        action="store_true",
        help="also train the token embeddings (default: frozen as packaged; the shipped part is smaller)",
    )


def _average_args(p: argparse.ArgumentParser) -> None:
    _scope_args(p)  # the same data, split and measuring settings as the runs averaged (training ones unused)
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        metavar="FOLDER",
        help="a scope checkpoint folder; give exactly two",
    )
    p.add_argument(
        "--weight", type=float, default=0.5, help="the second folder's share of each weight (default %(default)s)"
    )


def _counterfactual_args(p: argparse.ArgumentParser) -> None:
    _common_args(p, COUNTERFACTUAL_DIR, 16, 5e-4)
    p.add_argument("--lora-r", type=int, default=16, help="LoRA rank; 0 fine-tunes every weight (default %(default)s)")
    p.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha (default %(default)s)")
    p.add_argument(
        "--lora-layers",
        type=int,
        default=0,
        help="adapt only the top N blocks (0 = all); cheaper steps on a CPU (default %(default)s)",
    )
    p.add_argument(
        "--negatives",
        type=float,
        default=0.0,
        help="share of extra out-of-scope examples answered as the base model answers (default 0: in-scope only)",
    )
    p.add_argument(
        "--skip-before",
        action="store_true",
        help="do not measure the untrained few-shot model on the held-out records first",
    )


def _settings(args: argparse.Namespace, config: SeracConfig, **extra):
    from core.device import resolve_device
    from core.training.settings import TrainSettings

    return TrainSettings(
        data=tuple(args.data),
        out=args.out or _part_dir(args.checkpoints_dir, args.command),
        seed=args.seed,
        device=resolve_device(args.train_device or config.device),
        max_minutes=args.max_minutes,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        forms=args.forms,
        swap_forms=args.swap_forms,
        restate_pool=args.restate_pool,
        limit=args.limit,
        eval_records=args.eval_records,
        save_every=args.save_every,
        restart=args.restart,
        **extra,
    )


def _train_scope(args: argparse.Namespace, config: SeracConfig) -> int:
    from core.scope import EmbeddingScopeClassifier
    from core.training.train_scope import train_scope

    settings = _scope_settings(args, config)
    init = _resolve(args.init, config) if args.init else _resolve(config.embedder, config)
    baseline = EmbeddingScopeClassifier(config.similarity_scale, config.similarity_center)
    meta = train_scope(settings, _embedder(config, settings), init, baseline)
    _report(meta, settings.out)
    return 0


def _average_scope(args: argparse.Namespace, config: SeracConfig) -> int:
    from core.training.average_scope import average_scope

    if len(args.sources) != 2:
        raise InvalidInput(f"average-scope takes exactly two --from folders, got {len(args.sources)}")
    settings = _scope_settings(args, config)
    meta = average_scope(settings, *args.sources, args.weight, _embedder(config, settings))
    _report(meta, settings.out)
    return 0


def _resolve(name: str, config: SeracConfig) -> str:
    from core.packaged import resolve_model_path

    return resolve_model_path(name, config.cache_dir)


def _embedder(config: SeracConfig, settings):
    from core.embedder import SentenceEmbedder

    return SentenceEmbedder(_resolve(config.embedder, config), settings.device, config.batch_size)


def _scope_settings(args: argparse.Namespace, config: SeracConfig):
    return _settings(
        args,
        config,
        hard_negatives=args.hard_negatives,
        subject_negatives=args.subject_negatives,
        min_rejection=args.min_rejection,
        relation_negatives=args.relation_negatives,
        relation_positives=args.relation_positives,
        synthetic_edits=args.synthetic_edits,
        synthetic_negatives=args.synthetic_negatives,
        synthetic_file=args.synthetic_file,
        relation_sources=tuple(s.strip() for s in args.relation_sources.split(",") if s.strip()),
        freeze_embeddings=not args.train_embeddings,
        top_k=args.measure_top_k or config.top_k,
    )


def _train_counterfactual(args: argparse.Namespace, config: SeracConfig) -> int:
    from core.packaged import resolve_model_path
    from core.training.train_counterfactual import train_counterfactual

    settings = _settings(
        args,
        config,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_layers=args.lora_layers,
        negatives=args.negatives,
    )
    base = resolve_model_path(config.counterfactual_name, config.cache_dir)
    meta = train_counterfactual(settings, base, config.max_new_tokens, measure_before=not args.skip_before)
    _report(meta, settings.out)
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scope-dir",
        default=None,
        help=f"scope checkpoint folder (default: {SCOPE_DIR} in the global --checkpoints-dir)",
    )
    p.add_argument(
        "--counterfactual-dir",
        default=None,
        help=f"counterfactual checkpoint folder (default: {COUNTERFACTUAL_DIR} in the global --checkpoints-dir)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="folder written whole: scope/, counterfactual/, manifest.json "
        "(default: the global --models-dir, which serving loads)",
    )
    p.add_argument(
        "--metrics",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an `eval --json` report to record in the manifest under NAME; repeat",
    )


def _export(args: argparse.Namespace, config: SeracConfig) -> int:
    from core.training.export import export_parts

    metrics = {}
    for item in args.metrics:
        name, sep, path = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--metrics takes NAME=FILE, got {item!r}")
        metrics[name] = eval_summary(_read_json(path), path)
    scope = args.scope_dir or str(Path(args.checkpoints_dir) / SCOPE_DIR)
    counterfactual = args.counterfactual_dir or str(Path(args.checkpoints_dir) / COUNTERFACTUAL_DIR)
    manifest = export_parts(
        scope,
        counterfactual,
        args.out or args.models_dir,
        config.embedder,
        config.counterfactual_name,
        metrics,
    )
    print(json.dumps({k: manifest[k] for k in ("version", "bytes_total", "parts")}, indent=2))
    return 0


def eval_summary(report: dict, source: str) -> dict:
    """The headline figures of an `eval --json` report, as the manifest keeps them."""
    keys = ("n_edits", "reliability", "generalization", "locality", "drawdown", "routing", "locality_collisions")
    return {"source": source, "data": report.get("config", {}).get("data")} | {k: report.get(k) for k in keys}


def _read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a readable JSON report ({exc})") from None


def _part_dir(checkpoints_dir: str, command: str) -> Path:
    return Path(checkpoints_dir) / (SCOPE_DIR if command in ("train-scope", "average-scope") else COUNTERFACTUAL_DIR)


def _report(meta: dict, out: Path) -> None:
    print(json.dumps(meta.get("metrics", {}), indent=2))
    print(f"checkpoint: {out} (step {meta['step']}, {meta['train_minutes']} min of training)", file=sys.stderr)


COMMANDS = [
    Command(
        "train-scope",
        "train the cross-encoder scope classifier (hard negatives; picks the threshold)",
        _scope_args,
        _train_scope,
    ),
    Command(
        "average-scope",
        "average two scope checkpoints' weights, then measure and pick the threshold as training does",
        _average_args,
        _average_scope,
    ),
    Command(
        "train-counterfactual",
        "fine-tune the counterfactual model (LoRA) to answer per the edit in its prompt",
        _counterfactual_args,
        _train_counterfactual,
    ),
    Command(
        "export-parts",
        "write the compact trained parts and their manifest (models/) from training checkpoints",
        _export_args,
        _export,
    ),
]
