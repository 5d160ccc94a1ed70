"""Bad input through the UI callbacks, table-driven: each case calls a plain callback (webapp/callbacks/) with a real
Services (the default models, a temp SQLite log) and gets its clear error as a message, never an exception; the
edits, audit, settings and probe tables are exactly as before, and the services still answer afterwards.
"""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa

from core.types import EditDraft
from db.repository import EditRepository
from services.services import Services
from tests.seen import seen
from webapp.auth import User
from webapp.callbacks import audit, edits, probe, scope_map, threshold
from webapp.callbacks.edits import MAX_UPLOAD_BYTES

pytestmark = pytest.mark.models

ALICE, VICTOR = User("alice", "curator"), User("victor", "viewer")
PROMPT, TARGET = "The mother tongue of Danielle Darrieux is", "English"
TABLES = ("edits", "audit_log", "settings", "probe_prompts", "probe_log")


def state(engine: sa.Engine) -> tuple:
    """Every row a bad input must not change."""
    with engine.connect() as conn:
        return tuple(tuple(conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1")).all()) for t in TABLES)


@pytest.fixture(scope="module")
def services(default_config, tmp_path_factory):
    from core.loading import build_editor

    url = f"sqlite:///{tmp_path_factory.mktemp('bad-ui') / 'edits.sqlite'}"
    s = Services(default_config.replace(db_url=url), EditRepository(url), build_editor(default_config))
    s.add_edit(EditDraft(PROMPT, TARGET), "alice")  # 1: active
    s.add_edit(EditDraft("The capital of Veltria is", "Osmund"), "alice")  # 2: retired
    s.retire(2, "alice")
    return s


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-ui-files")
    (d / "broken.jsonl").write_text('{"prompt": "a b c", "target": "b"}\n{"prompt": "c", "target": \n')
    (d / "utf8.jsonl").write_bytes(b'{"prompt": "caf\xe9", "target": "x"}\n')
    (d / "ragged.csv").write_text("prompt,target\nx,y,z\n")
    (d / "noheader.csv").write_text("a,b\n1,2\n")
    (d / "empty.jsonl").write_text("")
    (d / "control.jsonl").write_text(json.dumps({"prompt": "bell\u0007", "target": "x"}) + "\n")
    (d / "bad.zsre.json").write_text('[{"src": "q"}]')
    with open(d / "huge.jsonl", "wb") as f:  # sparse: over the limit without writing it all
        f.truncate(MAX_UPLOAD_BYTES + 1)
    (d / "dir").mkdir()
    return d


S = "S"  # stands for the services in a case's arguments
CHECKED = edits.Checked(EditDraft(PROMPT, "Lyon"), (1,))  # a contradiction of edit 1, as checked
CASES = [
    # edits tab: add (with the conflict check) and add anyway
    ("add: empty prompt", edits.check_and_add, (S, ALICE, "", TARGET), "prompt must not be empty"),
    ("add: whitespace prompt", edits.check_and_add, (S, ALICE, " \t\n ", TARGET), "prompt must not be empty"),
    ("add: empty target", edits.check_and_add, (S, ALICE, "p q", ""), "target must not be empty"),
    ("add: over-size prompt", edits.check_and_add, (S, ALICE, "p" * 5000, TARGET), "limit is 4096"),
    ("add: over-size target", edits.check_and_add, (S, ALICE, "p q", "t" * 4097), "limit is 4096"),
    ("add: control character", edits.check_and_add, (S, ALICE, "ring\u0007bell", TARGET), "control characters"),
    ("add: NUL in target", edits.check_and_add, (S, ALICE, "p q", "x\x00y"), "control characters"),
    ("add: invalid UTF-8", edits.check_and_add, (S, ALICE, "caf\udce9", TARGET), "not valid UTF-8"),
    ("add: control in subject", edits.check_and_add, (S, ALICE, "p q", TARGET, "a\x1bb"), "subject contains control"),
    ("add: viewer", edits.check_and_add, (S, VICTOR, "p q", TARGET), "only curators"),
    ("settle: viewer", edits.settle_and_add, (S, VICTOR, None, "p q", TARGET), "only curators"),
    ("settle: no choice", edits.settle_and_add, (S, ALICE, CHECKED, PROMPT, "Lyon"), "choose how to settle"),
    (
        "settle: bad choice",
        edits.settle_and_add,
        (S, ALICE, CHECKED, PROMPT, "Lyon", "", "", "merge"),
        "must be one of",
    ),
    (
        "settle: keep without reason",
        edits.settle_and_add,
        (S, ALICE, CHECKED, PROMPT, "Lyon", "", "", "keep"),
        "needs a reason",
    ),
    # edits tab: retire, restore, change target
    ("retire: unknown id", edits.retire, (S, ALICE, 999), "no edit with id 999"),
    ("retire: non-numeric id", edits.retire, (S, ALICE, "abc"), "whole number"),
    ("retire: no id", edits.retire, (S, ALICE, ""), "choose an edit first"),
    ("retire: fractional id", edits.retire, (S, ALICE, 1.5), "positive whole number"),
    ("retire: infinite id", edits.retire, (S, ALICE, "inf"), "positive whole number"),
    ("retire: nan id", edits.retire, (S, ALICE, float("nan")), "positive whole number"),
    ("retire: huge id", edits.retire, (S, ALICE, 1e30), "positive whole number"),
    ("retire: twice", edits.retire, (S, ALICE, 2), "edit 2 is retired; cannot retire"),
    ("restore: an active edit", edits.restore, (S, ALICE, 1), "edit 1 is active; cannot restore"),
    ("retire: viewer", edits.retire, (S, VICTOR, 1), "only curators"),
    ("retire: over-size reason", edits.retire, (S, ALICE, 1, "r" * 5000), "reason is 5000 characters"),
    ("change: empty target", edits.change_target, (S, ALICE, 1, "  "), "target must not be empty"),
    ("change: same target", edits.change_target, (S, ALICE, 1, TARGET), "already has"),
    ("change: unknown id", edits.change_target, (S, ALICE, 77, "x"), "no edit with id 77"),
    # edits tab: bulk import
    ("import: no file", edits.import_file, (S, ALICE, None), "choose a file"),
    ("import: malformed JSONL", edits.import_file, (S, ALICE, "{d}/broken.jsonl"), "Nothing imported"),
    ("import: invalid UTF-8 file", edits.import_file, (S, ALICE, "{d}/utf8.jsonl"), "not valid UTF-8"),
    ("import: ragged CSV", edits.import_file, (S, ALICE, "{d}/ragged.csv"), "Nothing imported"),
    ("import: CSV without header", edits.import_file, (S, ALICE, "{d}/noheader.csv"), "header row"),
    ("import: empty file", edits.import_file, (S, ALICE, "{d}/empty.jsonl"), "file is empty"),
    ("import: control characters", edits.import_file, (S, ALICE, "{d}/control.jsonl"), "Nothing imported"),
    ("import: zsRE record missing fields", edits.import_file, (S, ALICE, "{d}/bad.zsre.json"), "Nothing imported"),
    ("import: oversized upload", edits.import_file, (S, ALICE, "{d}/huge.jsonl"), "upload limit"),
    ("import: a directory", edits.import_file, (S, ALICE, "{d}/dir"), "is a directory"),
    ("import: unknown format", edits.import_file, (S, ALICE, "{d}/broken.jsonl", "yaml"), "unknown format"),
    ("import: viewer", edits.import_file, (S, VICTOR, "{d}/broken.jsonl"), "only curators"),
    # probe tab
    ("probe: empty prompt", probe.probe_prompt, (S, ALICE, "   "), "prompt must not be empty"),
    ("probe: over-size prompt", probe.probe_prompt, (S, ALICE, "p" * 5000), "limit is 4096"),
    ("probe: control character", probe.probe_prompt, (S, ALICE, "a\x07b"), "control characters"),
    ("probe edit: unknown id", probe.probe_edit, (S, ALICE, 999), "no edit with id 999"),
    ("keep probe: empty prompt", probe.add_probe, (S, ALICE, 1, "", "in scope"), "prompt must not be empty"),
    ("keep probe: bad expectation", probe.add_probe, (S, ALICE, 1, "p q", "maybe"), "expect must be"),
    ("keep probe: unknown edit", probe.add_probe, (S, ALICE, 999, "p q", "in scope"), "999"),
    ("keep probe: viewer", probe.add_probe, (S, VICTOR, 1, "p q", "in scope"), "only curators"),
    # threshold tab
    ("threshold: non-numeric", threshold.set_threshold, (S, ALICE, "abc"), "threshold must be a number"),
    ("threshold: out of range", threshold.set_threshold, (S, ALICE, 1.5), "threshold must be in [0, 1]"),
    ("threshold: nan", threshold.set_threshold, (S, ALICE, "nan"), "threshold must be in [0, 1]"),
    ("threshold: blank", threshold.set_threshold, (S, ALICE, ""), "threshold must be a number"),
    ("threshold: viewer", threshold.set_threshold, (S, VICTOR, 0.4), "only curators"),
    ("threshold view: non-numeric", threshold.threshold_view, (S, ALICE, "high"), "threshold must be a number"),
    # audit and scope map tabs (read-only, but bad filters still get a clear message)
    ("audit: bad date", audit.audit_rows, (S, ALICE, None, "", "yesterday"), "since must be a date"),
    ("audit: since after until", audit.audit_rows, (S, ALICE, None, "", "2026-02-01", "2026-01-01"), "after"),
    ("audit: bad edit id", audit.audit_rows, (S, ALICE, "x"), "whole number"),
    ("audit export: bad date", audit.export_csv, (S, ALICE, None, "", "", "soon"), "until must be a date"),
    ("scope map: control character", scope_map.scope_map, (S, ALICE, "a\x07b"), "control characters"),
    ("edit table: bad status", edits.edit_page, (S, "", "lost"), "status must be"),
    ("edit table: infinite page", edits.edit_page, (S, "", "all", "inf"), "page must be a whole number"),
    ("edit table: non-numeric page", edits.edit_page, (S, "", "all", "two"), "page must be a whole number"),
]


def _message(result) -> str:
    """The message part of a callback's outputs (markdown strings; tables and figures are skipped)."""
    parts = result if isinstance(result, tuple) else (result,)
    return seen(" ".join(p for p in parts if isinstance(p, str)))


@pytest.mark.parametrize("name,callback,args,expected", CASES, ids=[c[0] for c in CASES])
def test_ui_callbacks_reject_bad_input_and_change_nothing(services, files, name, callback, args, expected):
    before = state(services.repository.engine)
    args = [services if a is S else a.replace("{d}", str(files)) if isinstance(a, str) else a for a in args]
    message = _message(callback(*args))
    assert expected in message, message
    assert "Error" in message or "Nothing imported" in message, message
    assert state(services.repository.engine) == before
    assert services.check_consistency().ok and services.editor.threshold == services.config.threshold


def test_services_still_answer_after_the_bad_inputs(services):
    decision = services.route([PROMPT])[0]
    assert decision.chosen is not None and decision.chosen.edit.id == 1
    assert len(CASES) >= 30 and os.path.getsize(services.repository.url.split("///", 1)[1]) > 0
