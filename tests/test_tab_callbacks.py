"""The logic behind issue 13's tab fixes, called directly on a temp edit log with the tiny real editor
(tests/tiny_models.py): audit changes in words, crowded pairs listed once, the probes that flip between two
thresholds, the sample the sweep covers, the confirm step before a global threshold change, and import
messages that count records of a JSON list (lines of a JSONL file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.types import Candidate, EditDraft
from db.repository import EditRepository
from services.services import Services
from tests.seen import seen
from tests.tiny_models import tiny_editor
from webapp.auth import User
from webapp.callbacks import audit, edits, probe, scope_map, threshold
from webapp.figures import HOVER_CHARS

ALICE, VICTOR = User("alice", "curator"), User("victor", "viewer")


@pytest.fixture
def services(default_config, db_url, tmp_path):
    return Services(default_config.replace(db_url=db_url), EditRepository(db_url), tiny_editor(tmp_path / "lm"))


def test_audit_rows_say_the_change_in_words(services):
    services.add_edit(EditDraft("The capital of Veltria is", "Madrid"), "alice")
    services.change_target(1, "Paris", "alice", "new source")
    services.retire(1, "bob", "wrong")
    services.restore(1, "bob")
    services.add_probe(1, "Veltria's capital city is", "in", "alice")
    services.set_threshold(0.4, "alice", "fewer misses")
    rows, note = audit.audit_rows(services, VICTOR)
    assert list(audit.AUDIT_COLUMNS) == ["id", "when (UTC)", "user", "action", "edit", "change", "reason"]
    assert note == "6 audit entries."
    assert [(r[3], r[5]) for r in rows] == [
        ("setting", "threshold: 0.50 → 0.40"),
        ("add-probe", "probe (in scope): Veltria's capital city is"),
        ("restore", "restored"),
        ("retire", "retired"),
        ("change", "target: Madrid → Paris"),
        ("add", "new edit: The capital of Veltria is → Madrid"),
    ]
    assert not any("{" in str(cell) for row in rows for cell in row)  # no raw JSON cell
    assert rows[4][6] == "new source" and rows[0][4] == ""  # a setting belongs to no edit


def test_the_audit_csv_keeps_the_words_and_the_stored_json(services):
    import csv

    services.add_edit(EditDraft("The capital of Veltria is", "Madrid"), "alice")
    services.change_target(1, "Paris", "alice")
    path, note = audit.export_csv(services, VICTOR, "1")
    with open(path, newline="") as f:
        header, *table = list(csv.reader(f))
    assert header == [*audit.AUDIT_COLUMNS, "before (JSON)", "after (JSON)"] and note == "Exported 2 entries."
    assert table[0][5] == "target: Madrid → Paris" and json.loads(table[0][8])["target"] == "Paris"


def test_the_audit_csv_keeps_formulas_from_running_and_its_numbers_numbers(services):
    """OWASP CSV injection: a user name, reason or note a spreadsheet would run as a formula is written with a
    leading ' (the stored text is unchanged); the row ids and edit ids stay plain numbers."""
    import csv

    services.add_edit(EditDraft("The capital of Veltria is", "Madrid"), "@eve")
    services.change_target(1, "Paris", "-eve", '=HYPERLINK("http://evil.example","x")')
    services.retire(1, "alice", "+1+2")
    services.restore(1, "alice", "-3")
    path, _ = audit.export_csv(services, VICTOR)
    with open(path, newline="", encoding="utf-8") as f:
        _, *table = list(csv.reader(f))
    users, reasons = [r[2] for r in table], [r[6] for r in table]
    assert users == ["alice", "alice", "'-eve", "'@eve"]
    assert reasons == ["'-3", "'+1+2", '\'=HYPERLINK("http://evil.example","x")', ""]
    assert [r[0] for r in table] == ["4", "3", "2", "1"] and {r[4] for r in table} == {"1"}
    assert services.repository.audit_entries()[0].reason == "-3"  # stored as given


