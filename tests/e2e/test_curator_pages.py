"""The curator's pages in a real headless Chromium against `python app.py` (the shared live server): an edit's
own page opened directly by its address `/?edit=N`, probes added there with pass/fail, the Overview (counts,
failing probes linked to their edit, recent activity), retire from the edit page, a click on a row of the
Edits table, and a viewer's disabled actions. At 1400x900 and 1920x1080; screenshots in artifacts/screenshots/.

Fixtures and helpers come from tests/e2e/test_browser.py (chromium, screenshots, locators). The steps run in
order on one logged-in page. The edit is a CounterFact record (val, case 66) the shipped parts route well.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_browser import (
    ARGS,
    CHROMIUM,
    MODEL_WAIT_MS,
    SHOTS,
    assert_no_python_repr,
    expect,
    open_tab,
    textbox,
)
from tests.e2e.test_browser import shot as save_shot

pytestmark = [pytest.mark.browser, pytest.mark.models]

PROMPT, TARGET = "Kuala Langat, located in", "India"
PARAPHRASE = "Kuala Langat's surroundings include"
MISLABELLED = "Kuala Langat is located in"  # kept as an out-of-scope probe on purpose: it routes to the edit
SIZES = {"1400": {"width": 1400, "height": 900}, "1920": {"width": 1920, "height": 1080}}


@pytest.fixture(scope="module")
def browser(live_server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `bash scripts/system-deps.sh chromium` installs it")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def logged_in(browser, live_server, who: tuple[str, str], size: str):
    """A new page of its own context at this window size, logged in as `who`."""
    page = browser.new_context(viewport=SIZES[size]).new_page()
    page.set_default_timeout(30_000)
    page.goto(live_server.url + "/")
    page.get_by_label("username").fill(who[0])
    page.get_by_label("password").fill(who[1])
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#signed-in")).to_contain_text(f"Signed in as {who[0]}", timeout=60_000)
    return page


@pytest.fixture(scope="module")
def page(browser, live_server):
    page = logged_in(browser, live_server, live_server.curator, "1400")
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def state() -> dict:
    return {}


def shot(page, name: str) -> None:
    """A screenshot named with the window's width (e.g. edit-page-1400.png)."""
    save_shot(page, f"{name}-{page.viewport_size['width']}")


def api(live_server, method: str, path: str, **body) -> dict:
    headers = {"Authorization": f"Bearer {live_server.curator_token}"}
    response = httpx.request(method, live_server.url + "/api" + path, json=body or None, headers=headers, timeout=120)
    assert response.status_code < 300, response.text
    return response.json()


def open_edit_by_address(page, live_server, edit_id: int) -> None:
    page.goto(f"{live_server.url}/?edit={edit_id}")
    edit_tab = page.get_by_role("tab", name="Edit", exact=True)
    expect(edit_tab).to_have_attribute("aria-selected", "true", timeout=MODEL_WAIT_MS)
    expect(page.locator("#page-details")).to_contain_text(f"Edit #{edit_id} ·", timeout=MODEL_WAIT_MS)


def row(page, table: str, text: str):
    """The shown rows of a table (Gradio's visible grid, not its hidden sizing copy) that contain `text`."""
    return page.locator(f"#{table} .virtual-row").filter(has_text=text)


def probe_row(page, prompt: str):
    return row(page, "page-probes", prompt)


def test_the_address_opens_an_edits_page_with_its_details_and_history(page, live_server, state):
    created = api(live_server, "POST", "/edits", prompt=PROMPT, target=TARGET, subject="Kuala Langat")
    state["id"] = edit_id = created["edit"]["id"]
    open_edit_by_address(page, live_server, edit_id)
    details = page.locator("#page-details")
    for text in (f"Edit #{edit_id} · active", f"Prompt: {PROMPT}", f"Target: {TARGET}", "Subject: Kuala Langat"):
        expect(details).to_contain_text(text)
    expect(page.locator("#page-history")).to_contain_text("add")
    expect(page.locator("#page-history")).to_contain_text(live_server.curator[0])
    expect(probe_row(page, PROMPT)).to_contain_text("✓ pass")  # the edit's own prompt routes to it
    expect(page.locator("#page-probe-summary")).to_contain_text("1 of 1 probes pass")
    expect(page.locator("#page-retire")).to_be_enabled()
    expect(page.locator("#page-restore")).to_be_disabled()  # it is active: nothing to restore
    assert_no_python_repr(page)


