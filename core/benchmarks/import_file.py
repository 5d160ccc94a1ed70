"""CounterFact-shaped import files of any size, for the bulk-import benchmark (`app.py bench --import-edits N`,
scripts/make_import_file.py).

The real CounterFact train split holds about 10,000 records; a larger file is grown from it the way
core.benchmarks.data grows vectors: the real records come first, unchanged, then variants. A variant takes
one real record's prompt template (its prompt, paraphrase and relation, with its new target) and puts
another real record's subject in it ("Toko Yasuda, the" with the subject of "Autonomous University of
Madrid, which is located in" becomes "Autonomous University of Madrid, the"), so every record reads like
CounterFact and names a real entity, and no two records of the file share a prompt (case, spacing and edge
punctuation ignored, as the conflict rule compares them): the file imports without an in-file conflict. The
unrelated prompt (a near miss about another subject) is the template record's own.

Invariants: the output is deterministic for (source records, n, seed); every record has the fields
core.datasets reads for the counterfact format; the file is written record by record (bounded memory).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from core.text import normalize_answer

CASE_ID_STEP = 1_000_000  # a variant's case_id: its template's case_id plus a multiple of this


def usable(records: Sequence[dict]) -> list[dict]:
    """The records a variant can be made from: a dict whose subject appears in its prompt and paraphrase."""
    return [
        r
        for r in records
        if isinstance(r, dict)
        and all(isinstance(r.get(k), str) and r.get(k) for k in ("prompt", "target_new", "subject", "rephrase_prompt"))
        and r["subject"] in r["prompt"]
        and r["subject"] in r["rephrase_prompt"]
    ]


def grown_records(records: Sequence[dict], n: int, seed: int = 0) -> Iterator[dict]:
    """`n` CounterFact records: the usable real ones first, then variants with swapped subjects (module doc)."""
    real = usable(records)
    if len(real) < 2:
        raise ValueError("needs at least 2 CounterFact records whose subject appears in the prompt and paraphrase")
    seen: set[str] = set()
    made = 0
    for record in real:
        key = normalize_answer(record["prompt"])
        if made == n or key in seen:  # a prompt the split repeats would contradict its twin in the file
            continue
        seen.add(key)
        made += 1
        yield record
    rng = np.random.default_rng(seed)
    rounds = 0
    while made < n:
        rounds += 1
        if rounds > 1000:
            raise ValueError(f"cannot make {n} distinct prompts from {len(real)} records")
        templates, subjects = rng.permutation(len(real)), rng.integers(0, len(real), len(real))
        for t, s in zip(templates, subjects):
            variant = _variant(real[t], real[s]["subject"], rounds)
            key = normalize_answer(variant["prompt"]) if variant else ""
            if variant is None or key in seen:
                continue
            seen.add(key)
            made += 1
            yield variant
            if made == n:
                return


def _variant(template: dict, subject: str, round_: int) -> dict | None:
    if subject == template["subject"]:
        return None
    return {
        **template,
        "case_id": int(template.get("case_id", 0)) + round_ * CASE_ID_STEP,
        "prompt": template["prompt"].replace(template["subject"], subject),
        "rephrase_prompt": template["rephrase_prompt"].replace(template["subject"], subject),
        "subject": subject,
    }


def write_import_file(path: Path, source: Path, n: int, seed: int = 0) -> Path:
    """Write `n` grown records from the CounterFact JSON `source` to `path` as a JSON list; returns `path`."""
    records = json.loads(Path(source).read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for i, record in enumerate(grown_records(records, n, seed)):
            out.write(("," if i else "") + "\n" + json.dumps(record, ensure_ascii=False))
        out.write("\n]\n")
    return path
