"""The shared training loop: deterministic batches, a step and time budget, progress, periodic saves.

Invariant: batch `step` is a pure function of (seed, step, dataset size), so a run resumed at step
s sees exactly the batches an uninterrupted run would have seen from s on.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from core.progress import terminal_progress
from core.training.checkpoints import restore_rng, rng_state
from core.training.settings import TrainSettings


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Indices of batch `step`: consecutive slices of a per-epoch permutation of range(n)."""
    per_epoch = max(1, math.ceil(n / batch_size))
    epoch, slot = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[slot * batch_size : (slot + 1) * batch_size]


def warmup_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak rate over `warmup_steps`, then constant (the budget, not a step
    count, ends a run, so there is no decay horizon to aim at)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup_steps)))


def resume(state: dict | None, optimizer: torch.optim.Optimizer, scheduler, out) -> tuple[int, float]:
    """Restore the optimizer, schedule and RNG from a saved training state; (start step, prior minutes)."""
    if not state:
        return 0, 0.0
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    restore_rng(state["rng"])
    print(f"resuming {out} at step {state['step']}", file=sys.stderr)
    return state["step"], state.get("minutes", 0.0)


def trainer_state(optimizer: torch.optim.Optimizer, scheduler, step: int, minutes: float) -> dict:
    """What `resume` needs to continue a run exactly: optimizer, schedule, RNG, step and time spent."""
    return {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "step": step,
        "minutes": minutes,
    }


def optimizer_step(loss: torch.Tensor, params, optimizer: torch.optim.Optimizer, scheduler) -> float:
    """Backpropagate `loss`, clip gradients to norm 1, step the optimizer and schedule; the loss value."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step(), scheduler.step(), optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def run_steps(
    settings: TrainSettings, start_step: int, step_fn: Callable[[int], float], save_fn: Callable[[int], None], desc: str
) -> dict:
    """Call step_fn(step) -> loss until max_steps (or the optional max_minutes); save every `save_every` steps."""
    t0 = time.monotonic()
    step, ema, losses = start_step, None, []
    total = settings.max_steps if settings.max_steps < 100_000 else None
    budget_s = settings.max_minutes * 60 if settings.max_minutes is not None else float("inf")
    with terminal_progress(total=total, initial=start_step, desc=desc, unit="step") as bar:
        while step < settings.max_steps and time.monotonic() - t0 < budget_s:
            loss = step_fn(step)
            step += 1
            losses.append(loss)
            ema = loss if ema is None else 0.95 * ema + 0.05 * loss
            bar.update(1)
            bar.set_postfix(loss=f"{ema:.4f}")
            if step % settings.save_every == 0:
                save_fn(step)
    minutes = (time.monotonic() - t0) / 60
    stopped = "max_steps" if step >= settings.max_steps else "max_minutes"
    return {
        "step": step,
        "minutes": round(minutes, 2),
        "stopped_by": stopped,
        "first_losses_mean": _mean(losses[:10]),
        "last_losses_mean": _mean(losses[-10:]),
    }


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 5) if values else None
