"""`app.py eval` end to end on the real default models: the JSON's fields and ranges (not the quality)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import DATA, MODEL_CACHE, ROOT

COUNTERFACT = DATA / "counterfact" / "val.json"


def run_eval(tmp_path, *args):
    cmd = [
        sys.executable,
        str(ROOT / "app.py"),
        "--db",
        f"sqlite:///{tmp_path / 'unused.sqlite'}",
        "--device",
        "cpu",
        "--cache-dir",
        str(MODEL_CACHE),
        "eval",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=tmp_path)


def _unit(value):
    return isinstance(value, float) and 0.0 <= value <= 1.0


@pytest.mark.models
def test_eval_on_8_counterfact_records_writes_the_contract_json(tmp_path):
    out = tmp_path / "report.json"
    proc = run_eval(tmp_path, "--format", "counterfact", "--data", str(COUNTERFACT), "--limit", "8", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["n_edits"] == 8 and report["n_answered"] == report["n_probes"] == 24 and report["complete"]
    for key in ("reliability", "generalization", "locality", "drawdown"):
        assert _unit(report[key]), key
    assert report["drawdown"] == pytest.approx(1 - report["locality"])
    assert set(report["routing"]) == {"in_scope_recall", "out_of_scope_rejection"}
    assert all(_unit(v) for v in report["routing"].values())
    latency = report["latency_ms"]
    assert 0 < latency["route_p50"] <= latency["route_p95"] and latency["answer_p50"] > 0
    assert report["config"]["limit"] == 8 and report["config"]["threshold"] == 0.5
    assert all(_unit(report["likelihood"][k]) for k in ("reliability", "generalization", "locality"))
    assert "reliab." in proc.stdout and not (tmp_path / "unused.sqlite").exists()  # the edit log is not touched


@pytest.mark.models
@pytest.mark.slow  # five memory sizes through the real models; the eval contract test stays in the default run
def test_scaling_sweep_writes_points_and_a_figure(tmp_path):
    out = tmp_path / "sweep.json"
    proc = run_eval(
        tmp_path,
        "--format",
        "zsre",
        "--data",
        str(DATA / "zsre" / "dev.json"),
        "--sizes",
        "3,12",
        "--no-likelihood",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [p["n_edits"] for p in report["scaling"]["points"]] == [3, 12]
    assert [p["n_records"] for p in report["scaling"]["points"]] == [3, 3]
    assert (tmp_path / "sweep_scaling.html").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--format", "counterfact", "--data", "/nonexistent.json"), "no such file"),
        (("--format", "counterfact", "--data", str(COUNTERFACT), "--sizes", "10,x"), "--sizes"),
        (("--format", "counterfact", "--data", str(COUNTERFACT), "--limit", "0"), "must be positive"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(tmp_path, args, message):
    proc = run_eval(tmp_path, *args)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
