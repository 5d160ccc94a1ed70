"""TrainSettings: the one frozen, validated settings object of a training run (both parts).

Invariant: a TrainSettings that exists is valid; bad values raise ConfigError before any model loads.
The settings are written to the checkpoint's serac.json, so a checkpoint says how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from core.config import check, described


@dataclass(frozen=True)
class TrainSettings:
    data: tuple[str, ...] = described(
        "training files (CounterFact / zsRE JSON); the first supplies the held-out split", ()
    )
    out: Path = described("checkpoint folder (written atomically; a run resumes from it)", Path("checkpoints/scope"))
    seed: int = described("seed of the split, the pair order, the head init and dropout", 0)
    device: str = described("'cpu' or 'cuda' (already resolved)", "cpu")
    max_minutes: float | None = described(
        "optional wall-clock cap (then evaluate and save); None = steps alone bound "
        "the run, so it trains the same on any machine",
        None,
    )
    max_steps: int = described("stop training after this many optimizer steps", 100_000)
    batch_size: int = described("training examples per optimizer step", 32)
    lr: float = described("peak learning rate (linear warm-up, then constant)", 5e-5)
    warmup_steps: int = described("steps of linear learning-rate warm-up", 50)
    limit: int | None = described("read at most this many records per training file", None)
    eval_records: int = described("records of the first file held out to measure and pick the threshold", 300)
    save_every: int = described("write a resumable checkpoint every N steps", 200)
    restart: bool = described("ignore a resumable checkpoint in `out` and start over", False)
    hard_negatives: int = described("scope: nearest other edits taken as negatives per query", 3)
    subject_negatives: int = described(
        "scope: per edit, queries naming its subject in another relation, and naming a "
        "longer entity that contains it, taken as negatives (of each kind)",
        0,
    )
    relation_negatives: int = described(
        "scope, with forms: per edit, queries asking another relation of its subject in "
        "any form (core.training.relation_negatives)",
        0,
    )
    relation_positives: int = described(
        "scope, with forms: per edit, queries asking its own relation of its subject in other "
        "wordings, taken as positives (core.training.relation_positives)",
        0,
    )
    synthetic_edits: int = described(
        "scope: edits made from hand-written relation wordings over made-up subjects, each with "
        "other wordings as positives and other relations and sibling names as negatives "
        "(core.training.synthetic_scope)",
        0,
    )
    synthetic_negatives: int = described(
        "scope: per synthetic edit, queries asking other relations of its subject, taken as negatives", 3
    )
    synthetic_file: str = described(
        "scope: the relation wordings file of synthetic_edits", "datasets/relation_wordings.json"
    )
    relation_sources: tuple[str, ...] = described(
        "sections of the forms file (e.g. 'counterfact', 'zsre') whose templates "
        "identify edits and word the relation negatives",
        ("counterfact", "zsre"),
    )
    top_k: int = described("scope: candidates retrieved per query when measuring (as the router does)", 5)
    min_rejection: float = described(
        "scope: pick the threshold with the best in-scope recall whose out-of-scope "
        "rejection reaches this (else the best recall + rejection)",
        0.99,
    )
    lora_r: int = described("counterfactual: LoRA rank (0 = full fine-tune)", 16)
    lora_alpha: int = described("counterfactual: LoRA scaling numerator", 32)
    lora_layers: int = described(
        "counterfactual: adapt only the top N transformer blocks (0 = all); backpropagation "
        "then stops there, so a step costs much less on a CPU",
        0,
    )
    forms: str | None = described(
        "JSON of benchmark templates restated as questions, instructions and completions "
        "(datasets/forms.json); None = the records' own forms only",
        None,
    )
    swap_forms: float = described("with forms: share of records whose edit is itself stated in another form", 0.33)
    restate_pool: str = described(
        "with forms: restate a prompt in its own template's forms ('template') or in "
        "any form of its relation ('relation')",
        "template",
    )
    freeze_embeddings: bool = described(
        "scope: keep the encoder's token embeddings as packaged (the shipped part then "
        "stores only the layers above them)",
        True,
    )
    negatives: float = described(
        "counterfactual: share of extra examples where the edit does not apply (a near-miss "
        "prompt; the target is then the base model's own answer); 0 = in-scope only, as in SERAC",
        0.0,
    )

    def __post_init__(self) -> None:
        check(bool(self.data), "at least one --data file is needed")
        check(self.device in ("cpu", "cuda"), f"device must be 'cpu' or 'cuda', got {self.device!r}")
        check(
            self.max_minutes is None or self.max_minutes > 0, f"max_minutes must be positive, got {self.max_minutes!r}"
        )
        check(self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps!r}")
        check(1 <= self.batch_size <= 4096, f"batch_size must be in 1..4096, got {self.batch_size!r}")
        check(0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr!r}")
        check(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps!r}")
        check(self.limit is None or self.limit >= 2, f"limit must be at least 2, got {self.limit!r}")
        check(self.eval_records >= 1, f"eval_records must be at least 1, got {self.eval_records!r}")
        check(self.save_every >= 1, f"save_every must be at least 1, got {self.save_every!r}")
        check(0 <= self.hard_negatives <= 50, f"hard_negatives must be in 0..50, got {self.hard_negatives!r}")
        check(0 <= self.subject_negatives <= 50, f"subject_negatives must be in 0..50, got {self.subject_negatives!r}")
        check(
            0 <= self.relation_negatives <= 50 and (not self.relation_negatives or bool(self.forms)),
            f"relation_negatives must be in 0..50 and needs forms, got {self.relation_negatives!r}",
        )
        check(
            0 <= self.relation_positives <= 50 and (not self.relation_positives or bool(self.forms)),
            f"relation_positives must be in 0..50 and needs forms, got {self.relation_positives!r}",
        )
        check(
            0 <= self.synthetic_edits <= 100_000, f"synthetic_edits must be in 0..100000, got {self.synthetic_edits!r}"
        )
        check(
            0 <= self.synthetic_negatives <= 20,
            f"synthetic_negatives must be in 0..20, got {self.synthetic_negatives!r}",
        )
        check(1 <= self.top_k <= 100, f"top_k must be in 1..100, got {self.top_k!r}")
        check(0 <= self.min_rejection <= 1, f"min_rejection must be in [0, 1], got {self.min_rejection!r}")
        check(self.lora_r >= 0 and self.lora_alpha >= 1, "lora_r must be >= 0 and lora_alpha >= 1")
        check(self.lora_layers >= 0, f"lora_layers must be >= 0, got {self.lora_layers!r}")
        check(0 <= self.swap_forms <= 1, f"swap_forms must be in [0, 1], got {self.swap_forms!r}")
        check(
            self.restate_pool in ("template", "relation"),
            f"restate_pool must be 'template' or 'relation', got {self.restate_pool!r}",
        )
        check(0 <= self.negatives < 1, f"negatives must be in [0, 1), got {self.negatives!r}")
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "data", tuple(str(d) for d in self.data))

    def public_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["out"], out["data"] = str(self.out), list(self.data)
        return out
