"""`app.py bench` end to end on the real default models: the JSON's fields and ranges (timings never asserted)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import DATA, MODEL_CACHE, ROOT

COUNTERFACT = DATA / "counterfact" / "train.json"


def run_bench(tmp_path, *args):
    cmd = [
        sys.executable,
        str(ROOT / "app.py"),
        "--db",
        f"sqlite:///{tmp_path / 'unused.sqlite'}",
        "--device",
        "cpu",
        "--cache-dir",
        str(MODEL_CACHE),
        "bench",
        "--data",
        str(COUNTERFACT),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)


def _timing(summary):
    return 0 < summary["p50_ms"] <= summary["p95_ms"]


@pytest.mark.models
@pytest.mark.slow  # about 90 s (every phase on the real models, three child processes); the parts run by default in
# tests/test_benchmark_parts.py, test_routing_bench.py, test_bulk_import.py and test_bench_restart.py
def test_bench_on_two_small_sizes_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_bench(
        tmp_path,
        "--sizes",
        "200,2000",
        "--queries",
        "20",
        "--inserts",
        "10",
        "--routing-queries",
        "6",
        "--import-edits",
        "300",
        "--restart-edits",
        "300",
        "--generation-tokens",
        "4",
        "--generation-prompts",
        "2",
        "--generation-repeats",
        "1",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    ins = report["insertion"]
    assert ins["n"] == 10 and ins["edits_before"] == 1990 and ins["index_kind"] == "flat"
    assert all(_timing(ins[step]) for step in ("total", "log", "embed", "index"))
    assert ins["total"]["p50_ms"] >= ins["embed"]["p50_ms"]
    routing = report["routing"]
    assert routing["n_queries"] == 6 and routing["n_edits"] == 2000
    assert _timing(routing["route"]) and _timing(routing["base_answer"]) and routing["ratio_p50"] > 0
    # 3 paraphrases of loaded edits and 3 unrelated prompts: most paraphrases route, most unrelated do not
    assert 2 <= routing["routed_to_counterfactual"] <= 4
    # the torch reference path timed in the same loop, deciding the same way, targets beside the figures
    assert _timing(routing["reference"]["route"]) and routing["reference"]["ratio_p50"] > 0
    assert routing["differing"] == 0 and routing["fast_routing"] is True
    assert routing["targets"] == {"route_p50_ms": 15.0, "ratio_p50": 0.02}
    assert [row["size"] for row in report["lookup"]] == [200, 2000]
    peaks_models_floor = 400 * 2**20  # the peak while building includes the models already loaded
    for row in report["lookup"]:
        assert row["auto"] == "flat" and row["queries"] == 20 and row["real_rows"] == row["size"]
        assert row["flat"]["index"] == "flat" and row["flat"]["recall_at_k"] == 1.0
        assert row["approx"]["index"].startswith("ivf-fp16 nlist=")
        assert 0.5 <= row["approx"]["recall_at_k"] <= 1.0
        assert row["targets"] == {"p50_ms": 10.0, "recall_at_k": 0.95, "peak_rss_bytes_at_1m": 2 * 10**9}
        for kind, bytes_per_dim in (("flat", 4), ("approx", 2)):
            m = row[kind]
            assert _timing(m) and m["build_s"] >= 0 and m["index_bytes"] >= row["size"] * 384 * bytes_per_dim
            assert m["peak_rss_bytes"] > peaks_models_floor and m["rss_growth_bytes"] < 2**30
    peaks = report["peak_rss_bytes"]
    assert list(peaks) == [
        "models",
        "insertion",
        "import",
        "routing",
        "lookup n=200",
        "lookup n=2000",
        "restart",
        "generation",
    ]
    assert peaks["models"] > 400 * 2**20  # SmolLM2-135M in float32 alone is about 540 MB: the models were loaded
    assert peaks["lookup n=2000"] < 8 * 2**30
    assert list(report["load_avg_1min"]) == list(peaks) == list(report["elapsed_s"])
    assert report["settings"]["index_rule"]["flat_limit"] > 2000
    assert "(targets p50 <= 10 ms, recall@10 >= 0.95, peak RSS <= 2 GB at 1M)" in proc.stdout
    assert "scope lookup" in proc.stdout and "(targets p50 <= 15 ms, <= 0.02)" in proc.stdout
    assert "fast path: route p50" in proc.stdout and "torch path: route p50" in proc.stdout
    assert "decisions differing between the two paths: 0 of 6" in proc.stdout
    gen = report["generation"]
    assert gen["default"] == "static" and gen["prompts"] == 2 and gen["target_fraction"] == 0.5
    assert gen["paths"]["static"]["same_answers"] is True  # the default path answers as the reference does
    assert gen["counterfactual"]["weight_bytes_per_token"] == gen["paths"]["static"]["weight_bytes_per_token"]
    assert "memory bandwidth" in proc.stdout and "fraction" in proc.stdout
    imported = report["import"]  # the real `app.py import` in a child: its own peak, not the bench's models
    assert imported["n"] == imported["imported"] == 300 and imported["edits_per_s"] > 0
    assert 20 * 2**20 < imported["peak_rss_bytes"] < peaks["models"]
    assert "bulk import (300 CounterFact-shaped records" in proc.stdout
    assert "target: 100,000 CounterFact-shaped edits through `app.py import`" in proc.stdout
    restart = report["restart"]  # fresh processes over a 300-edit log with stored embeddings, and an empty one
    assert restart["size"] == restart["memory"]["edits"] == restart["serve"]["edits"] == 300
    assert restart["serve_empty_log"]["edits"] == 0 and restart["serve"]["ready_s"] < restart["serve"]["first_answer_s"]
    assert restart["serve_cold"]["index_origin"]["source"] == "built"  # and snapshotted: the restart reads it
    assert (restart["serve"]["index_origin"]["source"], restart["serve"]["index_origin"]["replayed"]) == ("snapshot", 0)
    assert "restart: first answer at" in proc.stdout and "index read from its snapshot" in proc.stdout
    assert restart["memory"]["memory_and_index_bytes"] > 0 and restart["serve"]["peak_rss_bytes"] > peaks_models_floor
    assert "restart over a 300-edit log with stored embeddings" in proc.stdout and "(target <= 60 s" in proc.stdout
    assert not (tmp_path / "unused.sqlite").exists()  # the edit log named by --db is not touched


@pytest.mark.parametrize(
    "args,message",
    [
        (["--sizes", "10,abc"], "--sizes must be comma-separated integers"),
        (["--sizes", "0"], "--sizes must list integers"),
        (["--queries", "0"], "--queries must be a positive integer"),
        (["--generation-threads", "0"], "--generation-threads must be a positive integer"),
        (["--import-edits", "-1"], "--import-edits must be 0 (skip) or a positive integer"),
        (["--restart-edits", "-1"], "--restart-edits must be in 0..5000000 (0 skips)"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "bench.json"
    proc = run_bench(tmp_path, *args, "--json", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not out.exists()


def test_missing_data_file_is_one_line(tmp_path):
    proc = run_bench(tmp_path, "--data", str(tmp_path / "nope.json"), "--sizes", "100")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