def test_a_right_to_left_mark_left_open_cannot_reverse_the_words_after_it_in_a_cell(services):
    """A table cell that puts the app's arrow after a curator's prompt closes the prompt's open U+202E first
    (an invisible U+202C); what is stored stays exactly as given."""
    rlo, pdf = "\u202e", "\u202c"
    services.add_edit(EditDraft(f"The capital of {rlo}airtleV is", "Madrid"), "alice")
    services.change_target(1, f"Paris{rlo}", "alice")
    rows, _ = audit.audit_rows(services, VICTOR)
    assert [r[5] for r in rows] == [
        f"target: Madrid → Paris{rlo}{pdf}",
        f"new edit: The capital of {rlo}airtleV is{pdf} → Madrid",
    ]
    assert edits.edit_choices(services)[0][0] == f"#1 [active] The capital of {rlo}airtleV is{pdf} → Paris{rlo}{pdf}"
    assert (services.repository.get(1).prompt, services.repository.get(1).target) == (
        f"The capital of {rlo}airtleV is",
        f"Paris{rlo}",
    )


def test_the_audit_edit_box_is_blank_for_all_edits_and_rejects_junk(services):
    services.add_edits(
        [EditDraft("The capital of Veltria is", "Osmund"), EditDraft("Zentha's champion is", "Ilsa")], "a"
    )
    assert len(audit.audit_rows(services, VICTOR, "")[0]) == 2 and len(audit.audit_rows(services, VICTOR, " ")[0]) == 2
    assert [r[4] for r in audit.audit_rows(services, VICTOR, "2")[0]] == [2]
    assert "whole number" in seen(audit.audit_rows(services, VICTOR, "two")[1])
    assert "positive whole number" in seen(audit.audit_rows(services, VICTOR, "0")[1])


def test_crowded_pairs_are_listed_once_with_both_targets_and_the_higher_score(services):
    services.add_edits(
        [
            EditDraft("The capital of Veltria is", "Osmund"),
            EditDraft("The capital city of Veltria is", "Lyon"),
            EditDraft("Water is made of hydrogen and", "gold"),
        ],
        "alice",
    )
    fig, pairs, note = scope_map.scope_map(services, ALICE)
    assert pairs == [
        [1, "The capital of Veltria is → Osmund", "#2", "The capital city of Veltria is → Lyon", pairs[0][4]]
    ]
    (one, two, _), vectors = services.active_vectors(10)
    cosine = float(vectors[0] @ vectors[1])
    both_ways = services.score_pairs([one.prompt, two.prompt], [[Candidate(two, cosine)], [Candidate(one, cosine)]])
    assert pairs[0][4] == round(max(both_ways[0][0], both_ways[1][0]), 4)
    assert note == "3 active edit(s) mapped; 2 crowded by another edit (1 pair(s))."
    assert [c == "#ef6c00" for c in fig.data[0].marker.color] == [True, True, False]


def test_scope_map_ids_never_overlap_each_other_or_a_dot():
    from webapp.figures import CHAR_PX, LINE_PX, SPOTS, _box, _overlap, _to_pixels, label_spots

    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 0.02, (12, 2)), rng.normal(1, 0.3, (30, 2))])  # a tight cluster and a cloud
    texts = [f"#{i + 1}" for i in range(len(points))]
    spots = label_spots(points, texts)
    px = _to_pixels(points)
    boxes = [_box(s, x, y, CHAR_PX * len(t), LINE_PX) for s, (x, y), t in zip(spots, px, texts) if s]
    dots = [(x - 5, y - 5, x + 5, y + 5) for x, y in px]
    assert all(s in SPOTS or s is None for s in spots) and sum(s is not None for s in spots) >= 30
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert not any(_overlap(a, d) for a in boxes for d in dots)
    assert None in spots  # the tight cluster cannot label every dot: those ids are on hover only


