"""The bench's restart phase: how fast a server over a large edit log comes back, and what its memory costs.

1. A SQLite edit log of N CounterFact-shaped edits with their stored embeddings (db.edit_vectors), built once
   through EditRepository.add_edits (audit rows and all; the conflict rule is not applied: the synthetic prompts
   are the real ones numbered) and kept under <cache>/../bench. Its vectors are the real MiniLM rows of the
   bench's prompts, then noisy copies (core.benchmarks.data), tagged with the serving embedder's identity.
2. In a fresh process without models: the edit memory loaded from the log (services.stored_vectors, streamed):
   seconds, RSS before and at peak (the memory and index cost their difference), and single-query lookups through
   the memory (faiss search plus the candidates' texts read from the log).
3. In a fresh process each: what `app.py serve` does before it serves (cli.serve.start_serving: `audit verify` of
   the whole log in worker processes while the models and the index load) and one answer, over the large log
   twice (first with no index snapshot: the index is built from the stored embeddings and snapshotted; then a
   restart that reads the snapshot, services.index_cache) and over an empty one: seconds from process start to the
   first answer, how long the check and the loading took, and the process's peak RSS.
Targets (issue 15): memory and index <= 2 GB at 1M edits; serving within 60 s of start. The children share the
parent's SeracConfig (pickled), so the embedder identity they serve is the one the log was tagged with.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BATCH = 5_000  # edits per transaction while building the log
TARGET_RSS_BYTES = 2 * 1024**3
TARGET_SERVE_S = 60.0
QUESTION = "What is the capital of France?"


def measure_restart(editor, config, cases, real: np.ndarray, size: int, queries: np.ndarray, progress) -> dict:
    """The phase's figures for a log of `size` edits (built or reused), as a JSON-ready dict."""
    path = Path(config.cache_dir).parent / "bench" / f"restart-{size}.sqlite"
    url = f"sqlite:///{path}"
    identity = editor.embedder.identity
    built_s = _ensure_log(url, identity, cases, real, size, progress)
    with tempfile.TemporaryDirectory(prefix="serac-restart-") as folder:
        np.save(Path(folder) / "queries.npy", queries)
        loaded = _child("load", {"url": url, "identity": identity, "dim": real.shape[1], "folder": folder})
        snapshots = str(Path(folder) / "snapshots")  # none yet: the first start builds the index and writes one
        with open(Path(folder) / "config.pickle", "wb") as f:
            pickle.dump(config.replace(db_url=url, index_snapshot_dir=snapshots, index_snapshot_min_edits=0), f)
        cold = _child("serve", {"folder": folder})
        full = _child("serve", {"folder": folder})  # a restart: the snapshot the first start wrote
        with open(Path(folder) / "config.pickle", "wb") as f:
            pickle.dump(config.replace(db_url=f"sqlite:///{Path(folder) / 'empty.sqlite'}"), f)
        empty = _child("serve", {"folder": folder})
    return {
        "size": size,
        "log_built_s": built_s,
        "memory": loaded,
        "serve_cold": cold,
        "serve": full,
        "serve_empty_log": empty,
        "targets": {"memory_rss_bytes": TARGET_RSS_BYTES, "serve_s": TARGET_SERVE_S},
    }


def _ensure_log(url: str, identity: str, cases, real: np.ndarray, size: int, progress) -> float | None:
    """Build the log unless it already holds `size` active edits embedded by `identity`; seconds spent or None."""
    from db import edit_vectors
    from db.edit_vectors import Embeddings
    from db.repository import EditRepository

    repo = EditRepository(url)
    have = repo.count_edits()
    if have == size and len(edit_vectors.kept_ids(repo.engine, identity)) == size:
        repo.engine.dispose()
        return None
    if have:
        raise RuntimeError(f"{url} holds {have} edits, not {size} with vectors by {identity}: delete it and rerun")
    from core.benchmarks.data import noisy_copies

    rng, started = np.random.default_rng(0), time.perf_counter()
    bar = progress(total=size, desc=f"building a {size}-edit log", unit="edit")
    for start in range(0, size, BATCH):
        rows = np.arange(start, min(start + BATCH, size))
        picks = rows % len(real)
        vectors = np.where((rows < len(real))[:, None], real[picks], noisy_copies(real, picks, rng))
        drafts = [_draft(cases[p].edit, r, len(real)) for r, p in zip(rows.tolist(), picks.tolist())]
        by_prompt = {d.prompt: v for d, v in zip(drafts, vectors)}
        repo.add_edits(drafts, "bench", "import", embeddings=Embeddings(identity, by_prompt))
        bar.update(len(rows))
    bar.close()
    repo.engine.dispose()
    return time.perf_counter() - started


