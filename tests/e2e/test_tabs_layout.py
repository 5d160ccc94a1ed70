"""Each tab as a curator sees it, in headless Debian chromium at 1400x900 and at 1920x1080, against the live
server (the shipped trained parts): no table scrolls sideways or cuts a cell, results appear together and
only once there are some, pass/fail is coloured, the scope map's ids never overlap, crowded pairs are listed
once with both targets, the threshold asks before a global change and then shows the serving value and the
probes that flip, the audit says each change in words, and an import names record N of a JSON list.
Screenshots: artifacts/screenshots/<tab>-<width>x<height>.png.

The edits these tests need are added once through the API (module fixture `seeded`); each viewport then
runs the same steps on its own logged-in page. A threshold set here is set back before the test ends.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.e2e.test_browser import (
    ARGS,
    CHROMIUM,
    MODEL_WAIT_MS,
    SHOTS,
    ask,
    assert_no_python_repr,
    expect,
    open_tab,
    textbox,
)

pytestmark = [pytest.mark.browser, pytest.mark.models]

VIEWPORTS = [(1400, 900), (1920, 1080)]
LANGUAGE = ("The official language of Marendel is", "Tessic")
LANGUAGE_TWIN = ("Marendel's official language is", "Varnic")  # the same fact with another target: kept on purpose
ANTHEM = (
    "The national anthem of Tessaly, a small republic on the eastern shore of the Orvan sea, was composed by",
    "Ilmar Dovre",
)
ANTHEM_NOTE = "checked against the Tessaly national archive, the ministry of culture and two encyclopaedias"
LONG_TARGET = (
    "the sea remembers every ship that sailed upon it, and the harbour lights of Ostrava Minor burn each night "
    "for those who never came home again"
)  # longer than 16 generated tokens: the routed answer cannot be the whole target
MOTTO = "The full ceremonial motto of Ostrava Minor reads"
CAPITAL = ("The capital of Kelbrook is", "Madrid")


@pytest.fixture(scope="module")
def seeded(live_server) -> dict:
    """The edits, a target change and a retire/restore, through the API: {name: edit id}."""
    api = httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {live_server.curator_token}"}, timeout=120
    )
    ids = {}
    for name, (prompt, target), notes in (
        ("language", LANGUAGE, None),
        ("twin", LANGUAGE_TWIN, None),
        ("anthem", ANTHEM, ANTHEM_NOTE),
        ("motto", (MOTTO, LONG_TARGET), None),
        ("capital", CAPITAL, None),
    ):
        body = {"prompt": prompt, "target": target, "notes": notes, "on_conflict": "keep", "reason": "e2e: layout"}
        created = api.post("/api/edits", json=body)
        assert created.status_code == 201, created.text
        ids[name] = created.json()["edit"]["id"]
    capital = ids["capital"]
    assert api.patch(f"/api/edits/{capital}", json={"target": "Paris", "reason": "e2e: moved"}).status_code == 200
    assert api.post(f"/api/edits/{capital}/retire", json={"reason": "e2e: check"}).status_code == 200
    assert api.post(f"/api/edits/{capital}/restore", json={"reason": "e2e: back"}).status_code == 200
    api.close()
    return ids


# 1400x900 in the default run; 1920x1080 with -m slow
@pytest.fixture(
    scope="module",
    params=[pytest.param(v, id=f"{v[0]}x{v[1]}", marks=[pytest.mark.slow] if v[0] > 1400 else []) for v in VIEWPORTS],
)
def view(request, live_server, seeded):
    """(a logged-in page at this viewport, its 'WxH' name)."""
    from playwright.sync_api import sync_playwright

    width, height = request.param
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(30_000)
        page.goto(live_server.url + "/")
        page.get_by_label("username").fill(live_server.curator[0])
        page.get_by_label("password").fill(live_server.curator[1])
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#signed-in")).to_contain_text("Signed in as", timeout=60_000)
        yield page, f"{width}x{height}"
        browser.close()


# The tables a person can see: their viewport must not scroll sideways, and no visible cell (Gradio 6 draws
# body cells as div.body-cell in a virtual list, headers as th) may cut its text.
CUT_TABLES = """(root) => {
  const problems = [];
  for (const table of root.querySelectorAll('.table-container')) {
    if (!table.checkVisibility()) continue;
    const name = table.closest('[id]')?.id || 'a table';
    const viewport = table.querySelector('.virtual-table-viewport');
    if (viewport && viewport.scrollWidth > viewport.clientWidth + 1)
      problems.push(`${name} scrolls sideways (${viewport.scrollWidth} > ${viewport.clientWidth} px)`);
    if (table.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      problems.push(`${name} runs off the page`);
    for (const cell of table.querySelectorAll('.body-cell .cell-wrap, th .header-content')) {
      if (cell.innerText.trim() && cell.checkVisibility() && cell.scrollWidth > cell.clientWidth + 1)
        problems.push(`${name}: "${cell.innerText.slice(0, 40)}" is cut (${cell.scrollWidth} > ${cell.clientWidth})`);
    }
  }
  if (document.documentElement.scrollWidth > document.documentElement.clientWidth + 1)
    problems.push('the page scrolls sideways');
  return problems;
}"""


def assert_tables_fit(page) -> None:
    """No visible table of the open tab scrolls sideways, runs off the page or cuts a cell's text."""
    assert page.locator("body").evaluate(CUT_TABLES) == []


def shot(page, name: str, size: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)


def test_edit_table_fits_and_the_id_box_starts_empty(view, seeded, tmp_path):
    page, size = view
    open_tab(page, "Edits")
    page.locator("#edits-show").click()
    table = page.locator("#edits-table")
    expect(table).to_contain_text(ANTHEM[0])
    expect(table).to_contain_text(ANTHEM_NOTE)
    expect(textbox(page, "action-id")).to_have_value("")
    expect(textbox(page, "action-id")).to_have_attribute("placeholder", "click a row")
    assert_tables_fit(page)
    assert_no_python_repr(page)
    # an import of a JSON list names the rejected record by its number, not a line
    records = [{"prompt": "The patron saint of Kelbrook is", "target_new": "Aldric"}, {"prompt": "no target here"}]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records, indent=2))
    page.get_by_text("Import a file").click()
    page.locator("#import-file input[type=file]").set_input_files(str(path))
    page.locator("#import-button").click()
    expect(page.locator("#import-status")).to_contain_text("Nothing imported", timeout=MODEL_WAIT_MS)
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("record 2")
    expect(errors).not_to_contain_text("line")
    assert_tables_fit(page)
    shot(page, "edits", size)


