"""Probe prompts kept with an edit: the inputs a curator (or an imported benchmark record) expects to be in
the edit's scope (paraphrases: answered per the edit) or out of it (unrelated: answered as before).

Invariants:
- a probe prompt always belongs to an existing edit and says `expect` = 'in' or 'out';
- a curator's probe prompt and its audit row ('add-probe') commit in one transaction; imported
  probes come with the import, whose audit rows already record the edits;
- the same (edit, prompt, expect) is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from core.errors import InvalidInput, UnknownEdit
from core.text import clean_field
from db import audit
from db.engine import read_transaction, write_transaction
from db.models import edits, probe_prompts

EXPECTS = ("in", "out")


@dataclass(frozen=True)
class ProbePrompt:
    id: int
    edit_id: int
    prompt: str
    expect: str
    source: str


def clean_probe(prompt: object, expect: object, max_chars: int) -> tuple[str, str]:
    """(prompt, expect) validated like an edit's prompt; InvalidInput says what is wrong."""
    if expect not in EXPECTS:
        raise InvalidInput(f"expect must be 'in' (in scope) or 'out' (out of scope), got {expect!r}")
    return clean_field("probe prompt", prompt, max_chars), expect


def add_probe(
    engine: sa.Engine, edit_id: int, prompt: str, expect: str, actor: str, max_chars: int = 4096
) -> ProbePrompt:
    """Keep one curator probe with the edit (audited); InvalidInput/UnknownEdit change nothing."""
    prompt, expect = clean_probe(prompt, expect, max_chars)
    with write_transaction(engine) as conn:
        _require_edit(conn, edit_id)
        existing = conn.execute(
            sa.select(probe_prompts).where(
                probe_prompts.c.edit_id == edit_id, probe_prompts.c.prompt == prompt, probe_prompts.c.expect == expect
            )
        ).first()
        if existing is not None:
            return _probe(existing._mapping)
        row = dict(
            edit_id=edit_id,
            prompt=prompt,
            expect=expect,
            source="curator",
            created_at=datetime.now(UTC),
            created_by=actor,
        )
        new_id = conn.execute(probe_prompts.insert().values(**row)).inserted_primary_key[0]
        audit.append(conn, actor, "add-probe", edit_id, None, {"prompt": prompt, "expect": expect})
    return ProbePrompt(new_id, edit_id, prompt, expect, "curator")


def insert_imported(conn: sa.Connection, rows: Sequence[tuple[int, str, str]], actor: str, at: datetime) -> int:
    """Store (edit_id, prompt, expect) rows (already clean: clean_probe) that came with new edits, inside the
    caller's transaction, which also writes those edits; returns how many."""
    values = [dict(edit_id=e, prompt=p, expect=x, source="import", created_at=at, created_by=actor) for e, p, x in rows]
    if values:
        conn.execute(probe_prompts.insert(), values)
    return len(values)


def probes_for(engine: sa.Engine, edit_ids: Sequence[int]) -> dict[int, list[ProbePrompt]]:
    """The stored probes of these edits, by edit id, in insertion order."""
    out: dict[int, list[ProbePrompt]] = {i: [] for i in edit_ids}
    if not edit_ids:
        return out
    with read_transaction(engine) as conn:
        for start in range(0, len(edit_ids), 500):
            chunk = list(edit_ids[start : start + 500])
            query = sa.select(probe_prompts).where(probe_prompts.c.edit_id.in_(chunk)).order_by(probe_prompts.c.id)
            for row in conn.execute(query):
                out[row.edit_id].append(_probe(row._mapping))
    return out


def _require_edit(conn: sa.Connection, edit_id: int) -> None:
    if not isinstance(edit_id, int) or isinstance(edit_id, bool):
        raise InvalidInput(f"edit id must be an integer, got {edit_id!r}")
    if conn.execute(sa.select(edits.c.id).where(edits.c.id == edit_id)).first() is None:
        raise UnknownEdit(f"no edit with id {edit_id}")


def _probe(row) -> ProbePrompt:
    return ProbePrompt(row["id"], row["edit_id"], row["prompt"], row["expect"], row["source"])
