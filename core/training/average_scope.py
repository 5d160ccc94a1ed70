"""Averaging two scope checkpoints' weights (a "model soup"), then measuring and thresholding the result.

Two runs of the cross-encoder on one lineage (a run and the run it started from, `--init`) trade one kind of
scope against another: step 2's same-subject negatives reject near misses, step 3's encyclopaedic wordings
keep reworded relations in scope. Their weights lie close enough that the average (1 - weight) a + weight b
is itself a classifier, one that keeps most of what each run learnt (README: Trained parts). Nothing trains
here: the average is measured on the held-out split exactly as a training run is (train_scope.measure), and
the threshold is picked there by the same rule.

Invariant: both checkpoints are scope checkpoints of the same architecture (the same weight names and
shapes), else nothing is written; the saved folder loads with core.cross_encoder.CrossEncoderScopeClassifier,
and its serac.json names both sources and the weight.
"""

from __future__ import annotations

import time

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from core.checkpoints import read_meta, require_meta
from core.embedder import Embedder
from core.errors import InvalidInput
from core.training.checkpoints import save_checkpoint
from core.training.records import load_split
from core.training.settings import TrainSettings
from core.training.train_scope import SCOPE_IDENTITY, measure


def average_scope(settings: TrainSettings, first: str, second: str, weight: float, embedder: Embedder) -> dict:
    """Average `first` and `second` ((1 - weight) first + weight second), measure, save in settings.out;
    returns the saved serac.json content."""
    if not 0.0 < weight < 1.0:
        raise InvalidInput(f"weight must be in (0, 1), got {weight!r}")
    metas = [require_meta(folder, "scope") for folder in (first, second)]
    started = time.monotonic()
    model = AutoModelForSequenceClassification.from_pretrained(first, num_labels=1).to(settings.device)
    other = AutoModelForSequenceClassification.from_pretrained(second, num_labels=1).state_dict()
    model.load_state_dict(averaged(model.state_dict(), other, weight))
    tokenizer = AutoTokenizer.from_pretrained(first)
    _, held = load_split(settings)
    metrics = measure(model, tokenizer, embedder, held, settings, None)
    meta = {
        **SCOPE_IDENTITY,
        "init": second,  # the lineage goes on through the second source (whose own init is, here, the first)
        "averaged": {"from": [first, second], "weight": weight, "steps": [m.get("step") for m in metas]},
        "config": settings.public_dict(),
        "step": metas[1].get("step"),
        "train_minutes": round((time.monotonic() - started) / 60, 2),  # averaging and measuring: nothing trains
        "complete": True,
        "metrics": metrics,
        "threshold": metrics["threshold"],
    }
    save_checkpoint(settings.out, meta, lambda d: (model.save_pretrained(d), tokenizer.save_pretrained(d)))
    return read_meta(settings.out)


def averaged(first: dict, second: dict, weight: float) -> dict:
    """(1 - weight) first + weight second for every floating-point tensor; others (ids) from `first`.
    InvalidInput unless both hold the same names and shapes."""
    if first.keys() != second.keys() or any(first[k].shape != second[k].shape for k in first):
        raise InvalidInput("the two scope checkpoints do not share one architecture (weight names or shapes differ)")
    return {
        k: (1 - weight) * v + weight * second[k].to(v.device) if v.is_floating_point() else v for k, v in first.items()
    }