def test_one_ask_shows_its_answers_together_and_flags_a_missed_target(view, seeded):
    page, size = view
    open_tab(page, "Probe")
    expect(page.locator("#probe-base")).to_be_hidden()  # no empty answer boxes before an ask
    expect(page.locator("#probe-chart")).to_be_hidden()
    ask(page, MOTTO)
    decision = page.locator("#probe-decision")
    expect(decision).to_contain_text(
        f"Routed to the counterfactual model: edit #{seeded['motto']}", timeout=MODEL_WAIT_MS
    )
    expect(decision).to_contain_text("Check the answer: it does not start with the edit's target")
    expect(page.locator("#probe-base")).to_be_visible()
    edited = textbox(page, "probe-edited").input_value()
    assert edited.strip() and not edited.strip().lower().startswith(LONG_TARGET.lower())
    expect(page.locator("#probe-chart .js-plotly-plot")).to_be_visible(timeout=30_000)
    assert_tables_fit(page)
    shot(page, "probe-ask", size)


# (word, background colour) of each pass/fail cell of the table's body (div.body-cell in Gradio 6)
VERDICT_COLOURS = """(table) => [...table.querySelectorAll('.body-cell')]
  .filter(cell => /^(pass|fail)$/.test(cell.innerText.trim()))
  .map(cell => { const word = cell.innerText.trim();
    for (let n = cell.querySelector('.cell-wrap') || cell; n; n = n.parentElement) {
      const c = getComputedStyle(n).backgroundColor; if (c !== 'rgba(0, 0, 0, 0)') return [word, c]; }
    return [word, '']; })"""


