"""End to end in a real headless Chromium (Debian `chromium`, driven by playwright) against `python app.py`:
log in, add an edit, probe a paraphrase (counterfactual answer + chart) and an unrelated prompt (base
answer), retire the edit and see the routing change, find it all in the audit tab. Each tab is saved as a
screenshot under artifacts/screenshots/.

The steps run in order on one logged-in page (a later step needs the earlier ones).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.models]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
MODEL_WAIT_MS = 120_000  # a probe generates with the real models on a shared CPU

PROMPT = "The mother tongue of Danielle Darrieux is"
TARGET = "English"
PARAPHRASE = "Where Danielle Darrieux is from, people speak the language of"
UNRELATED = "The capital of France is"


@pytest.fixture(scope="module")
def page(live_server):
    from playwright.sync_api import sync_playwright  # pinned in requirements.txt: required, never skipped

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `bash scripts/system-deps.sh chromium` installs it")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def state() -> dict:
    return {}


def expect(locator):
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def textbox(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def ask(page, prompt: str) -> None:
    """Type a prompt, press Ask and wait until the routing sentence answers this prompt (it starts with
    `Asked: “prompt”`). On a loaded CPU a click right after Playwright's fill can still carry the box's
    previous text to the app (seen several times with the machine's load at 5-10); the sentence names the
    prompt it answered, so the helper sees that and presses Ask again (at most three times)."""
    decision, box = page.locator("#probe-decision"), textbox(page, "probe-prompt")
    for attempt in range(3):
        box.fill(prompt)
        box.blur()
        page.wait_for_timeout(500)
        page.locator("#probe-button").click()
        last = attempt == 2
        try:
            expect(decision).to_contain_text(f"Asked: “{prompt}”", timeout=MODEL_WAIT_MS if last else 30_000)
            break
        except AssertionError:
            if last:
                raise
    expect(decision).not_to_contain_text("processing", timeout=MODEL_WAIT_MS)


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


PYTHON_REPR = re.compile(r"'__type__'|\{'interactive'|<gradio\.|\[\{'")


def assert_no_python_repr(page) -> None:
    """No label, button or cell a person sees shows a Python repr (a Gradio update dict, an object)."""
    seen = page.locator("body").inner_text()
    assert not PYTHON_REPR.search(seen), PYTHON_REPR.search(seen).group(0)


def test_wrong_password_is_refused_then_login_works(page, live_server):
    page.goto(live_server.url + "/")
    name, password = live_server.curator
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill("not-the-password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#signed-in")).to_contain_text(f"Signed in as {name} (curator", timeout=60_000)


def test_the_header_names_the_shipped_trained_parts(page):
    import json

    version = json.loads((Path(__file__).resolve().parents[2] / "models" / "manifest.json").read_text())["version"]
    header = page.locator("#signed-in")
    expect(header).to_contain_text(f"shipped version {version}")
    expect(header).to_contain_text("counterfactual: trained LoRA counterfactual model")
    expect(page.get_by_text("untrained default")).to_have_count(0)


def test_add_an_edit(page, state):
    open_tab(page, "Edits")
    textbox(page, "add-prompt").fill(PROMPT)
    textbox(page, "add-target").fill(TARGET)
    textbox(page, "add-subject").fill("Danielle Darrieux")
    page.locator("#add-button").click()
    status = page.locator("#add-status")
    expect(status).to_contain_text("Added edit #", timeout=MODEL_WAIT_MS)
    state["edit_id"] = int(re.search(r"#(\d+)", status.inner_text()).group(1))
    expect(page.locator("#edits-table")).to_contain_text(PROMPT)
    expect(textbox(page, "add-prompt")).to_have_value("")  # the form is cleared for the next edit
    expect(textbox(page, "add-target")).to_have_value("")
    shot(page, "edits")


def test_a_contradicting_edit_is_settled_not_bypassed(page, state):
    """A contradiction saves nothing until the curator settles it; a draft changed after the check is checked
    again instead of saved; keeping both needs a reason, and then both stay active."""
    textbox(page, "add-prompt").fill(PROMPT)
    textbox(page, "add-target").fill("French")
    page.locator("#add-button").click()
    status = page.locator("#add-status")
    expect(status).to_contain_text("Not saved — settle the conflict first", timeout=MODEL_WAIT_MS)
    expect(status).to_contain_text(f"contradicts #{state['edit_id']} (→ {TARGET}; same prompt)")
    expect(page.locator("#add-neighbours")).to_contain_text("contradiction (same prompt, other target)")
    expect(page.locator("#add-confirm")).to_have_text("Settle and save")
    shot(page, "edits-conflict")
    textbox(page, "add-target").fill("Spanish")  # changed after the check
    page.get_by_label("Keep both on purpose (give a reason)").check()
    textbox(page, "add-settle-reason").fill("e2e: two sources")
    page.locator("#add-confirm").click()
    expect(status).to_contain_text("The draft changed since its check", timeout=MODEL_WAIT_MS)
    expect(page.locator("#edits-table")).not_to_contain_text("Spanish")
    page.get_by_label("Keep both on purpose (give a reason)").check()
    page.locator("#add-confirm").click()
    expect(status).to_contain_text("Both edits stay active", timeout=MODEL_WAIT_MS)
    expect(page.locator("#edits-table")).to_contain_text("Spanish")
    kept = int(re.search(r"Added edit #(\d+)", status.inner_text()).group(1))
    # the routing sentence names the contradiction (and the tie) between the two active edits
    open_tab(page, "Probe")
    ask(page, PROMPT)
    decision = page.locator("#probe-decision")
    expect(decision).to_contain_text("Routed to the counterfactual model", timeout=MODEL_WAIT_MS)
    expect(decision).to_contain_text("Contradiction: also in scope, with another target")
    expect(decision).to_contain_text("Tie with")
    shot(page, "probe-contradiction")
    open_tab(page, "Edits")
    textbox(page, "action-id").fill(str(kept))
    textbox(page, "action-reason").fill("e2e: cleanup")
    page.locator("#retire-button").click()
    expect(page.locator("#action-status")).to_contain_text(f"Retired edit #{kept}", timeout=MODEL_WAIT_MS)


def test_import_a_file_reports_the_bad_lines(page, tmp_path_factory):
    path = tmp_path_factory.mktemp("import") / "edits.jsonl"
    path.write_text(
        '{"prompt": "The national bird of Quorvania is the", "target": "heron", '
        '"paraphrases": ["Quorvania has as its national bird the"]}\n'
        '{"prompt": "no target here"}\n'
        '{"prompt": "The chess champion of Zentha is", "target": "Ilsa Marr"}\n'
    )
    page.get_by_text("Import a file").click()
    page.locator("#import-file input[type=file]").set_input_files(str(path))
    page.get_by_label("Import the valid records even if some are rejected").check()
    page.locator("#import-button").click()
    expect(page.locator("#import-status")).to_contain_text(
        "Imported 2 edits with 1 probe prompts", timeout=MODEL_WAIT_MS
    )
    expect(page.locator("#import-errors")).to_contain_text("target")
    expect(page.locator("#edits-table")).to_contain_text("The national bird of Quorvania is the")
    shot(page, "edits-import")


def test_probe_a_paraphrase_gets_the_counterfactual_answer_and_the_chart(page, state):
    open_tab(page, "Probe")
    ask(page, PARAPHRASE)
    decision = page.locator("#probe-decision")
    expect(decision).to_contain_text("Routed to the counterfactual model", timeout=MODEL_WAIT_MS)
    expect(decision).to_contain_text(f"edit #{state['edit_id']}")
    expect(textbox(page, "probe-edited")).to_have_value(re.compile(r"^\s*English", re.I))
    expect(page.locator("#probe-chart .js-plotly-plot")).to_be_visible()
    expect(page.locator("#probe-chart")).to_contain_text("threshold")
    expect(page.locator("#probe-keep")).to_have_text("Keep with the edit")
    expect(page.locator("#probe-keep")).to_be_enabled()
    assert_no_python_repr(page)
    shot(page, "probe")


def test_probe_an_unrelated_prompt_keeps_the_base_answer(page):
    ask(page, UNRELATED)
    expect(page.locator("#probe-decision")).to_contain_text("Routed to the base model", timeout=MODEL_WAIT_MS)
    base = textbox(page, "probe-base").input_value()
    assert base.strip()
    expect(textbox(page, "probe-edited")).to_have_value(base)


def test_scope_map_and_threshold_tabs_draw(page):
    open_tab(page, "Scope map")
    textbox(page, "map-probe").fill(PARAPHRASE)
    page.locator("#map-button").click()
    expect(page.locator("#map-note")).to_contain_text("active edit(s) mapped", timeout=MODEL_WAIT_MS)
    expect(page.locator("#map-plot .js-plotly-plot")).to_be_visible()
    shot(page, "scope-map")
    open_tab(page, "Threshold")
    page.locator("#threshold-show").click()
    expect(page.locator("#threshold-summary")).to_contain_text("Probe set:", timeout=MODEL_WAIT_MS)
    expect(page.locator("#threshold-plot .js-plotly-plot")).to_be_visible()
    expect(page.locator("#threshold-set")).to_have_text("Set this threshold")
    assert_no_python_repr(page)
    shot(page, "threshold")


def test_retire_the_edit_and_the_routing_changes(page, state):
    open_tab(page, "Edits")
    textbox(page, "action-id").fill(str(state["edit_id"]))
    textbox(page, "action-reason").fill("e2e: wrong source")
    page.locator("#retire-button").click()
    expect(page.locator("#action-status")).to_contain_text(f"Retired edit #{state['edit_id']}", timeout=MODEL_WAIT_MS)
    open_tab(page, "Probe")
    ask(page, PARAPHRASE)
    decision = page.locator("#probe-decision")
    expect(decision).not_to_contain_text(f"edit #{state['edit_id']} (", timeout=MODEL_WAIT_MS)
    expect(decision).to_contain_text("Routed to the base model", timeout=MODEL_WAIT_MS)


def test_everything_is_in_the_audit_tab(page, state, live_server):
    open_tab(page, "Audit")
    textbox(page, "audit-edit").fill(str(state["edit_id"]))
    page.locator("#audit-button").click()
    table = page.locator("#audit-table")
    expect(page.locator("#audit-note")).to_contain_text("2 audit entries")
    for text in ("add", "retire", live_server.curator[0], "e2e: wrong source"):
        expect(table).to_contain_text(text)
    shot(page, "audit")


def test_a_viewer_sees_everything_but_cannot_write(page, live_server):
    context = page.context.browser.new_context(viewport={"width": 1400, "height": 1100})
    viewer = context.new_page()
    try:
        viewer.goto(live_server.url + "/")
        viewer.get_by_label("username").fill(live_server.viewer[0])
        viewer.get_by_label("password").fill(live_server.viewer[1])
        viewer.get_by_role("button", name="Login").click()
        expect(viewer.locator("#signed-in")).to_contain_text("(viewer: read and probe only)", timeout=60_000)
        open_tab(viewer, "Edits")  # the Overview is the first tab
        expect(viewer.locator("#edits-table")).to_contain_text(PROMPT)
        viewer.get_by_text("Import a file").click()  # the import section starts folded
        for button in ("#add-button", "#retire-button", "#restore-button", "#change-button", "#import-button"):
            expect(viewer.locator(button)).to_be_disabled()
        assert_no_python_repr(viewer)
        open_tab(viewer, "Probe")
        expect(viewer.locator("#probe-keep")).to_have_text("Keep with the edit")
        expect(viewer.locator("#probe-keep")).to_be_disabled()
        open_tab(viewer, "Threshold")
        expect(viewer.locator("#threshold-set")).to_have_text("Set this threshold")
        expect(viewer.locator("#threshold-set")).to_be_disabled()
        assert_no_python_repr(viewer)
    finally:
        context.close()


HOSTILE_PROMPT = "The <b>codename</b> of [Project X](http://evil.example) is"
HOSTILE_TARGET = "__24__ <img src=x onerror=window.__pwned=1>"


def test_curators_text_is_shown_as_text_never_as_markup(page, live_server):
    """An edit whose prompt and target hold HTML, a Markdown link and emphasis, added through the API, shows
    character for character in the routing sentence, the chart and the table; nothing renders or runs."""
    import httpx

    headers = {"Authorization": f"Bearer {live_server.curator_token}"}
    body = {"prompt": HOSTILE_PROMPT, "target": HOSTILE_TARGET}
    created = httpx.post(live_server.url + "/api/edits", json=body, headers=headers, timeout=120)
    assert created.status_code == 201, created.text
    open_tab(page, "Probe")
    ask(page, HOSTILE_PROMPT)
    decision = page.locator("#probe-decision")
    expect(decision).to_contain_text("Routed to the counterfactual model", timeout=MODEL_WAIT_MS)
    expect(decision).to_contain_text(HOSTILE_PROMPT)
    expect(decision).to_contain_text(HOSTILE_TARGET)
    expect(page.locator("#probe-chart")).to_contain_text("<b>codename</b>")
    open_tab(page, "Edits")
    page.locator("#edits-show").click()
    expect(page.locator("#edits-table")).to_contain_text(HOSTILE_TARGET)
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href*='evil.example']").count() == 0
    assert page.locator("b:text-is('codename'), strong:text-is('24')").count() == 0
    assert page.evaluate("window.__pwned === undefined")
    shot(page, "hostile-text")


def test_the_ui_and_the_api_docs_load_nothing_from_outside(page, live_server):
    """Every request the UI and /docs make goes to this server (no CDN, no web fonts): both work offline.
    With outside requests blocked, /docs still lists the API's operations."""
    from urllib.parse import urlparse

    context = page.context.browser.new_context(viewport={"width": 1400, "height": 900})
    host = urlparse(live_server.url).netloc
    outside = []

    def only_local(route):
        if urlparse(route.request.url).netloc == host:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    docs = context.new_page()
    try:
        docs.goto(live_server.url + "/docs")
        expect(docs.locator(".swagger-ui")).to_contain_text("/api/edits", timeout=30_000)
        expect(docs.locator(".swagger-ui")).to_contain_text("POST")
        shot(docs, "api-docs")
        docs.goto(live_server.url + "/")
        docs.get_by_label("username").fill(live_server.curator[0])
        docs.get_by_label("password").fill(live_server.curator[1])
        docs.get_by_role("button", name="Login").click()
        expect(docs.locator("#signed-in")).to_contain_text("Signed in as", timeout=60_000)
        title_font = docs.locator("#title h1").evaluate("e => getComputedStyle(e).fontFamily")
        assert "IBM Plex" not in title_font and "system-ui" in title_font
    finally:
        context.close()
    assert outside == []