def test_the_probes_that_flip_between_two_thresholds():
    result = threshold.Sweep(
        prompts=["p1", "p2", "u1", "u2"],
        owners=[1, 2, 1, 2],
        expected=[1, 2, None, None],
        best_edit=[1, 1, 2, 1],
        best_score=np.array([0.62, 0.55, 0.45, 0.2]),
    )
    rows = threshold.flipped(result, 0.5, 0.4)  # lowering: u1 now routed; p1, p2 unchanged
    assert rows == [["u1", "#1", "out of scope", "base model", "edit #2 (0.450)", "broken"]]
    rows = threshold.flipped(result, 0.5, 0.6)  # raising: p2 (routed to the wrong edit) goes to the base model
    assert rows == [["p2", "#2", "in scope", "edit #1 (0.550)", "base model", "still wrong"]]
    assert threshold.flipped(result, 0.5, 0.7)[0][-1] == "broken"  # p1 loses its edit
    assert threshold.flipped(result, 0.4, 0.5) == [
        ["u1", "#1", "out of scope", "edit #2 (0.450)", "base model", "fixed"]
    ]


def test_the_threshold_view_lists_flips_and_says_what_it_sampled(services):
    services.add_edits([EditDraft(f"The capital of Land{i} is", f"City{i}") for i in range(3)], "alice")
    fig, text, flips = threshold.threshold_view(services, VICTOR, 1.0)
    assert "Probe set: all 3 active edit(s): 3 in-scope and 6 out-of-scope prompts" in seen(text)
    routed_now = [r for r in flips if r[3] != "base model"]
    assert flips and routed_now == flips and all(r[4] == "base model" for r in flips)  # nothing routes at 1.0
    assert {r[0] for r in flips if r[2] == "in scope"} == {f"The capital of Land{i} is" for i in range(3)}
    assert all(r[5] == "broken" for r in flips if r[2] == "in scope")
    assert f"{len(flips)} probe(s) change their routing" in seen(text)
    _, sample, _ = threshold.threshold_view(services, VICTOR, 0.5, limit=2)
    assert "Probe set: the newest 2 of 3 active edits (a sample" in seen(sample)


def test_setting_the_threshold_asks_first_and_then_shows_the_new_value(services):
    assert "Current routing threshold: 0.50" in seen(threshold.serving_line(services))
    entries = len(services.repository.audit_entries())
    question, pending = threshold.ask_to_set(services, ALICE, 0.4)
    assert pending == 0.4 and "for everyone from 0.50 to 0.40?" in seen(question)
    assert len(services.repository.audit_entries()) == entries and services.editor.threshold == 0.5  # only asked
    assert threshold.ask_to_set(services, VICTOR, 0.4)[1] is None
    assert "only curators" in seen(threshold.ask_to_set(services, VICTOR, 0.4)[0])
    assert "must be in [0, 1]" in seen(threshold.ask_to_set(services, ALICE, 2)[0])
    assert threshold.ask_to_set(services, ALICE, 0.5) == ("The threshold is already **0.50**; nothing to change.", None)
    assert "from 0.50 to 0.40" in seen(threshold.set_threshold(services, ALICE, pending, "fewer misses"))
    assert "Current routing threshold: 0.40" in seen(threshold.serving_line(services))
    entry = services.repository.audit_entries()[0]
    assert (entry.before, entry.after) == ({"threshold": 0.5}, {"threshold": 0.4})  # numbers, the old value before


