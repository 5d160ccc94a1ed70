"""The UI callbacks called directly on a temp edit log: adds with conflict checks, imports, the paged table,
retire/restore/change, probing with pass/fail, probe prompts kept with an edit, the scope map, the
threshold sweep and setting, and the audit filters and CSV export. Tests marked `models` run on the
real default models (their answers and scores matter); the others on the tiny real editor
(tests/tiny_models.py), which loads in a second."""

from __future__ import annotations

import csv
import json

import pytest

from core.types import EditDraft
from db.repository import EditRepository
from services.services import Services
from tests.seen import seen
from tests.tiny_models import tiny_editor
from webapp.auth import User
from webapp.callbacks import audit, edits, probe, scope_map, threshold
from webapp.ui import build_app

ALICE, VICTOR = User("alice", "curator"), User("victor", "viewer")
PROMPT, TARGET = "The mother tongue of Danielle Darrieux is", "English"
PARAPHRASE = "Where Danielle Darrieux is from, people speak the language of"


@pytest.fixture(scope="module")
def tiny_lm_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-lm")


@pytest.fixture
def services(request, default_config, db_url, tiny_lm_folder):
    """On the real default models for tests marked `models`, else on the tiny editor."""
    real = request.node.get_closest_marker("models") is not None
    editor = request.getfixturevalue("real_editor") if real else tiny_editor(tiny_lm_folder)
    return Services(default_config.replace(db_url=db_url), EditRepository(db_url), editor)


@pytest.mark.models
def test_add_saves_when_there_is_no_conflict(services):
    message, rows, checked = edits.check_and_add(services, ALICE, PROMPT, TARGET, "Danielle Darrieux", "")
    assert message.startswith("Added edit #1") and rows == [] and checked is None
    assert services.repository.get(1).created_by == "alice" and services.check_consistency().ok


@pytest.mark.models
def test_a_contradiction_or_an_in_scope_prompt_warns_and_saves_nothing(services):
    edits.check_and_add(services, ALICE, PROMPT, TARGET)
    message, rows, checked = edits.check_and_add(services, ALICE, PROMPT, "French")
    assert (
        checked
        and "contradicts #1" in seen(message)
        and rows[0][:2] == [1, "contradiction (same prompt, other target)"]
    )
    message, rows, checked = edits.check_and_add(services, ALICE, PARAPHRASE, "German")
    assert (
        checked
        and "in its scope" in seen(message)
        and rows[0][0] == 1
        and float(rows[0][2]) >= services.editor.threshold
    )
    assert services.repository.count_edits() == 1
    # keeping both needs a reason; with one, both stay active and the reason is audited
    assert "needs a reason" in edits.settle_and_add(services, ALICE, checked, PARAPHRASE, "German", "", "", "keep")[0]
    message, _, left = edits.settle_and_add(services, ALICE, checked, PARAPHRASE, "German", "", "", "keep", "dialects")
    assert message.startswith("Added edit #2") and "Both edits stay active" in message and left is None
    assert services.repository.audit_entries(edit_id=2)[0].reason == "kept beside #1: dialects"


@pytest.mark.models
def test_settling_replaces_or_retires_the_old_edit_in_one_step(services):
    edits.check_and_add(services, ALICE, PROMPT, TARGET)
    _, _, checked = edits.check_and_add(services, ALICE, PROMPT, "French")
    message, _, _ = edits.settle_and_add(services, ALICE, checked, PROMPT, "French", "", "", "replace", "new source")
    assert "#1 now answers **French**" in message and services.repository.count_edits() == 1
    entry = services.repository.audit_entries(edit_id=1)[0]
    assert (entry.action, entry.before["target"], entry.after["target"], entry.reason) == (
        "change",
        "English",
        "French",
        "new source",
    )
    _, _, checked = edits.check_and_add(services, ALICE, PROMPT, "German")
    message, _, _ = edits.settle_and_add(services, ALICE, checked, PROMPT, "German", "", "", "retire")
    assert message.startswith("Added edit #2") and "Retired #1" in message
    assert [e.status for e in services.repository.list_edits()] == ["retired", "active"]
    assert services.check_consistency().ok and services.ask([PROMPT], "alice")[0].chosen_edit.id == 2


@pytest.mark.models
def test_a_draft_changed_after_its_check_is_checked_again_not_saved(services):
    edits.check_and_add(services, ALICE, PROMPT, TARGET)
    _, _, checked = edits.check_and_add(services, ALICE, PROMPT, "French")
    message, rows, again = edits.settle_and_add(services, ALICE, checked, PROMPT, "Spanish", "", "", "keep", "x")
    assert message.startswith("The draft changed since its check") and again.draft.target == "Spanish"
    assert services.repository.count_edits() == 1


