"""The command line as a user runs it: a new process each time, one SQLite file shared between them."""

import json
import subprocess
import sys

import pytest

from tests.conftest import MODEL_CACHE, ROOT


def run(db_url, *args, check=True):
    cmd = [
        sys.executable,
        str(ROOT / "app.py"),
        "--db",
        db_url,
        "--cache-dir",
        str(MODEL_CACHE),
        "--device",
        "cpu",
        "--user",
        "tester",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_add_list_retire_restore(db_url):
    assert "added edit #1" in run(db_url, "add", "The capital of Veltria is", "Osmund").stdout
    listed = [json.loads(line) for line in run(db_url, "list", "--json").stdout.splitlines()]
    assert listed[0]["target"] == "Osmund" and listed[0]["created_by"] == "tester"
    run(db_url, "retire", "1", "--reason", "typo")
    assert json.loads(run(db_url, "list", "--json").stdout)["status"] == "retired"
    run(db_url, "restore", "1")
    assert "intact: 3 rows" in run(db_url, "audit", "verify").stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (("add", "", "x"), "prompt must not be empty"),
        (("add", "   ", "x"), "prompt must not be empty"),
        (("retire", "99"), "no edit with id 99"),
        (("restore", "99"), "no edit with id 99"),
        (("import", "/nonexistent.jsonl"), "no such file"),
    ],
)
def test_errors_exit_nonzero_with_one_line_and_change_nothing(db_url, args, message):
    proc = run(db_url, *args, check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and message in proc.stderr
    assert run(db_url, "list", "--json").stdout == ""


def test_double_retire_is_an_error(db_url):
    run(db_url, "add", "p", "t")
    run(db_url, "retire", "1")
    proc = run(db_url, "retire", "1", check=False)
    assert proc.returncode != 0 and "is retired" in proc.stderr


@pytest.mark.slow  # subprocess model loads; imports run by default through the UI callbacks (test_webapp_callbacks.py)
def test_import_counterfact_and_jsonl(db_url, tmp_path, counterfact_slice):
    cf = tmp_path / "cf.json"
    cf.write_text(json.dumps(counterfact_slice[:5]))
    assert "imported 5 edits" in run(db_url, "import", str(cf)).stdout
    bad = tmp_path / "edits.jsonl"
    bad.write_text('{"prompt": "a", "target": "b"}\nnot json\n{"prompt": "", "target": "c"}\n')
    proc = run(db_url, "import", str(bad), check=False)
    assert proc.returncode != 0 and ":2: rejected" in proc.stderr and ":3: rejected" in proc.stderr
    assert len(run(db_url, "list", "--json").stdout.splitlines()) == 5
    assert "imported 1 edits" in run(db_url, "import", str(bad), "--skip-invalid").stdout


@pytest.mark.models
@pytest.mark.slow  # a model load in a subprocess; routing and answers run by default in test_serac_real.py
def test_ask_answers_the_edit_beside_the_untouched_base_answer(db_url):
    """One model load: the routed answer carries the target, the base answer beside it is the base model's own
    (unrelated prompts staying with the base model run by default in test_serac_real.py and the live API tests)."""
    run(db_url, "add", "The mother tongue of Danielle Darrieux is", "English")
    edited = json.loads(
        run(db_url, "ask", "--json", "Where Danielle Darrieux is from, people speak the language of").stdout
    )
    assert edited["route"] == "counterfactual" and edited["chosen_edit"]["id"] == 1
    assert edited["edited_answer"].lower().startswith("english")
    assert edited["base_answer"].strip() and not edited["base_answer"].lower().startswith("english")


def test_cli_and_ui_imports_give_the_same_edits_and_probe_prompts(tmp_path, counterfact_slice):
    """One import rule (services.imports) behind both doors: same edits, same probe prompts, same rejections."""
    from core.config import SeracConfig
    from db.probe_prompts import probes_for
    from db.repository import EditRepository
    from services.services import Services
    from tests.tiny_models import tiny_editor
    from webapp.auth import User
    from webapp.callbacks.edits import import_file

    records = [dict(r) for r in counterfact_slice[:4]]
    records[2]["rephrase_prompt"] = "x" * 5000  # a probe prompt over the limit rejects its record
    path = tmp_path / "cf.json"
    path.write_text(json.dumps(records))
    cli_db, ui_db = f"sqlite:///{tmp_path / 'cli.sqlite'}", f"sqlite:///{tmp_path / 'ui.sqlite'}"
    proc = run(cli_db, "import", str(path), "--skip-invalid")
    assert (
        "imported 3 edits with 6 probe prompts" in proc.stdout
        and "cf.json: record 3: rejected: probe prompt is 5000" in proc.stderr  # a JSON list: records, not lines
    )
    services = Services(SeracConfig(db_url=ui_db), EditRepository(ui_db), tiny_editor(tmp_path / "lm"))
    message, errors = import_file(services, User("alice", "curator"), str(path), "auto", True)
    assert message.startswith("Imported 3 edits with 6 probe prompts") and [e[0] for e in errors] == ["record 3"]

    cli_repo, ui_repo = EditRepository(cli_db), EditRepository(ui_db)
    assert [(e.prompt, e.target, e.subject) for e in cli_repo.list_edits()] == [
        (e.prompt, e.target, e.subject) for e in ui_repo.list_edits()
    ]

    def stored(repo):
        return {i: [(p.prompt, p.expect, p.source) for p in ps] for i, ps in probes_for(repo.engine, [1, 2, 3]).items()}

    assert stored(cli_repo) == stored(ui_repo) and len(stored(cli_repo)[1]) == 2


@pytest.mark.slow  # about 60 s of model loads; the rule itself runs by default through the API and the callbacks
def test_add_and_import_follow_the_one_conflict_rule(db_url, tmp_path):
    """The CLI's doors refuse a contradiction (same prompt, other target) unless told how to settle it, and an
    import rejects the records that conflict, with their lines and why, all or nothing."""
    run(db_url, "add", "The capital of Veltria is", "Osmund")
    refused = run(db_url, "add", "The capital of Veltria is", "Lyon", check=False)
    assert refused.returncode == 2 and "contradicts #1" in refused.stderr and "nothing" not in refused.stdout
    no_reason = run(db_url, "add", "The capital of Veltria is", "Lyon", "--on-conflict", "keep", check=False)
    assert no_reason.returncode == 2 and "needs a reason" in no_reason.stderr
    replaced = run(db_url, "add", "The capital of Veltria is", "Lyon", "--on-conflict", "replace").stdout
    assert "changed edit #1" in replaced and "added" not in replaced
    records = [
        {"prompt": "The capital of Veltria is", "target": "Osmund"},  # contradicts #1 (now Lyon)
        {"prompt": "The national bird of Quorvania is the", "target": "heron"},
        {"prompt": "The chess champion of Zentha is", "target": "Ilsa Marr"},
        {"prompt": "The chess champion of Zentha is", "target": "Oren Vale"},  # contradicts record 3
    ]
    path = tmp_path / "edits.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    proc = run(db_url, "import", str(path), check=False)
    assert proc.returncode == 2 and ":1: rejected: this edit contradicts #1" in proc.stderr
    assert (
        ":3: rejected: contradicts line(s) 4" in proc.stderr  # a JSONL file: its records are lines
        and ":4: rejected: contradicts line(s) 3" in proc.stderr
    )
    assert len(run(db_url, "list", "--json").stdout.splitlines()) == 1  # nothing imported
    settled = run(db_url, "import", str(path), "--skip-invalid", "--on-conflict", "retire")
    assert "imported 2 edits" in settled.stdout  # record 1 retired #1 and was added; 3 and 4 stay rejected
    listed = [json.loads(line) for line in run(db_url, "list", "--json").stdout.splitlines()]
    assert [(e["prompt"], e["target"], e["status"]) for e in listed] == [
        ("The capital of Veltria is", "Lyon", "retired"),
        ("The national bird of Quorvania is the", "heron", "active"),
        ("The capital of Veltria is", "Osmund", "active"),
    ]


@pytest.mark.slow  # two CLI subprocesses; EditLog.route's rule is what it checks
def test_writes_into_a_log_with_no_active_edit_load_no_model(db_url, tmp_path):
    """With no active edit nothing can fall in an edit's scope, so `add` and `import` apply the conflict rule
    without the models (a broken embedder path proves none is loaded); once an edit is active they need them,
    and a model that cannot load is a clear error that saves nothing."""
    broken = ("--embedder", str(tmp_path / "no-such-embedder"))
    assert "added edit #1" in run(db_url, *broken, "add", "The capital of Veltria is", "Osmund").stdout
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"prompt": "The chess champion of Zentha is", "target": "Ilsa Marr"}) + "\n")
    run(db_url, "retire", "1")
    assert "imported 1 edits" in run(db_url, *broken, "import", str(path)).stdout
    failed = run(db_url, *broken, "add", "The national bird of Quorvania is the", "heron", check=False)
    assert failed.returncode != 0 and "no-such-embedder" in failed.stderr
    assert len(run(db_url, "list", "--json").stdout.splitlines()) == 2