def test_probes_added_on_the_page_show_pass_and_fail_with_the_reason(page, state):
    edit_id = state["id"]
    textbox(page, "page-probe-new").fill(PARAPHRASE)
    page.locator("#page-keep").click()
    expect(page.locator("#page-status")).to_contain_text(f"Kept “{PARAPHRASE}” with edit #{edit_id}")
    expect(probe_row(page, PARAPHRASE)).to_contain_text("✓ pass", timeout=MODEL_WAIT_MS)
    textbox(page, "page-probe-new").fill(MISLABELLED)
    page.locator("#edit-page").get_by_label("out of scope").check()
    page.locator("#page-keep").click()
    expect(page.locator("#page-status")).to_contain_text("as an out of scope probe", timeout=MODEL_WAIT_MS)
    mislabelled = probe_row(page, MISLABELLED)
    expect(mislabelled).to_contain_text("✗ FAIL")
    expect(mislabelled).to_contain_text(f"routes to #{edit_id} (→ {TARGET}")
    expect(mislabelled).to_contain_text("instead of the base model")
    expect(page.locator("#page-probe-summary")).to_contain_text("2 of 3 probes pass")
    expect(page.locator("#page-history")).to_contain_text("add-probe")
    shot(page, "edit-page")


def test_the_overview_shows_counts_and_the_failing_probe_linked_to_its_edit(page, live_server, state):
    edit_id = state["id"]
    page.reload()
    open_tab(page, "Overview")
    page.locator("#overview-refresh").click()
    counts = api(live_server, "GET", "/stats")["edits"]
    status = page.locator("#overview-status")
    edits = f"{counts['total']} edit{'' if counts['total'] == 1 else 's'}"  # alone: 1 edit; after test_browser: 6
    expect(status).to_contain_text(f"{edits}: {counts['active']} active, {counts['retired']} retired")
    expect(status).to_contain_text("Serving: scope: trained cross-encoder")
    failing = page.locator("#overview-failing")
    mislabelled = row(page, "overview-failing", MISLABELLED)
    expect(mislabelled).to_contain_text(
        f"edit #{edit_id}'s unrelated prompt routes to #{edit_id}", timeout=MODEL_WAIT_MS
    )
    expect(page.locator("#overview-failing-note")).to_contain_text("failing")
    expect(page.locator("#overview-recent")).to_contain_text("add-probe")
    assert_no_python_repr(page)
    shot(page, "overview")
    link = mislabelled.locator("a", has_text=f"#{edit_id}")
    assert link.get_attribute("href") == f"?edit={edit_id}"  # Gradio opens it in a new browser tab
    expect(failing).to_contain_text(MISLABELLED)


def test_retire_from_the_edit_page_changes_its_status_and_history(page, live_server, state):
    edit_id = state["id"]
    open_edit_by_address(page, live_server, edit_id)
    textbox(page, "page-reason").fill("e2e: checked on its page")
    page.locator("#page-retire").click()
    status = page.locator("#page-status")
    expect(status).to_contain_text(f"Retired edit #{edit_id}", timeout=MODEL_WAIT_MS)
    expect(status).to_contain_text("Probe check:")
    expect(page.locator("#page-details")).to_contain_text(f"Edit #{edit_id} · ✕ retired")
    expect(page.locator("#page-retire")).to_be_disabled()
    expect(page.locator("#page-restore")).to_be_enabled()
    history = page.locator("#page-history")
    expect(history).to_contain_text("retire")
    expect(history).to_contain_text("e2e: checked on its page")
    assert api(live_server, "GET", f"/edits/{edit_id}")["status"] == "retired"
    shot(page, "edit-page-retired")
    open_tab(page, "Overview")
    page.locator("#overview-refresh").click()
    expect(page.locator("#overview-failing-note")).to_contain_text("Probe sets as regression tests: checked")
    expect(page.locator("#overview-failing")).not_to_contain_text(MISLABELLED)  # a retired edit's probes rest