def test_viewers_and_bad_input_get_a_message_and_change_nothing(services):
    assert "only curators" in edits.check_and_add(services, VICTOR, PROMPT, TARGET)[0]
    assert "prompt" in edits.check_and_add(services, ALICE, "   ", TARGET)[0]
    assert "choose an edit" in edits.retire(services, ALICE, None)
    assert "no edit with id 7" in edits.retire(services, ALICE, 7)
    assert services.repository.count_edits() == 0 and services.repository.audit_entries() == []


def test_retire_restore_and_change_target_are_recorded(services):
    services.add_edit(EditDraft(PROMPT, TARGET), "alice")
    retired = seen(edits.retire(services, ALICE, 1, "wrong source"))
    assert retired.startswith("Retired edit #1: it no longer routes (undo with Restore).")
    assert retired.endswith("Probe check: no active edit nearby has probes to re-run.")  # the log is empty now
    assert "cannot retire" in edits.retire(services, ALICE, 1.0)
    restored = seen(edits.restore(services, ALICE, "1"))
    assert restored.startswith("Restored edit #1: it routes again.")
    assert restored.endswith("Probe check: re-ran 1 probe(s) of 1 edit(s) nearby; 0 now fail.")  # its own prompt
    assert "target is now **French**" in edits.change_target(services, ALICE, 1, "French", "typo")
    edits.retire(services, ALICE, 1)
    assert "It is retired, so it routes nothing" in edits.change_target(services, ALICE, 1, "German")
    edits.restore(services, ALICE, 1)
    actions = [e.action for e in services.repository.audit_entries(edit_id=1)]
    assert actions == ["restore", "change", "retire", "change", "restore", "retire", "add"]
    assert services.check_consistency().ok


def test_edit_page_searches_filters_and_pages(services):
    drafts = [
        EditDraft(f"The capital of Land{i} is", f"City{i}", notes="from atlas" if i == 7 else None) for i in range(25)
    ]
    services.add_edits(drafts, "alice")
    services.retire(3, "alice")
    rows, info, page = edits.edit_page(services, "", "all", 2, 10)  # newest first: a new edit is on page 1
    assert [r[0] for r in rows] == list(range(15, 5, -1)) and info == "Page 2 of 3 · 25 edit(s), newest first"
    assert page == 2 and edits.edit_page(services, "", "all", 1, 10)[0][0][0] == 25
    rows, info, page = edits.edit_page(services, "Land1", "active", 9, 20)
    assert page == 1 and {r[0] for r in rows} == {2} | set(range(11, 21))
    retired = edits.edit_page(services, "", "retired", 1, 10)[0]
    assert [(r[0], r[1]) for r in retired] == [(3, "✕ retired")]
    assert [r[0] for r in edits.edit_page(services, "ATLAS", "all", 1, 10)[0]] == [8]  # notes are searched too


def test_import_reports_bad_lines_and_keeps_probe_prompts(services, tmp_path, counterfact_slice):
    path = tmp_path / "cf.jsonl"
    lines = [json.dumps(r) for r in counterfact_slice[:3]] + ['{"prompt": "no target"}', "not json"]
    path.write_text("\n".join(lines) + "\n")
    message, errors = edits.import_file(services, ALICE, str(path), "jsonl", False)
    assert "Nothing imported" in message and [e[0] for e in errors] == ["line 4", "line 5"]
    assert services.repository.count_edits() == 0
    fractions = []
    message, errors = edits.import_file(services, ALICE, str(path), "jsonl", True, lambda f, d: fractions.append(f))
    assert message.startswith("Imported 3 edits with 6 probe prompts") and len(errors) == 2 and fractions[-1] == 1.0
    probes = services.probes_for([1])[1]
    assert {(p.expect, p.prompt) for p in probes} == {
        ("in", counterfact_slice[0]["rephrase_prompt"]),
        ("out", counterfact_slice[0]["locality_prompt"]),
    }
    assert services.repository.audit_entries(edit_id=1)[0].reason == "import cf.jsonl"
    assert services.check_consistency().ok
    # the same records again repeat the active edits: refused by default, or settled with their probes kept
    message, errors = edits.import_file(services, ALICE, str(path), "jsonl", True)
    assert "Nothing imported" in message and [e[0] for e in errors] == [f"line {n}" for n in range(1, 6)]
    assert "repeats #1" in errors[0][1]
    message, errors = edits.import_file(services, ALICE, str(path), "jsonl", True, None, "retire")
    assert message.startswith("Imported 3 edits with 6 probe prompts") and [e[0] for e in errors] == [
        "line 4",
        "line 5",
    ]
    assert [e.status for e in services.repository.list_edits()] == ["retired"] * 3 + ["active"] * 3
    assert len(services.probes_for([4])[4]) == 2 and services.check_consistency().ok


