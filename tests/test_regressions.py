"""Probe sets as regression tests (services/regressions.py), on the tiny real editor and a temp SQLite log:
the one routing verdict, the probe check after each write of the Edits tab's callbacks, and the whole log's
failing probes. The tiny editor's embedder is a bag of words, so a prompt sharing a paraphrase's words
takes that paraphrase."""

from __future__ import annotations

import pytest

from core.types import Edit, EditDraft
from db.repository import EditRepository
from services import regressions
from services.services import Services
from tests.seen import seen
from tests.tiny_models import tiny_editor
from webapp.auth import User
from webapp.callbacks import edits

ALICE = User("alice", "curator")
PROMPT, TARGET = "The mother tongue of Danielle Darrieux is", "English"
PARAPHRASE = "The mother tongue of the actress Danielle Darrieux is"
UNRELATED = "The capital of France is"
THIEF = "The mother tongue of the actress Danielle Darrieux is now"  # nearer the paraphrase than edit #1 is


@pytest.fixture
def services(default_config, db_url, tmp_path_factory):
    editor = tiny_editor(tmp_path_factory.mktemp("tiny-lm"))
    return Services(default_config.replace(db_url=db_url), EditRepository(db_url), editor)


@pytest.fixture
def first(services) -> Edit:
    """Edit #1 with a paraphrase and an unrelated prompt, all passing."""
    probes = [[(PARAPHRASE, "in"), (UNRELATED, "out")]]
    edit = services.add_edits([EditDraft(PROMPT, TARGET)], "alice", probes=probes)[0]
    assert [c.passed for c in regressions.check_edits(services, [edit.id])] == [True, True, True]
    return edit


def test_the_verdict_in_scope_routes_to_its_edit_out_of_scope_to_the_base_model():
    own, other = Edit(1, PROMPT, TARGET), Edit(2, THIEF, "French")
    assert regressions.verdict(1, "in", own) and not regressions.verdict(1, "in", other)
    assert not regressions.verdict(1, "in", None)
    assert regressions.verdict(1, "out", None) and not regressions.verdict(1, "out", own)


def test_an_edit_that_steals_a_neighbours_paraphrase_makes_that_probe_fail_naming_both(services, first):
    message, rows, checked = edits.check_and_add(services, ALICE, THIEF, "French")
    assert checked is not None and rows[0][0] == first.id  # in #1's scope: settled on purpose, with a reason
    message, _, _ = edits.settle_and_add(services, ALICE, checked, THIEF, "French", "", "", "keep", "two sources")
    shown = seen(message)
    assert shown.startswith("Added edit #2")
    assert "1 now fail: edit #1's paraphrase routes to #2 (→ French, score" in shown
    assert shown.endswith("instead of #1.")
    # the whole log's failing probes: that very probe, and nothing else
    scan = regressions.failing_probes(services)
    assert [(c.probe.edit.id, c.probe.prompt, c.routed_to.id) for c in scan.failing] == [(1, PARAPHRASE, 2)]
    assert (scan.checked, scan.edits, scan.active, scan.partial) == (4, 2, 2, False)


def test_retiring_the_thief_makes_the_probe_pass_again_and_says_so(services, first):
    thief = services.add_edit(EditDraft(THIEF, "French"), "alice")
    message = seen(edits.retire(services, ALICE, thief.id, "wrong"))
    assert "0 now fail. 1 now pass." in message
    assert regressions.failing_probes(services).failing == ()


def test_restoring_or_changing_an_edit_reports_what_it_breaks(services, first):
    thief = services.add_edit(EditDraft(THIEF, "French"), "alice")
    services.retire(thief.id, "alice")
    restored = seen(edits.restore(services, ALICE, thief.id))
    assert "1 now fail: edit #1's paraphrase routes to #2" in restored
    changed = seen(edits.change_target(services, ALICE, thief.id, "German"))
    assert "0 now fail. 1 already failed before." in changed  # still stolen: not new, but not hidden
    retired = seen(edits.retire(services, ALICE, first.id))
    assert "0 now fail" in retired and "now pass" not in retired  # a retired edit's own probes are not checked


def test_an_unrelated_prompt_taken_by_a_new_edit_fails_with_the_reason(services, first):
    _, report = regressions.guarded(
        services,
        [UNRELATED],
        lambda: services.add_edit(EditDraft("The capital of France is the city of", "Lyon"), "alice"),
        lambda e: [e.id],
    )
    assert [c.reason() for c in report.now_failing] == [
        f"edit #1's unrelated prompt routes to #2 (→ Lyon, score {report.now_failing[0].score:.2f}) "
        "instead of the base model"
    ]
    assert report.to_dict()["now_failing"][0] | {"reason": ""} == {
        "edit_id": 1,
        "kind": "unrelated prompt",
        "prompt": UNRELATED,
        "routed_to": 2,
        "reason": "",
    }


def test_a_failed_write_checks_nothing_and_changes_nothing(services, first):
    before = services.repository.audit_entries()
    assert "cannot restore" in edits.restore(services, ALICE, first.id)
    assert services.repository.audit_entries() == before


def test_the_log_scan_stops_at_its_limit_and_says_it_is_partial(services, first):
    services.add_edit(EditDraft("The chess champion of Zentha is", "Ilsa Marr"), "alice")
    scan = regressions.failing_probes(services, limit=2)
    assert (scan.checked, scan.edits, scan.active, scan.partial) == (1, 1, 2, True)  # the newest edit only
