"""Reading the training files and splitting off the held-out records.

Invariant: the split depends only on the files, `limit`, `eval_records` and the seed, so a resumed
run trains and measures on exactly the same records; held-out records never reach the optimizer.
"""

from __future__ import annotations

import random

from core.datasets import EditCase, read_edit_file
from core.errors import InvalidInput
from core.training.forms_bank import FormBank, restate_cases
from core.training.settings import TrainSettings
from core.types import Edit


def load_split(settings: TrainSettings) -> tuple[list[EditCase], list[EditCase]]:
    """(training cases from every file, held-out cases from the first file), both restated across
    prompt forms when `settings.forms` names a form bank (so the threshold is picked on mixed forms)."""
    train, held = _read_split(settings)
    if settings.forms:
        bank = FormBank.load(settings.forms)
        train = restate_cases(train, bank, settings.seed, settings.swap_forms, settings.restate_pool)
        held = restate_cases(held, bank, settings.seed + 1, settings.swap_forms, settings.restate_pool)
    return train, held


def _read_split(settings: TrainSettings) -> tuple[list[EditCase], list[EditCase]]:
    train: list[EditCase] = []
    held: list[EditCase] = []
    for index, path in enumerate(settings.data):
        read = read_edit_file(path, "auto", settings.limit)
        cases = [case for _, case in read.cases]
        if not cases:
            raise InvalidInput(f"{path}: no usable records")
        random.Random(settings.seed + index).shuffle(cases)
        if index == 0:
            if len(cases) <= settings.eval_records:
                raise InvalidInput(f"{path}: {len(cases)} records; need more than eval_records={settings.eval_records}")
            held, cases = cases[: settings.eval_records], cases[settings.eval_records :]
        train += cases
    return train, held


def as_edits(cases: list[EditCase]) -> list[Edit]:
    """The cases' edits with ids 1..n (position + 1), as a memory would hold them."""
    return [Edit(i + 1, c.edit.prompt, c.edit.target, c.edit.subject) for i, c in enumerate(cases)]
