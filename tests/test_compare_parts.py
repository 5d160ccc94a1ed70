"""scripts/compare_parts.py: a fresh training run's figures against the shipped manifest."""

from __future__ import annotations

import json
import runpy

from tests.conftest import ROOT

compare = runpy.run_path(str(ROOT / "scripts" / "compare_parts.py"))


def _manifest(path, generalization):
    path.write_text(
        json.dumps(
            {
                "training": {"scope": {"metrics": {"threshold": 0.04}}},
                "metrics": {"zsre_heldout": {"generalization": generalization, "routing": {"in_scope_recall": 0.9}}},
            }
        )
    )
    return str(path)


def test_a_fresh_run_within_tolerance_passes_and_a_worse_one_fails(tmp_path, capsys):
    shipped = _manifest(tmp_path / "shipped.json", 0.80)
    same = _manifest(tmp_path / "same.json", 0.79)
    worse = _manifest(tmp_path / "worse.json", 0.70)
    out = str(tmp_path / "cmp.json")
    assert compare["main"]([same, shipped, "--json", out]) == 0
    assert compare["main"]([worse, shipped, "--json", out]) == 1
    report = json.loads((tmp_path / "cmp.json").read_text())
    assert report["worse"] == ["zsre_heldout: generalization"]
    assert "zsre_heldout: generalization" in capsys.readouterr().out
