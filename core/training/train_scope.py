"""Training the cross-encoder scope classifier (SERAC's g) with balanced binary cross-entropy.

Start: MiniLM's encoder with a fresh one-logit head (`init_path`), or the checkpoint in
`settings.out` when one is there (resume). Data: scope_data.mine_pairs over the training split.
Loss: BCE with pos_weight = negatives / positives, so both classes weigh the same. After the budget,
the held-out split is measured as the router would use the classifier (scope_eval), the threshold
is picked there, and everything lands in the checkpoint's serac.json.

Invariant: the held-out records are never in a training pair; the saved folder loads with
core.cross_encoder.CrossEncoderScopeClassifier.
"""

from __future__ import annotations

import sys
import time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from core.checkpoints import read_meta
from core.cross_encoder import CrossEncoderScopeClassifier, pair_logits
from core.embedder import Embedder
from core.scope import EmbeddingScopeClassifier
from core.training.checkpoints import load_state, save_checkpoint, seed_everything
from core.training.loop import batch_indices, optimizer_step, resume, run_steps, trainer_state, warmup_schedule
from core.training.records import load_split
from core.training.relation_negatives import RelationForms, other_relation_queries
from core.training.relation_positives import RelationWordings, same_relation_queries
from core.training.scope_data import ScopePair, mine_pairs, new_negatives, new_pairs
from core.training.scope_eval import pick_threshold, routing_metrics, score_probes
from core.training.settings import TrainSettings
from core.training.synthetic_scope import synthetic_pairs

PROBE_PAIRS = 64  # fixed pairs whose loss is measured before and after training
# what every scope checkpoint's serac.json says it is (a trained run's, and an average's: core.training.average_scope)
SCOPE_IDENTITY = {"kind": "scope", "scorer": "cross-encoder", "input": "edit prompt [SEP] query"}


def train_scope(
    settings: TrainSettings, embedder: Embedder, init_path: str, baseline: EmbeddingScopeClassifier | None = None
) -> dict:
    """Train, measure on the held-out split, save; returns the checkpoint's serac.json content."""
    seed_everything(settings.seed)
    train_cases, held = load_split(settings)
    print(f"mining pairs from {len(train_cases)} records ({len(held)} held out)...", file=sys.stderr)
    pairs = scope_pairs(settings, train_cases, embedder)
    state = None if settings.restart else load_state(settings.out)
    source = str(settings.out) if state else init_path
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1).to(settings.device)
    if settings.freeze_embeddings:
        frozen_embeddings(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.01)
    scheduler = warmup_schedule(optimizer, settings.warmup_steps)
    start, prior_minutes = resume(state, optimizer, scheduler, settings.out)
    n_pos = sum(p.label for p in pairs)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(pairs) - n_pos) / max(n_pos, 1.0)))
    probe = [pairs[i] for i in batch_indices(len(pairs), PROBE_PAIRS, 0, settings.seed)]
    probe_before = _loss(model, tokenizer, probe, loss_fn, settings.device)

    def step_fn(step: int) -> float:
        batch = [pairs[i] for i in batch_indices(len(pairs), settings.batch_size, step, settings.seed)]
        model.train()
        loss = _batch_loss(model, tokenizer, batch, loss_fn, settings.device)
        return optimizer_step(loss, params, optimizer, scheduler)

    def save(step: int, metrics: dict | None = None, minutes: float | None = None) -> None:
        minutes = prior_minutes + (minutes if minutes is not None else (time.monotonic() - t0) / 60)
        meta = _meta(settings, init_path, step, len(pairs), n_pos, minutes, metrics)
        save_checkpoint(
            settings.out,
            meta,
            lambda d: (model.save_pretrained(d), tokenizer.save_pretrained(d)),
            trainer_state(optimizer, scheduler, step, minutes),
        )

    t0 = time.monotonic()
    run = run_steps(settings, start, step_fn, save, "train-scope")
    metrics = {
        "run": run,
        "probe_loss_before": probe_before,
        "probe_loss_after": _loss(model, tokenizer, probe, loss_fn, settings.device),
    }
    metrics.update(measure(model, tokenizer, embedder, held, settings, baseline))
    save(run["step"], metrics, run["minutes"])
    return read_meta(settings.out)


def scope_pairs(settings: TrainSettings, train_cases: list, embedder: Embedder) -> list[ScopePair]:
    """Every training pair: mined (scope_data), relation positives and negatives, synthetic edits."""
    pairs = mine_pairs(train_cases, embedder, settings.hard_negatives, settings.subject_negatives, settings.seed)
    if settings.relation_positives:
        found = same_relation_queries(
            train_cases, RelationWordings(settings.forms, train_cases), settings.relation_positives, settings.seed + 3
        )
        pairs += new_pairs(pairs, [(train_cases[j].edit.prompt, q) for j, q in found], 1.0)
    if settings.relation_negatives:
        found = other_relation_queries(
            train_cases,
            RelationForms(settings.forms, settings.relation_sources),
            settings.relation_negatives,
            settings.seed + 2,
        )
        pairs += new_negatives(pairs, [(train_cases[j].edit.prompt, q) for j, q in found])
    if settings.synthetic_edits:
        pairs += synthetic_pairs(
            settings.synthetic_edits, settings.seed + 4, settings.synthetic_file, negatives=settings.synthetic_negatives
        )
    return pairs


def frozen_embeddings(model) -> None:
    """Keep the token, position and type embeddings as packaged: only the layers above them train, so the
    shipped part stores those layers alone (core.shipped) and loads them over the packaged encoder."""
    for p in model.base_model.embeddings.parameters():
        p.requires_grad = False


def measure(
    model, tokenizer, embedder: Embedder, held, settings: TrainSettings, baseline: EmbeddingScopeClassifier | None
) -> dict:
    """Held-out routing metrics of the trained classifier at its chosen threshold (and of the baseline)."""
    model.eval()
    trained = CrossEncoderScopeClassifier(model, tokenizer, settings.device)
    probes = score_probes(trained, embedder, held, settings.top_k)
    threshold = pick_threshold(probes, settings.min_rejection)
    out = {
        "threshold": threshold,
        "heldout": routing_metrics(probes, threshold),
        "heldout_at_0.5": routing_metrics(probes, 0.5),
    }
    if baseline is not None:
        base = score_probes(baseline, embedder, held, settings.top_k)
        out["baseline_embedding_at_0.5"] = routing_metrics(base, 0.5)
        out["baseline_embedding_best"] = routing_metrics(base, pick_threshold(base, settings.min_rejection))
    return out


def _batch_loss(model, tokenizer, batch: list[ScopePair], loss_fn, device: str) -> torch.Tensor:
    logits = pair_logits(model, tokenizer, [p.edit_prompt for p in batch], [p.query for p in batch], device)
    return loss_fn(logits, torch.tensor([p.label for p in batch], device=device))


@torch.no_grad()
def _loss(model, tokenizer, batch: list[ScopePair], loss_fn, device: str) -> float:
    model.eval()
    return round(float(_batch_loss(model, tokenizer, batch, loss_fn, device)), 5)


def _meta(
    settings: TrainSettings, init_path: str, step: int, n_pairs: int, n_pos: float, minutes: float, metrics: dict | None
) -> dict:
    meta = {
        **SCOPE_IDENTITY,
        "init": init_path,
        "config": settings.public_dict(),
        "step": step,
        "train_minutes": round(minutes, 2),
        "pairs": n_pairs,
        "positive_pairs": int(n_pos),
        "complete": metrics is not None,
    }
    if metrics is not None:
        meta["metrics"], meta["threshold"] = metrics, metrics["threshold"]
    return meta
