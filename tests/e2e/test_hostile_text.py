"""Hostile text in a real headless Chromium against `python app.py` (the shared live server): edits whose prompt,
target, subject, note and reason hold HTML, a script, Markdown links and images, a 3,000-character word,
right-to-left and zero-width characters, written through the REST API by a curator whose (valid) name is
Markdown and a spreadsheet formula (`@__eve__`), and a probe prompt kept on the edit's page. Every view is
then visited at 1400x900: no script runs (`window.__pwned` stays undefined, no dialog opens), no <img>, <a>
or <script> from the text reaches the DOM, the literal text is visible (in a table cell its first CELL_CHARS
characters and an ellipsis; whole on the edit's page), and no table scrolls sideways or cuts a cell. The
audit CSV that the browser downloads starts the user's cells with '.
Screenshots: artifacts/screenshots/hostile-*.png.

Fixtures and helpers come from the other browser tests (chromium, login, screenshots, table fit). The steps
run in order on one logged-in page; the edits are retired at the end, so later tests map only their own.
"""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest

from tests.e2e.test_browser import MODEL_WAIT_MS, ask, assert_no_python_repr, expect, open_tab, textbox
from tests.e2e.test_curator_pages import browser, logged_in, open_edit_by_address, row, shot  # noqa: F401
from tests.e2e.test_tabs_layout import assert_tables_fit, set_slider
from webapp.tabs import CELL_CHARS

pytestmark = [pytest.mark.browser, pytest.mark.models]

EVE = ("@__eve__", "eve-password-1")  # letters, digits and -_.@ only: valid, yet bold in Markdown, a formula in CSV
IMG = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned=2</script>"
LINK = "[click me](http://evil.example/)"
PICTURE = "![logo](http://evil.example/x.png)"
RTL = "\u202egnitirw desrever"  # U+202E right-to-left override, never closed
ZERO_WIDTH = "zero\u200bwidth\u200d"
LONG = "Zq" * 1500  # a 3,000-character word

EDIT = (f"The motto of Vexland is {IMG}", LINK)
SUBJECT = f"**Vexland** {RTL}"
NOTES = f"{SCRIPT} {PICTURE} {ZERO_WIDTH}"
TWIN = (f"Vexland's motto is {IMG}", "<b>bold</b> _Vex_")  # the same fact, another target: kept on purpose
LONG_EDIT = (f"The longest word of Quillmark is {LONG}", f"=1+2 {PICTURE}")
REASON = f'{IMG} {LINK} {RTL} =HYPERLINK("http://evil.example")'
PROBE = f"{IMG} Vexland's motto reads {LINK}"

# What the text must never become: a script that ran, or an element made from it.
INERT = """() => ({
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  images: [...document.querySelectorAll('img')].filter(i => /^x$|evil\\.example/.test(i.getAttribute('src') || ''))
    .length,
  links: document.querySelectorAll('a[href*="evil.example"]').length,
  scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('__pwned')).length,
  bold: [...document.querySelectorAll('strong, b, em, i')].filter(b => /^(eve|bold|Vex|Vexland)$/.test(b.textContent))
    .length,
})"""


@pytest.fixture(scope="module")
def eve(live_server) -> str:
    """A curator named @__eve__ in the live server's edit log (counts at once, no restart); her API token."""
    from db.accounts import AccountRepository
    from webapp.auth import UserStore

    users = UserStore(AccountRepository(live_server.db_url))
    users.set_user(EVE[0], "curator", EVE[1])
    token = users.create_token(EVE[0], "hostile text")
    users.accounts.engine.dispose()
    return token


@pytest.fixture(scope="module")
def seeded(live_server, eve) -> dict:
    """The hostile edits through the API as @__eve__: {name: edit id}; retired when the module ends."""
    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {eve}"}, timeout=120)
    ids = {}
    for name, (prompt, target), subject, notes in (
        ("edit", EDIT, SUBJECT, NOTES),
        ("twin", TWIN, None, RTL),
        ("long", LONG_EDIT, LONG, ZERO_WIDTH),
    ):
        body = dict(prompt=prompt, target=target, subject=subject, notes=notes, on_conflict="keep", reason=REASON)
        created = api.post("/api/edits", json=body)
        assert created.status_code == 201, created.text
        stored = created.json()["edit"]
        assert (stored["prompt"], stored["target"], stored["notes"]) == (prompt, target, notes)  # as given
        ids[name] = stored["id"]
    yield ids
    for edit_id in ids.values():
        api.post(f"/api/edits/{edit_id}/retire", json={"reason": "e2e: hostile text done"})
    api.close()