def _draft(edit, row: int, n_real: int):
    """The real edit for the first rows, then the same edit numbered (a distinct prompt)."""
    from dataclasses import replace

    return edit if row < n_real else replace(edit, prompt=f"{edit.prompt} (#{row})")


def _child(kind: str, spec: dict) -> dict:
    """Run this module as `kind` in a fresh process; its JSON report (with its own peak RSS) plus wall seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cli.bench_restart", kind, json.dumps(spec)], cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"the {kind} process failed (status {done.returncode}): {last}")
    return {**json.loads(done.stdout.splitlines()[-1]), "wall_s": time.perf_counter() - started}


def _rss(field: str) -> int:
    """VmRSS or VmHWM of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _load(spec: dict) -> dict:
    """Child: the memory loaded from the log without models, then lookups through it."""
    from core.evaluation.metrics import percentile
    from core.memory import FaissEditMemory
    from db.repository import EditRepository
    from services.log_texts import LogTexts
    from services.stored_vectors import StoredVectors

    repo = EditRepository(spec["url"])
    queries = np.load(Path(spec["folder"]) / "queries.npy")
    before = _rss("VmRSS")  # index_bytes() below serialises a copy of the index: the peak is read before it
    started = time.perf_counter()
    memory = FaissEditMemory(spec["dim"], texts=LogTexts(repo))
    stored = StoredVectors(repo, spec["identity"], spec["dim"], _no_model)
    stored.load_into(memory)  # as Services starts: nothing to embed in a log built for this embedder
    load_s = time.perf_counter() - started
    peak = _rss("VmHWM")
    times = []
    for row in queries:
        t0 = time.perf_counter()
        memory.search(row[None, :], 10)
        times.append((time.perf_counter() - t0) * 1e3)
    return {
        "edits": len(memory),
        "index": memory.index_kind,
        "index_bytes": memory.index_bytes(),
        "load_s": load_s,
        "rss_before_bytes": before,
        "rss_peak_bytes": peak,
        "memory_and_index_bytes": peak - before,
        "lookup_p50_ms": percentile(times, 50),
        "lookup_p95_ms": percentile(times, 95),
    }


def _no_model(prompts):
    raise RuntimeError(f"{len(prompts)} edits have no stored embedding: the log was not built for this embedder")


def _serve(spec: dict) -> dict:
    """Child: what `app.py serve` does on start (the audit log verified, models, index from the log), then one
    answer."""
    from cli.serve import start_serving

    with open(Path(spec["folder"]) / "config.pickle", "rb") as f:
        config = pickle.load(f)
    started, timings = time.perf_counter(), {}
    services = start_serving(config, timings)
    ready_s = time.perf_counter() - started
    record = services.ask([QUESTION], "bench")[0]
    return {
        "edits": len(services.editor.memory),
        "index": services.editor.memory.index_kind,
        "index_origin": services.index_origin,
        **timings,
        "ready_s": ready_s,
        "first_answer_s": time.perf_counter() - started,
        "route": "edit" if record.decision.chosen else "base",
        "peak_rss_bytes": _rss("VmHWM"),  # read here: a child's ru_maxrss starts at its forking parent's
    }


if __name__ == "__main__":
    report = {"load": _load, "serve": _serve}[sys.argv[1]](json.loads(sys.argv[2]))
    print(json.dumps(report))
