"""The Edit tab's and the Overview tab's callbacks called directly, on the tiny real editor and a temp SQLite
log: an edit's page (details, probe set with pass/fail, neighbours, history, which actions are allowed for
whom), its actions, the address `?edit=N`, and the overview (counts, failing probes with links, activity)."""

from __future__ import annotations

import pytest

from core.types import EditDraft
from db.repository import EditRepository
from services.services import Services
from tests.seen import seen
from tests.tiny_models import tiny_editor
from webapp.auth import User
from webapp.callbacks import edit_page, overview
from webapp.ui import build_app

ALICE, VICTOR = User("alice", "curator"), User("victor", "viewer")
PROMPT, TARGET = "The mother tongue of Danielle Darrieux is", "English"
PARAPHRASE = "The mother tongue of the actress Danielle Darrieux is"
UNRELATED = "The capital of France is"
THIEF = "The mother tongue of the actress Danielle Darrieux is now"


@pytest.fixture
def services(default_config, db_url, tmp_path_factory):
    editor = tiny_editor(tmp_path_factory.mktemp("tiny-lm"))
    services = Services(default_config.replace(db_url=db_url), EditRepository(db_url), editor)
    probes = [[(PARAPHRASE, "in"), (UNRELATED, "out")]]
    services.add_edits([EditDraft(PROMPT, TARGET, "Danielle Darrieux")], "alice", action="add", probes=probes)
    return services


def allowed(view) -> tuple[bool, bool, bool]:
    return view.can_retire, view.can_restore, view.can_change


def test_an_edits_page_shows_details_probes_neighbours_and_history(services):
    services.add_edit(EditDraft(THIEF, "French"), "bob")
    view = edit_page.open_edit(services, ALICE, 1)
    details = seen(view.details)
    assert details.startswith("Edit #1 · active")
    assert f"Prompt: {PROMPT}" in details and f"Target: {TARGET}" in details and "by alice" in details
    assert seen(view.probe_summary).startswith("2 of 3 probes pass")
    assert [row[:3] + row[4:5] for row in view.probes] == [
        ["prompt", PROMPT, "#1 → English", "✓ pass"],
        ["paraphrase", PARAPHRASE, "#2 → French", "✗ FAIL"],
        ["unrelated prompt", UNRELATED, "base model", "✓ pass"],
    ]
    assert view.probes[1][5].startswith("edit #1's paraphrase routes to #2 (→ French")
    assert [row[0] for row in view.neighbours] == [2] and view.neighbours[0][3:] == [THIEF, "French", "no"]
    assert [(row[1], row[2]) for row in view.history] == [("alice", "add")]
    assert allowed(view) == (True, False, True)


def test_a_viewer_sees_the_page_with_every_action_disabled(services):
    view = edit_page.open_edit(services, VICTOR, "1")
    assert seen(view.details).startswith("Edit #1 · active") and len(view.probes) == 3
    assert allowed(view) == (False, False, False)
    message, after = edit_page.retire(services, VICTOR, 1, "no")
    assert "only curators" in message and services.repository.get(1).status == "active"
    assert allowed(after) == (False, False, False)


def test_retire_restore_change_and_add_probe_from_the_page(services):
    message, view = edit_page.retire(services, ALICE, 1, "wrong source")
    assert seen(message).startswith("Retired edit #1") and "Probe check:" in seen(message)
    assert seen(view.details).startswith("Edit #1 · ✕ retired") and allowed(view) == (False, True, True)
    assert "retired, so its prompt and paraphrases cannot route to it" in seen(view.probe_summary)
    assert [row[2] for row in view.history] == ["retire", "add"] and view.history[0][-1] == "wrong source"
    message, view = edit_page.restore(services, ALICE, 1, "right after all")
    assert seen(message).startswith("Restored edit #1") and allowed(view) == (True, False, True)
    message, view = edit_page.change_target(services, ALICE, 1, "French", "typo")
    assert "target is now French" in seen(message) and "Target: French" in seen(view.details)
    message, view = edit_page.add_probe(services, ALICE, 1, "Danielle Darrieux grew up speaking", "in scope")
    assert "as an in scope probe" in seen(message)
    assert view.probes[-1][:2] == ["paraphrase", "Danielle Darrieux grew up speaking"]
    assert view.probes[-1][4] in ("✓ pass", "✗ FAIL") and view.history[0][2] == "add-probe"


def test_bad_or_missing_ids_get_a_message_and_no_actions(services):
    assert edit_page.open_edit(services, ALICE, None).details == edit_page.CHOOSE
    for bad, words in ((99, "no edit with id 99"), ("abc", "whole number"), (-3, "positive whole number")):
        view = edit_page.open_edit(services, ALICE, bad)
        assert words in seen(view.details) and view.probes == [] and allowed(view) == (False, False, False)
    message, _ = edit_page.retire(services, ALICE, None)
    assert "choose an edit first" in message and services.repository.get(1).status == "active"


def test_the_address_names_the_edit_to_open(services):
    edit_id, view = edit_page.open_from_url(services, ALICE, {"edit": "1"})
    assert edit_id == 1 and seen(view.details).startswith("Edit #1")
    edit_id, view = edit_page.open_from_url(services, ALICE, {"edit": "x1"})
    assert edit_id is None and "whole number" in seen(view.details)
    assert edit_page.open_from_url(services, ALICE, {}) == (None, edit_page.open_edit(services, ALICE, None))


def test_curators_text_on_the_page_is_shown_as_text(services):
    hostile = "The <b>codename</b> of [Project X](http://evil.example) is"
    edit = services.add_edit(EditDraft(hostile, "__24__"), "alice")
    details = seen(edit_page.open_edit(services, ALICE, edit.id).details)
    assert f"Prompt: {hostile}" in details and "Target: __24__" in details


def test_the_overview_counts_lists_failing_probes_with_links_and_the_activity(services):
    services.add_edit(EditDraft(THIEF, "French"), "bob")
    services.retire(2, "bob", "oops")
    services.restore(2, "bob")
    status, note, failing, recent = overview.overview(services, VICTOR)
    assert seen(status).startswith("2 edits: 2 active, 0 retired")
    assert "index (2 edits) holds exactly the active edits" in seen(status)
    assert seen(note) == "Probe sets as regression tests: checked all 2 active edits (4 probes): 1 failing."
    assert failing == [
        ["[#1](?edit=1)", "paraphrase", PARAPHRASE, "#2 → French", failing[0][4]],
    ]
    assert failing[0][4].startswith("edit #1's paraphrase routes to #2") and failing[0][4].endswith("instead of #1")
    assert [(row[2], row[3]) for row in recent] == [("restore", 2), ("retire", 2), ("add", 2), ("add", 1)]
    _, note, _, _ = overview.overview(services, VICTOR, limit=1)
    assert "checked the newest 1 of 2 active edits (1 probes; press Check every probe" in seen(note)


def test_the_overview_is_the_first_tab_and_the_edit_page_follows_the_edits_tab(services):
    app = build_app(services)
    labels = [b.label for b in app.blocks.values() if type(b).__name__ == "Tab"]
    assert labels[:3] == ["Overview", "Edits", "Edit"]