def test_a_row_of_the_edits_table_opens_that_edits_page(page, live_server, state):
    edit_id = state["id"]
    open_tab(page, "Edits")
    textbox(page, "edits-search").fill("Kuala Langat")
    textbox(page, "edits-search").press("Enter")
    found = row(page, "edits-table", PROMPT)
    expect(found).to_have_count(1)
    found.locator("[role=gridcell]").nth(2).click()
    edit_tab = page.get_by_role("tab", name="Edit", exact=True)
    expect(edit_tab).to_have_attribute("aria-selected", "true", timeout=MODEL_WAIT_MS)
    expect(page.locator("#page-details")).to_contain_text(f"Edit #{edit_id} · ✕ retired", timeout=MODEL_WAIT_MS)
    expect(page).to_have_url(re.compile(rf"\?edit={edit_id}$"))
    page.locator("#page-restore").click()
    expect(page.locator("#page-status")).to_contain_text(f"Restored edit #{edit_id}", timeout=MODEL_WAIT_MS)
    expect(page.locator("#page-details")).to_contain_text(f"Edit #{edit_id} · active")


@pytest.mark.slow  # the 1920x1080 pass; test_browser checks a viewer at 1400x900 by default
def test_a_viewer_at_1920_sees_the_page_and_the_overview_but_cannot_act(browser, live_server, state):
    edit_id = state["id"]
    viewer = logged_in(browser, live_server, live_server.viewer, "1920")
    try:
        open_edit_by_address(viewer, live_server, edit_id)
        expect(viewer.locator("#page-details")).to_contain_text(f"Prompt: {PROMPT}")
        expect(probe_row(viewer, MISLABELLED)).to_contain_text("✗ FAIL", timeout=MODEL_WAIT_MS)
        for button, label in (
            ("#page-retire", "Retire"),
            ("#page-restore", "Restore"),
            ("#page-change", "Change target"),
            ("#page-keep", "Add probe"),
        ):
            expect(viewer.locator(button)).to_have_text(label)
            expect(viewer.locator(button)).to_be_disabled()
        assert_no_python_repr(viewer)
        shot(viewer, "edit-page-viewer")
        open_tab(viewer, "Overview")
        expect(viewer.locator("#overview-failing")).to_contain_text(MISLABELLED, timeout=MODEL_WAIT_MS)
        shot(viewer, "overview")
    finally:
        viewer.context.close()


def test_api_writes_report_the_probe_check_when_asked(live_server, state):
    """?probe_check=true adds which probes near the write now fail; without it the answer is the edit alone."""
    edit_id = state["id"]
    retired = api(live_server, "POST", f"/edits/{edit_id}/retire?probe_check=true", reason="api probe check")
    assert retired["status"] == "retired" and retired["probe_check"]["now_failing"] == []
    restored = api(live_server, "POST", f"/edits/{edit_id}/restore?probe_check=true")
    failing = restored["probe_check"]["now_failing"]  # the mislabelled probe is checked again, and fails
    assert [(f["edit_id"], f["kind"], f["prompt"], f["routed_to"]) for f in failing] == [
        (edit_id, "unrelated prompt", MISLABELLED, edit_id)
    ]
    assert failing[0]["reason"].endswith("instead of the base model")
    plain = api(live_server, "PATCH", f"/edits/{edit_id}", target="Malaysia", reason="api: right country")
    assert plain["target"] == "Malaysia" and "probe_check" not in plain