@pytest.fixture(scope="module")
def page(browser, live_server, seeded):  # noqa: F811
    page = logged_in(browser, live_server, EVE, "1400")
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    page.context.close()


def assert_inert(page, where: str) -> None:
    """Nothing of the hostile text ran or rendered as markup, anywhere on the page (all tabs are in the DOM)."""
    page.wait_for_timeout(500)  # an <img onerror> fires once its load fails
    found = page.evaluate(INERT)
    assert found == {"pwned": None, "images": 0, "links": 0, "scripts": 0, "bold": 0}, (where, found)
    assert page.dialogs == [], (where, page.dialogs)
    assert_no_python_repr(page)


def test_the_header_shows_the_users_name_as_typed(page):
    expect(page.locator("#signed-in")).to_contain_text(f"Signed in as {EVE[0]} (curator")
    assert_inert(page, "header")


def test_the_edits_table_shows_the_text_and_wraps_the_long_word(page, seeded):
    open_tab(page, "Edits")
    search = textbox(page, "edits-search")
    search.fill("Vexland")
    search.press("Enter")
    table = page.locator("#edits-table")
    for text in (EDIT[0], EDIT[1], SUBJECT, NOTES, TWIN[0], TWIN[1], EVE[0]):
        expect(table).to_contain_text(text)
    assert_tables_fit(page)
    search.fill("Quillmark")
    search.press("Enter")
    expect(row(page, "edits-table", LONG_EDIT[1])).to_have_count(1)
    expect(table).to_contain_text(LONG_EDIT[0][:CELL_CHARS] + "...")  # cut short with an ellipsis: the row fits
    expect(table).not_to_contain_text(LONG)
    assert_tables_fit(page)
    assert_inert(page, "edits table")
    shot(page, "hostile-edits")


def test_the_conflict_dialog_names_the_old_edits_target_as_text(page, seeded):
    textbox(page, "add-prompt").fill(EDIT[0])
    textbox(page, "add-target").fill("Plain")
    page.locator("#add-button").click()
    status = page.locator("#add-status")
    expect(status).to_contain_text("Not saved — settle the conflict first", timeout=MODEL_WAIT_MS)
    expect(status).to_contain_text(f"contradicts #{seeded['edit']} (→ {LINK}; same prompt)")
    neighbours = page.locator("#add-neighbours")
    expect(neighbours).to_contain_text(EDIT[0])
    expect(neighbours).to_contain_text(LINK)
    assert_tables_fit(page)
    assert_inert(page, "conflict dialog")
    shot(page, "hostile-conflict")


def test_the_edit_page_shows_every_field_and_a_kept_probe_as_text(page, live_server, seeded):
    open_edit_by_address(page, live_server, seeded["edit"])
    details = page.locator("#page-details")
    for text in (f"Prompt: {EDIT[0]}", f"Target: {EDIT[1]}", SUBJECT, NOTES, f"by {EVE[0]}"):
        expect(details).to_contain_text(text)
    textbox(page, "page-probe-new").fill(PROBE)
    page.locator("#page-keep").click()
    expect(page.locator("#page-status")).to_contain_text(f"Kept “{PROBE}” with edit #{seeded['edit']}")
    expect(row(page, "page-probes", PROBE)).to_have_count(1, timeout=MODEL_WAIT_MS)
    expect(page.locator("#page-neighbours")).to_contain_text(TWIN[1])
    assert_tables_fit(page)
    assert_inert(page, "edit page")
    shot(page, "hostile-edit-page")
    open_edit_by_address(page, live_server, seeded["twin"])  # kept beside the first on purpose, with the reason
    expect(page.locator("#page-history")).to_contain_text(f"kept beside #{seeded['edit']}: {REASON}")
    expect(page.locator("#page-details")).to_contain_text(f"Target: {TWIN[1]}")
    textbox(page, "page-probe-new").fill(EDIT[0])  # the first edit's own prompt: it routes there, so this fails
    page.locator("#page-keep").click()
    expect(page.locator("#page-status")).to_contain_text(f"with edit #{seeded['twin']}", timeout=MODEL_WAIT_MS)
    assert_inert(page, "twin's page")
    open_edit_by_address(page, live_server, seeded["long"])
    expect(page.locator("#page-details")).to_contain_text(LONG)
    assert_tables_fit(page)
    assert_inert(page, "long edit page")
    shot(page, "hostile-edit-page-long")