@pytest.mark.models
def test_probe_prompt_shows_the_decision_both_answers_and_the_chart(services):
    services.add_edit(EditDraft(PROMPT, TARGET), "alice")
    decision, base, edited, fig, rows = probe.probe_prompt(services, ALICE, PARAPHRASE)
    asked, sentence = seen(decision).split("\n", 1)
    assert asked == f"Asked: “{PARAPHRASE}”" and sentence.startswith("Routed to the counterfactual model: edit #1")
    assert edited.lower().startswith("english") and base and not base.lower().startswith("english")
    assert rows[0][0] == 1 and fig.data[0].x[0] == pytest.approx(rows[0][1], abs=1e-4)
    assert fig.data[0].orientation == "h" and fig.data[0].y[0].startswith("#1 ")  # edits on the y-axis
    assert any(shape.x0 == shape.x1 == services.editor.threshold for shape in fig.layout.shapes)  # threshold line
    assert "**Error:**" in probe.probe_prompt(services, ALICE, "")[0]


@pytest.mark.models
def test_probe_set_passes_and_curator_probes_are_kept(services):
    services.add_edit(EditDraft(PROMPT, TARGET), "alice")
    assert "Kept" in probe.add_probe(services, ALICE, 1, PARAPHRASE, "in scope")
    assert "only curators" in probe.add_probe(services, VICTOR, 1, "x y z", "in scope")
    assert "expect" in probe.add_probe(services, ALICE, 1, "x y z", "sideways")
    summary, rows, _ = probe.probe_edit(services, ALICE, 1)
    assert [(r[1], r[0]) for r in rows] == [
        ("in scope", "pass"),
        ("in scope", "pass"),
        ("out of scope", "pass"),
        ("out of scope", "pass"),
    ]
    assert "4 of 4 probes pass" in summary
    assert services.repository.audit_entries(edit_id=1)[0].action == "add-probe"


@pytest.mark.models
def test_scope_map_places_the_probe_and_finds_crowded_edits(services):
    services.add_edits(
        [
            EditDraft(PROMPT, TARGET),
            EditDraft("Danielle Darrieux's mother tongue is", "French"),
            EditDraft("The capital of France is", "Lyon"),
        ],
        "alice",
    )
    fig, pairs, note = scope_map.scope_map(services, ALICE, PARAPHRASE)
    assert note.startswith("3 active edit(s) mapped") and len(fig.data) == 2 and fig.data[1].name.startswith("probe: ")
    assert {(row[0], row[2]) for row in pairs} >= {(1, "#2")}  # each pair once
    assert all(row[0] != 3 for row in pairs)


@pytest.mark.models
def test_threshold_sweep_and_setting_it_is_logged(services):
    services.add_edits([EditDraft(PROMPT, TARGET), EditDraft("The capital of Veltria is", "Osmund")], "alice")
    services.add_probe(1, PARAPHRASE, "in", "alice")
    sweep = threshold.sweep(services)
    assert sweep.expected.count(None) == 4 and len(sweep.expected) == 7
    assert sweep.rates(0.0) == (1.0, 0.0) and sweep.rates(1.0)[0] == 0.0
    fig, text, _ = threshold.threshold_view(services, VICTOR, 0.7)
    assert len(fig.data) == 2 and "At **0.70**" in text
    assert "only curators" in threshold.set_threshold(services, VICTOR, 0.7)
    assert "must be in [0, 1]" in seen(threshold.set_threshold(services, ALICE, 7))
    assert "to **0.70**" in threshold.set_threshold(services, ALICE, 0.7, "fewer false routes")
    entry = services.repository.audit_entries(actor="alice")[0]
    assert (entry.action, entry.before, entry.after, entry.reason) == (
        "setting",
        {"threshold": services.config.threshold},
        {"threshold": 0.7},
        "fewer false routes",
    )
    assert services.editor.threshold == 0.7


