"""Uploads and exports in a real Chromium against a server of its own (`--temp-dir`, so its folder can be counted):
an imported file's upload is deleted once the import saved it (and the file box is cleared); an audit export is
written inside the server's own folder and downloads; after shutdown the folder is gone."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_browser import ARGS, CHROMIUM, MODEL_WAIT_MS, SHOTS, expect, open_tab
from tests.live_server import launch

# -m slow (its own server, about 35 s); tests/test_limits.py and test_limits_live.py count the files by default
pytestmark = [pytest.mark.browser, pytest.mark.models, pytest.mark.slow]
SHOWN_NAME = re.compile(r"edits\s*\.jsonl")  # Gradio shows the name and its extension apart


def _files(root: Path, under: str = "") -> list[Path]:
    return sorted(p for p in (root / under).rglob("*") if p.is_file())


def _held(root: Path) -> list[Path]:
    """The files under root that hold data (Gradio may leave an empty temp file of an upload request there; the
    age sweep and the shutdown take it)."""
    return [f for f in _files(root) if f.stat().st_size]


def _until(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def test_an_import_upload_is_deleted_after_use_and_an_export_stays_in_the_servers_folder(tmp_path):
    from playwright.sync_api import sync_playwright

    folder, temp = tmp_path / "server", tmp_path / "temp"
    folder.mkdir()
    data = tmp_path / "edits.jsonl"
    data.write_text('{"prompt": "The national flower of Quorvania is the", "target": "edelweiss"}\n')
    with launch(folder, extra_args=["--temp-dir", str(temp)]) as server:
        [root] = list(temp.glob("serac-files-*"))
        assert _files(root) == []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(server.url)
            page.get_by_label("username").fill(server.curator[0])
            page.get_by_label("password").fill(server.curator[1])
            page.get_by_role("button", name="Login").click()
            expect(page.locator("#signed-in")).to_contain_text("Signed in as alice", timeout=60_000)

            open_tab(page, "Edits")
            page.get_by_text("Import a file").click()
            page.locator("#import-file input[type=file]").set_input_files(str(data))
            expect(page.locator("#import-file")).to_contain_text(SHOWN_NAME)
            _until(lambda: [f.name for f in _files(root)] == ["edits.jsonl"], "the upload is in the server's folder")
            page.locator("#import-button").click()
            expect(page.locator("#import-status")).to_contain_text("Imported 1 edits", timeout=MODEL_WAIT_MS)
            expect(page.locator("#import-file")).not_to_contain_text(SHOWN_NAME)  # the box is cleared
            assert _held(root) == [], "the upload must be deleted once the import saved it"
            page.screenshot(path=str(SHOTS / "import-upload-deleted.png"), full_page=True)

            open_tab(page, "Audit")
            page.locator("#audit-export").click()
            expect(page.locator("#audit-file")).to_contain_text(".csv")
            link = page.locator("#audit-file a[download]").first
            _until(lambda: len(_files(root, "gradio/exports")) == 1, "the export is written")
            [export] = _files(root, "gradio/exports")
            assert _held(root) == [export]  # one copy, in the server's folder
            cookies = {c["name"]: c["value"] for c in page.context.cookies()}
            href = link.get_attribute("href")
            assert str(root / "gradio" / "exports") in href  # served from where it was written
            csv = httpx.get(href if href.startswith("http") else server.url + href, cookies=cookies, timeout=60)
            assert csv.status_code == 200 and csv.text.startswith("id,when (UTC),user,action")
            assert "The national flower of Quorvania is the" in csv.text
            page.screenshot(path=str(SHOTS / "audit-export-served.png"), full_page=True)
            browser.close()
    assert not root.exists(), "the server's folder must be removed at shutdown"