def test_the_probe_tab_shows_the_routing_sentence_chart_and_probe_set_as_text(page, seeded):
    open_tab(page, "Probe")
    ask(page, EDIT[0])
    decision = page.locator("#probe-decision")
    expect(decision).to_contain_text(f"Routed to the counterfactual model: edit #{seeded['edit']} ({EDIT[0]} → {LINK})")
    expect(page.locator("#probe-candidates")).to_contain_text(LINK)
    expect(page.locator("#probe-chart .js-plotly-plot")).to_be_visible(timeout=30_000)
    expect(page.locator("#probe-chart")).to_contain_text("<img src=x")  # the bar's label, shortened
    assert_tables_fit(page)
    assert_inert(page, "probe ask")
    shot(page, "hostile-probe-ask")
    page.locator("#probe-edit-picker input").click()
    page.get_by_role("option", name=re.compile(rf"^#{seeded['edit']} ")).click()
    page.locator("#probe-edit-button").click()
    summary = page.locator("#probe-edit-summary")
    expect(summary).to_contain_text(f"Edit #{seeded['edit']} {EDIT[0]} → {LINK}:", timeout=MODEL_WAIT_MS)
    expect(page.locator("#probe-results")).to_contain_text(PROBE)
    expect(page.locator("#probe-set-chart .js-plotly-plot")).to_be_visible(timeout=30_000)
    expect(page.locator("#probe-set-chart")).to_contain_text("<img src=x")
    assert_tables_fit(page)
    assert_inert(page, "probe set")
    shot(page, "hostile-probe-set")


def test_the_scope_map_lists_the_crowded_pair_as_text(page, seeded):
    open_tab(page, "Scope map")
    page.locator("#map-button").click()
    expect(page.locator("#map-note")).to_contain_text("active edit(s) mapped", timeout=MODEL_WAIT_MS)
    pair = row(page, "map-crowded", f"{EDIT[0]} → {EDIT[1]}").filter(has_text=f"{TWIN[0]} → {TWIN[1]}")
    expect(pair).to_have_count(1)
    assert_tables_fit(page)
    assert_inert(page, "scope map")
    shot(page, "hostile-scope-map")


def test_the_threshold_flips_show_the_prompts_as_text(page, seeded):
    open_tab(page, "Threshold")
    set_slider(page, 1.0)  # nothing routes at 1: every probe routed now flips
    page.locator("#threshold-show").click()
    expect(page.locator("#threshold-summary")).to_contain_text("probe(s) change their routing", timeout=MODEL_WAIT_MS)
    flips = page.locator("#threshold-flips")
    expect(flips).to_contain_text(EDIT[0])
    expect(flips).to_contain_text(LONG_EDIT[0][:CELL_CHARS] + "...")
    assert_tables_fit(page)
    assert_inert(page, "threshold")
    shot(page, "hostile-threshold")


def test_the_audit_and_its_csv_show_the_text_and_run_no_formula(page, seeded):
    open_tab(page, "Audit")
    textbox(page, "audit-user").fill(EVE[0])
    page.locator("#audit-button").click()
    table = page.locator("#audit-table")
    expect(table).to_contain_text(f"new edit: {EDIT[0]} → {EDIT[1]}")
    expect(table).to_contain_text(REASON)
    expect(table).to_contain_text(f"probe (in scope): {PROBE}")
    assert_tables_fit(page)
    page.locator("#audit-export").click()
    link = page.locator("#audit-file a[href*='.csv']").first
    expect(link).to_be_attached()
    exported = page.request.get(link.get_attribute("href"))
    assert exported.ok
    rows = list(csv.reader(io.StringIO(exported.text())))[1:]
    assert rows and {r[2] for r in rows} == {"'" + EVE[0]}
    assert all(r[0].isdigit() for r in rows)  # ids stay numbers
    assert_inert(page, "audit")
    shot(page, "hostile-audit")


def test_the_overview_shows_the_recent_activity_as_text(page, seeded):
    open_tab(page, "Overview")
    page.locator("#overview-refresh").click()
    recent, failing = page.locator("#overview-recent"), page.locator("#overview-failing")
    for view in (recent, failing):
        expect(view).not_to_contain_text("processing", timeout=MODEL_WAIT_MS)
    expect(recent).to_contain_text(EVE[0])
    expect(recent).to_contain_text(PROBE)
    expect(failing).to_contain_text("Vexland")  # the twin's probe is the first edit's prompt, which routes there
    expect(failing).to_contain_text("<img src=x onerror=window.__pwned=1>")
    assert_tables_fit(page)
    assert_inert(page, "overview")
    shot(page, "hostile-overview")
