"""Fine-tuning the counterfactual model h(edit, x) (SERAC: NLL of the new target given edit + input).

Parameter-efficient by default: LoRA (rank `lora_r`) on every linear layer of the base LM, so the
checkpoint is a few MB and loads in about a second on top of the base weights; `lora_r = 0` trains
every weight instead (a full model folder). The prompt is the short zero-shot format
(core.counterfactual.zeroshot_prompt): no demonstrations, so answering is also faster than the
untrained four-shot prompt. Before/after numbers come from the same held-out records, measured
through the serving path (core.adapters.load_counterfactual_lm + PromptedCounterfactual).

Invariant: held-out records never reach the optimizer; the base weights on disk never change.
"""

from __future__ import annotations

import sys
import time

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.adapters import load_counterfactual_lm
from core.base_model import LMBaseModel
from core.checkpoints import read_meta
from core.counterfactual import PromptedCounterfactual
from core.lm import CausalLM
from core.training.checkpoints import load_state, save_checkpoint, seed_everything
from core.training.counterfactual_data import collate, examples
from core.training.counterfactual_eval import measure_counterfactual
from core.training.loop import batch_indices, optimizer_step, resume, run_steps, trainer_state, warmup_schedule
from core.training.lora import attach_lora
from core.training.records import load_split
from core.training.settings import TrainSettings

PROBE_EXAMPLES = 32


def train_counterfactual(
    settings: TrainSettings, base_path: str, max_new_tokens: int = 16, measure_before: bool = True
) -> dict:
    """Train, save, measure held-out edit-following before and after; returns the serac.json content."""
    seed_everything(settings.seed)
    train_cases, held = load_split(settings)
    answer_base = _base_answers(base_path, settings, max_new_tokens) if settings.negatives > 0 else None
    data = examples(train_cases, settings.negatives, settings.seed, answer_base)
    before = _measure_untrained(base_path, held, settings, max_new_tokens) if measure_before else None
    state = None if settings.restart else load_state(settings.out)
    tokenizer, model = _model(settings, base_path, resume=state is not None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    scheduler = warmup_schedule(optimizer, settings.warmup_steps)
    start, prior = resume(state, optimizer, scheduler, settings.out)
    probe = collate(
        tokenizer, [data[i] for i in batch_indices(len(data), PROBE_EXAMPLES, 0, settings.seed)], settings.device
    )
    probe_before = _loss(model, probe)

    def step_fn(step: int) -> float:
        batch = [data[i] for i in batch_indices(len(data), settings.batch_size, step, settings.seed)]
        model.train()
        return optimizer_step(model(**collate(tokenizer, batch, settings.device)).loss, params, optimizer, scheduler)

    def save(step: int, metrics: dict | None = None, minutes: float | None = None) -> None:
        minutes = prior + (minutes if minutes is not None else (time.monotonic() - t0) / 60)
        meta = _meta(settings, base_path, step, len(data), minutes, metrics)
        save_checkpoint(
            settings.out,
            meta,
            lambda d: (model.save_pretrained(d), tokenizer.save_pretrained(d)),
            trainer_state(optimizer, scheduler, step, minutes),
        )

    t0 = time.monotonic()
    run = run_steps(settings, start, step_fn, save, "train-counterfactual")
    metrics = {"run": run, "probe_loss_before": probe_before, "probe_loss_after": _loss(model, probe)}
    save(run["step"], {**metrics, "pending": True}, run["minutes"])
    metrics["heldout_after"] = _measure_trained(settings, base_path, held, max_new_tokens)
    if before is not None:
        metrics["heldout_before_fewshot"] = before
    save(run["step"], metrics, run["minutes"])
    return read_meta(settings.out)


def _model(settings: TrainSettings, base_path: str, resume: bool):
    """(tokenizer, trainable model): fresh LoRA on the base, the saved adapter, or full weights."""
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if settings.lora_r == 0:
        source = str(settings.out) if resume else base_path
        return tokenizer, AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(settings.device)
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32).to(settings.device)
    if resume:
        return tokenizer, PeftModel.from_pretrained(base, str(settings.out), is_trainable=True)
    return tokenizer, attach_lora(base, settings.lora_r, settings.lora_alpha, settings.lora_layers)


def _base_answers(base_path: str, settings: TrainSettings, max_new_tokens: int):
    """The untouched base model's greedy answers, the targets of the negatives (what locality compares to)."""
    base = LMBaseModel(CausalLM(base_path, settings.device, torch.float32), max_new_tokens, 32)

    def answer(queries):
        print(f"answering {len(queries)} negatives with the base model...", file=sys.stderr)
        return base.answer(queries)

    return answer


def _measure_untrained(base_path: str, held, settings: TrainSettings, max_new_tokens: int) -> dict:
    """The untrained default (four-shot prompt on the base LM) on the held-out records."""
    lm = CausalLM(base_path, settings.device, torch.float32)
    print(f"measuring the untrained few-shot model on {len(held)} held-out records...", file=sys.stderr)
    return measure_counterfactual(
        PromptedCounterfactual(lm, max_new_tokens, 16, "fewshot"), held, LMBaseModel(lm, max_new_tokens, 16)
    )


def _measure_trained(settings: TrainSettings, base_path: str, held, max_new_tokens: int) -> dict:
    """The saved checkpoint, loaded as the app loads it, on the held-out records."""
    lm, fmt = load_counterfactual_lm(str(settings.out), base_path, settings.device, torch.float32)
    base_lm = CausalLM(base_path, settings.device, torch.float32)
    print(f"measuring the trained model on {len(held)} held-out records...", file=sys.stderr)
    return measure_counterfactual(
        PromptedCounterfactual(lm, max_new_tokens, 16, fmt), held, LMBaseModel(base_lm, max_new_tokens, 16)
    )


@torch.no_grad()
def _loss(model, batch: dict) -> float:
    model.eval()
    return round(float(model(**batch).loss), 5)


def _meta(settings: TrainSettings, base_path: str, step: int, n: int, minutes: float, metrics: dict | None) -> dict:
    complete = metrics is not None and not metrics.get("pending")
    meta = {
        "kind": "counterfactual",
        "prompt_format": "zeroshot",
        "adapter": settings.lora_r > 0,
        "base_model": base_path,
        "config": settings.public_dict(),
        "step": step,
        "examples": n,
        "train_minutes": round(minutes, 2),
        "complete": complete,
    }
    if metrics is not None:
        meta["metrics"] = {k: v for k, v in metrics.items() if k != "pending"}
    return meta