def test_audit_filters_and_exports_csv(services):
    services.add_edit(EditDraft(PROMPT, TARGET), "alice")
    services.retire(1, "bob", "wrong")
    rows, note = audit.audit_rows(services, VICTOR, 1, "bob")
    assert note == "1 audit entry." and rows[0][2:5] == ["bob", "retire", 1]
    assert audit.audit_rows(services, VICTOR, 1, "BOB")[0] == rows  # user names match in any case
    assert rows[0][5] == "retired"  # the change in words (tests/test_tab_callbacks.py: every kind)
    assert audit.audit_rows(services, VICTOR, None, "", "2999-01-01")[0] == []
    assert len(audit.audit_rows(services, VICTOR, None, "", "2000-01-01", "2999-01-01 00:00")[0]) == 2
    assert "since" in audit.audit_rows(services, VICTOR, None, "", "yesterday")[1]
    path, note = audit.export_csv(services, VICTOR)
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == list(audit.CSV_COLUMNS) and [r[3] for r in table[1:]] == ["retire", "add"]


def test_build_app_lays_out_every_tab_without_launching(services):
    app = build_app(services)
    labels = {block.label for block in app.blocks.values() if type(block).__name__ == "Tab"}
    assert labels == {"Overview", "Edits", "Edit", "Probe", "Scope map", "Threshold", "Audit"}


def test_reads_do_not_wait_for_the_model_slot(services):
    """While a probe holds the model slot, the table, audit and edit pickers still answer."""
    import threading

    services.add_edit(EditDraft(PROMPT, TARGET), "alice")
    done = threading.Event()
    with services.model_slot:
        worker = threading.Thread(
            target=lambda: (
                edits.edit_page(services),
                audit.audit_rows(services, ALICE),
                edits.edit_choices(services),
                done.set(),
            )
        )
        worker.start()
        assert done.wait(timeout=10), "a read waited for the model slot"
    worker.join()


def test_heavy_reads_and_writes_have_their_own_concurrency_groups(services):
    """Heavy reads start at once and are admitted or refused by services.heavy (never queued by Gradio behind each
    other); writes have their own group, so they never queue behind a viewer's probes."""
    app = build_app(services)
    heavy, writes = {"on_ask", "on_run", "on_draw", "on_check_all"}, {"on_add", "on_confirm", "on_import", "on_retire"}
    wired = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in app.fns.values() if fn.name in heavy | writes}
    assert set(wired) == heavy | writes
    assert {wired[name] for name in heavy} == {("heavy", None)}
    assert {wired[name] for name in writes} == {("write", 4)}


@pytest.mark.parametrize(
    "edited, base", [("Paris.", "Paris"), (" paris", "PARIS!"), ("", ""), ("Rome", "Paris"), ("", "Paris")]
)
def test_the_probe_verdict_and_eval_locality_judge_unchanged_answers_alike(edited, base):
    """The UI's out-of-scope pass/fail and eval's locality use one rule (core.text.same_answer)."""
    from core.evaluation.metrics import locality
    from core.types import Edit, RoutingDecision, RoutingRecord, Timings

    record = RoutingRecord(RoutingDecision("q", (), None, 0.5), base, edited, Timings())
    assert probe.passes(Edit(1, PROMPT, TARGET), "out", record) == (locality([edited], [base]) == 1.0)
    assert probe.passes(Edit(1, PROMPT, TARGET), "out", record) == (
        edited.strip(" .!").lower() == base.strip(" .!").lower()
    )


def test_the_routing_sentence_names_ties_contradictions_and_a_wrong_answer():
    from core.types import Candidate, Edit, RoutingDecision, RoutingRecord

    one, two, three = (
        Edit(1, PROMPT, "English"),
        Edit(2, PROMPT, "French"),
        Edit(3, "The capital of Veltria is", "Osmund"),
    )
    cands = (Candidate(one, 1.0, 0.983), Candidate(two, 1.0, 0.981), Candidate(three, 0.2, 0.01))
    text = seen(probe.decision_text(RoutingRecord(RoutingDecision(PROMPT, cands, cands[0], 0.5), "", "English")))
    assert "Tie with #2 (0.981)" in text and "Contradiction: also in scope, with another target: #2 (→ French)" in text
    assert "#3" not in text and "Check the answer" not in text
    wrong = seen(probe.decision_text(RoutingRecord(RoutingDecision(PROMPT, cands[:1], cands[0], 0.5), "", "Spanish")))
    assert "Check the answer: it does not start with the edit's target English" in wrong and "Tie" not in wrong