def test_the_probe_set_rows_put_the_verdict_first_and_chart_every_probe(services):
    services.add_edit(EditDraft("The capital of Veltria is", "Osmund"), "alice")
    services.add_probe(1, "Veltria has as its capital", "in", "alice")
    summary, rows, fig = probe.probe_edit(services, ALICE, 1)
    assert [r[:2] for r in rows][0] == [rows[0][0], "in scope"] and {r[0] for r in rows} <= {"pass", "fail"}
    assert list(probe.PROBE_COLUMNS)[0] == "result" and rows[0][3] in ("edit #1", "base model")
    assert len(fig.data[0].y) == len(rows) == 4  # edit prompt, kept probe, two default unrelated prompts
    colours = {"pass": "#2e7d32", "fail": "#c62828"}
    assert list(fig.data[0].marker.color) == [colours[r[0]] for r in rows]
    assert f"{sum(r[0] == 'pass' for r in rows)} of 4 probes pass" in seen(summary)


def test_import_messages_count_records_of_a_json_list_and_lines_of_jsonl(services, tmp_path, counterfact_slice):
    records = [dict(r) for r in counterfact_slice[:3]]
    del records[1]["target_new"]
    listed = tmp_path / "cf.json"
    listed.write_text(json.dumps(records, indent=2))  # record 2 sits on some line far below 2
    message, errors = edits.import_file(services, ALICE, str(listed), "auto", False)
    assert "Nothing imported" in message and errors == [["record 2", "missing field 'target_new'"]]
    lines = tmp_path / "cf.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert edits.import_file(services, ALICE, str(lines), "jsonl", False)[1][0][0] == "line 2"
    twice = [records[0], records[2], dict(records[2], target_new="Somewhere else")]
    listed.write_text(json.dumps(twice))
    errors = edits.import_file(services, ALICE, str(listed), "auto", False)[1]
    assert errors == [
        ["record 2", "contradicts record(s) 3 of this file"],
        ["record 3", "contradicts record(s) 2 of this file"],
    ]


def test_imported_probe_prompts_get_the_edits_checks_and_a_bad_row_writes_nothing(services, tmp_path):
    """A 5,000-character paraphrase or an unrelated prompt with a control character is refused like an edit's
    prompt (core.text.clean_field), naming its line; nothing is written. With the valid records imported, the
    Threshold tab routes their probes."""
    records = [
        {"prompt": "The capital of Veltria is", "target": "Osmund", "paraphrases": ["Veltria's capital is"]},
        {"prompt": "The capital of Zentha is", "target": "Ilsa", "paraphrases": ["Zq" * 2500]},
        {"prompt": "The capital of Quorv is", "target": "Marr", "unrelated": ["a bell \x07 rings"]},
    ]
    path = tmp_path / "edits.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    message, errors = edits.import_file(services, ALICE, str(path), "jsonl", False)
    assert "Nothing imported" in seen(message)
    assert errors == [
        ["line 2", "probe prompt is 5000 characters; the limit is 4096"],
        ["line 3", "probe prompt contains control characters ('\\x07')"],
    ]
    assert services.repository.count_edits(None, None) == 0 and services.repository.audit_entries() == []
    message, _ = edits.import_file(services, ALICE, str(path), "jsonl", True)
    assert "Imported 1 edits with 1 probe prompts" in seen(message)
    _, text, _ = threshold.threshold_view(services, ALICE, 0.5)
    assert "Probe set: all 1 active edit(s): 2 in-scope" in seen(text)


def test_plot_hovers_show_markup_as_text_keep_rtl_marks_to_their_text_and_stay_short(services):
    rlo, pdf = "\u202e", "\u202c"
    long_prompt = "The longest word of Quillmark is " + "Zq" * 1500
    services.add_edits(
        [EditDraft(f"The capital of {rlo}airtleV is", "<b>Osmund</b>"), EditDraft(long_prompt, "x")], "a"
    )
    fig, _, _ = scope_map.scope_map(services, ALICE)
    hovers = list(fig.data[0].hovertext)
    assert f"#1 The capital of {rlo}airtleV is{pdf} → &lt;b&gt;Osmund&lt;/b&gt;" in hovers
    assert max(len(h) for h in hovers) == HOVER_CHARS and any(h.startswith("#2 The longest word") for h in hovers)
