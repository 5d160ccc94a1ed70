"""The start's audit check (cli/log_check.py) in worker processes beside the loading: a clean log passes and says
how long it took; a tampered one stops the start with the serial check's own report; `stop` ends the workers."""

import pytest

from cli.log_check import LogCheck
from core.config import SeracConfig
from core.errors import StateConflict
from tests.test_audit_check import _log
from tests.test_audit_replay import _tamper


def test_a_clean_log_passes_and_a_tampered_one_stops_the_start(db_url, capsys):
    _log(db_url)
    config = SeracConfig(db_url=db_url, device="cpu")
    check = LogCheck(config, parts=2)
    check.wait()
    assert check.seconds > 0 and len(check._workers) == 2
    assert "audit log verified: 40 rows in" in capsys.readouterr().err
    _tamper(
        db_url, "UPDATE audit_log SET reason = 'because' WHERE id = 20", "UPDATE edits SET target = 'Lyon' WHERE id = 2"
    )
    with pytest.raises(StateConflict) as failed:
        LogCheck(config, parts=2).wait()
    lines = str(failed.value).splitlines()
    assert lines[0] == "audit log tampered: row 20: content does not match its hash (row altered) (1 more below)"
    assert lines[1] == "  edit #2: target is 'Lyon' in the table, the audit says 'Osmund'"
    assert lines[2].startswith("not serving this edit log")


def test_stop_ends_the_workers(db_url):
    _log(db_url)
    check = LogCheck(SeracConfig(db_url=db_url, device="cpu"), parts=2)
    check.stop()
    with pytest.raises(StateConflict):  # stopped before or while its workers ran: no result, nothing served
        check.wait()
    assert not any(p.is_alive() for p in check._workers)