def test_a_probe_set_shows_coloured_verdicts_beside_its_own_chart(view, seeded):
    page, size = view
    open_tab(page, "Probe")
    page.locator("#probe-edit-picker input").click()
    page.get_by_role("option", name=re.compile(rf"^#{seeded['motto']} ")).click()  # its own prompt fails
    page.locator("#probe-edit-button").click()
    expect(page.locator("#probe-edit-summary")).to_contain_text("2 of 3 probes pass", timeout=MODEL_WAIT_MS)
    results = page.locator("#probe-results")
    expect(results).to_be_visible()
    header = results.locator("th").first
    expect(header).to_contain_text("result")
    for column in ("edited answer", "base answer", "top score"):
        box = results.locator("th", has_text=column).bounding_box()
        assert box and box["x"] + box["width"] <= page.viewport_size["width"], column  # on screen
    page.wait_for_function(f"() => ({VERDICT_COLOURS})(document.querySelector('#probe-results')).length >= 3")
    verdicts = results.evaluate(VERDICT_COLOURS)
    assert len(verdicts) >= 3 and {word for word, _ in verdicts} == {"pass", "fail"}
    colours = {"pass": "rgb(200, 230, 201)", "fail": "rgb(255, 205, 210)"}  # green, red
    assert all(background == colours[word] for word, background in verdicts), verdicts
    chart = page.locator("#probe-set-chart")
    expect(chart.locator(".js-plotly-plot")).to_be_visible(timeout=30_000)
    expect(chart).to_contain_text("The probe set: best scope score per probe")
    assert_tables_fit(page)
    assert_no_python_repr(page)
    shot(page, "probe-set", size)


LABEL_BOXES = """(root) => [...root.querySelectorAll('g.textpoint text')]
  .filter(t => t.textContent.trim()).map(t => { const r = t.getBoundingClientRect();
  return [t.textContent, r.left, r.top, r.right, r.bottom]; })"""


def test_scope_map_ids_do_not_overlap_and_crowded_pairs_show_once(view, seeded):
    page, size = view
    open_tab(page, "Scope map")
    page.locator("#map-button").click()
    expect(page.locator("#map-note")).to_contain_text("active edit(s) mapped", timeout=MODEL_WAIT_MS)
    boxes = page.locator("#map-plot").evaluate(LABEL_BOXES)
    assert len(boxes) >= 3
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap = a[1] < b[3] - 1 and b[1] < a[3] - 1 and a[2] < b[4] - 1 and b[2] < a[4] - 1
            assert not overlap, (a, b)
    crowded = page.locator("#map-crowded")
    first, second = seeded["language"], seeded["twin"]
    pair = crowded.locator(".virtual-row", has_text=f"{LANGUAGE[0]} → {LANGUAGE[1]}").filter(has_text=f"#{second}")
    expect(pair).to_have_count(1)  # the pair once, not once from each side
    expect(pair).to_contain_text(f"{LANGUAGE_TWIN[0]} → {LANGUAGE_TWIN[1]}")
    expect(pair.locator(".body-cell").first).to_have_text(str(first))
    expect(pair.locator(".body-cell").last).to_have_text(re.compile(r"^\s*(0\.\d+|1(\.0+)?)\s*$"))
    assert_tables_fit(page)
    shot(page, "scope-map", size)


def set_slider(page, value: float) -> None:
    field = page.locator("#threshold-slider input[type=number]")
    field.fill(f"{value}")
    field.press("Enter")
    field.blur()
    page.wait_for_timeout(300)


