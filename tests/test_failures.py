"""Unexpected exceptions (webapp/failures.py) reach users as one line with an id; the detail goes only to the
server log. Provoked for real: a callback reads a table that was dropped behind its back."""

from __future__ import annotations

import logging
import re
import sqlite3

import gradio as gr
import pytest

from core.errors import InvalidInput
from webapp.failures import shield_callbacks, shielded

LINE = re.compile(r"^internal error, id ([0-9a-f]{8}); the server log has the detail$")


def shown(call) -> str:
    """The message the page would show for what `call` raised (a gr.Error)."""
    with pytest.raises(gr.Error) as raised:
        call()
    return raised.value.message


def reader(path):
    def count_edits() -> int:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT count(*) FROM edits").fetchone()[0]

    return count_edits


def test_a_real_database_error_becomes_one_line_with_an_id_and_the_log_has_the_detail(tmp_path, caplog):
    path = tmp_path / "log.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE edits (id INTEGER)")
    count = shielded(reader(path))
    assert count() == 0
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE edits")  # behind the app's back
    with caplog.at_level(logging.ERROR, logger="serac.errors"):
        line = shown(count)
    found = LINE.match(line)
    assert found and "edits" not in line and "SELECT" not in line
    record = next(r for r in caplog.records if found.group(1) in r.getMessage())
    assert record.exc_info and "no such table: edits" in str(record.exc_info[1])


def test_expected_errors_keep_their_own_message():
    def refuse():
        raise InvalidInput("prompt must not be empty")

    def gradio_error():
        raise gr.Error("pick an edit first")

    assert shown(shielded(refuse)) == "prompt must not be empty"
    assert shown(shielded(gradio_error)) == "pick an edit first"


def test_generators_are_shielded_too(tmp_path):
    def rows():
        yield 1
        with sqlite3.connect(tmp_path / "empty.sqlite") as conn:
            conn.execute("SELECT * FROM gone")
        yield 2

    steps = shielded(rows)()
    assert next(steps) == 1
    assert LINE.match(shown(lambda: next(steps)))


def test_every_event_of_the_blocks_is_shielded_once(tmp_path):
    with gr.Blocks() as blocks:
        box = gr.Number()
        gr.Button("count").click(reader(tmp_path / "none.sqlite"), None, box)
        blocks.load(reader(tmp_path / "none.sqlite"), None, box)
    shield_callbacks(blocks)
    wrapped = [f.fn for f in blocks.fns.values()]
    shield_callbacks(blocks)
    assert [f.fn for f in blocks.fns.values()] == wrapped and all(f._serac_shielded for f in wrapped)
    assert LINE.match(shown(wrapped[0]))