def confirm_threshold(page, value: float, reason: str) -> None:
    set_slider(page, value)
    textbox(page, "threshold-reason").fill(reason)
    page.locator("#threshold-set").click()
    question = page.locator("#threshold-question")
    expect(question).to_contain_text(f"to {value:.2f}?")
    expect(page.locator("#threshold-confirm")).to_be_enabled()
    page.locator("#threshold-confirm").click()
    expect(page.locator("#threshold-current")).to_contain_text(f"Current routing threshold: {value:.2f}")
    expect(page.locator("#threshold-confirm")).to_be_hidden()


def test_threshold_asks_first_shows_flips_and_then_the_serving_value(view, seeded):
    page, size = view
    open_tab(page, "Threshold")
    current = page.locator("#threshold-current")
    expect(current).to_contain_text("Current routing threshold:")
    serving = float(re.search(r"threshold: (\d\.\d\d)", current.inner_text()).group(1))
    set_slider(page, 1.0)  # nothing routes at 1: every probe now routed flips to the base model
    page.locator("#threshold-show").click()
    summary = page.locator("#threshold-summary")
    expect(summary).to_contain_text("Probe set: all", timeout=MODEL_WAIT_MS)
    expect(summary).to_contain_text("probe(s) change their routing")
    flips = page.locator("#threshold-flips")
    row = flips.locator(".virtual-row", has_text=LANGUAGE[0]).first
    expect(row).to_contain_text(f"edit #{seeded['language']}")
    expect(row).to_contain_text("base model")
    expect(row).to_contain_text("broken")
    assert_tables_fit(page)
    shot(page, "threshold", size)
    # Set only asks; Cancel changes nothing; Confirm sets it, and the page shows the serving value
    page.locator("#threshold-set").click()
    expect(page.locator("#threshold-question")).to_contain_text(f"for everyone from {serving:.2f} to 1.00?")
    expect(current).to_contain_text(f"{serving:.2f}")
    shot(page, "threshold-confirm", size)
    page.locator("#threshold-cancel").click()
    expect(page.locator("#threshold-status")).to_contain_text("Nothing changed.")
    expect(page.locator("#threshold-confirm")).to_be_hidden()
    other = 0.6 if f"{serving:.2f}" == "0.50" else 0.5  # a value other than the shipped part's serving one
    try:
        confirm_threshold(page, other, f"e2e: try {other}")
        expect(page.locator("#threshold-status")).to_contain_text(f"Threshold set from {serving:.2f} to {other:.2f}")
        expect(summary).to_contain_text(f"At the current threshold {other:.2f}", timeout=MODEL_WAIT_MS)
        assert_no_python_repr(page)
    finally:
        confirm_threshold(page, serving, "e2e: back")


def test_audit_says_each_change_in_words(view, seeded):
    page, size = view
    open_tab(page, "Audit")
    box = textbox(page, "audit-edit")
    expect(box).to_have_value("")
    expect(box).to_have_attribute("placeholder", "all edits")
    expect(page.locator("#audit-file")).to_be_hidden()  # no empty file box before an export
    box.fill(str(seeded["capital"]))
    page.locator("#audit-button").click()
    table = page.locator("#audit-table")
    expect(page.locator("#audit-note")).to_contain_text("4 audit entries")
    for words in ("new edit: The capital of Kelbrook is → Madrid", "target: Madrid → Paris", "retired", "restored"):
        expect(table).to_contain_text(words)
    expect(table).to_contain_text("e2e: moved")
    expect(table).not_to_contain_text("{")
    assert_tables_fit(page)
    shot(page, "audit", size)
    box.fill("")
    textbox(page, "audit-user").fill("ALICE")  # any case
    page.locator("#audit-button").click()
    expect(table).to_contain_text(re.compile(r"threshold: \d\.\d\d → \d\.\d\d"))
    expect(table).to_contain_text("e2e: back")
    page.locator("#audit-export").click()
    expect(page.locator("#audit-file")).to_be_visible()
    expect(page.locator("#audit-file")).to_contain_text(".csv")
    assert_tables_fit(page)
    assert_no_python_repr(page)
    shot(page, "audit-export", size)
