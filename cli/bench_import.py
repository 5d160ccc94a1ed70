"""The `bench` import phase: N CounterFact-shaped edits through the real `app.py import`, edits/s and peak RSS.

The file is grown from the CounterFact JSON (core/benchmarks/import_file.py: real records, then variants with
swapped subjects, no two with one prompt) into a temp folder, and imported by `app.py import` in a child
process into a fresh SQLite log there, exactly as a curator would run it. Timed: the whole command (start,
reading, validation, the conflict check, the writes), so edits/s is what a curator waits for. Peak RSS is
the import's own: Linux counts a process's RSS before its exec into its peak, so a child forked from the bench
(which holds the models) would report the bench's size; a small launcher (`_LAUNCH`, a fresh Python) forks
the import instead and passes on its ru_maxrss from os.wait4. The log starts empty, so the conflict
check has no active edit to route against and loads no model (cli/edits.py); the edits, their audit rows
and probe prompts are written as always, and the count of edits in the log is checked afterwards.

Invariant: nothing outside the temp folder is read or written but the CounterFact source.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_LAUNCH = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""
TARGET = "100,000 CounterFact-shaped edits through `app.py import` with a progress bar; report edits/s and peak RSS"


def measure_import(source: Path, n: int, seed: int = 0) -> dict:
    """Import `n` grown records from `source` into a fresh temp log with `app.py import`; the figures."""
    from core.benchmarks.import_file import write_import_file
    from db.repository import EditRepository

    with tempfile.TemporaryDirectory(prefix="serac-import-") as folder:
        path = write_import_file(Path(folder) / "counterfact.json", source, n, seed)
        url = f"sqlite:///{Path(folder) / 'import.sqlite'}"
        command = [str(REPO / "app.py"), "--db", url, "--user", "bench", "import", str(path)]
        seconds, status, peak_kb, output = _run_measured(command, Path(folder))
        if status != 0:
            raise RuntimeError(f"`app.py import` exited {status}: {output.strip().splitlines()[-1:]}")
        repository = EditRepository(url)
        imported = repository.count_edits("active")
        repository.engine.dispose()
        return {
            "n": n,
            "imported": imported,
            "file_bytes": path.stat().st_size,
            "seconds": round(seconds, 3),
            "edits_per_s": round(imported / seconds, 1),
            "peak_rss_bytes": peak_kb * 1024,
            "log": "empty SQLite log (the conflict check routes against no active edit: no model loads)",
            "target": TARGET,
        }


def _run_measured(command: list[str], folder: Path) -> tuple[float, int, int, str]:
    """(wall seconds, exit status, the command's own peak RSS in KiB, its output) of `command` (argv after the
    Python executable), run by the launcher."""
    out_path, peak_path = folder / "import.out", folder / "import.peak"
    with out_path.open("w") as out:
        started = time.perf_counter()
        status = subprocess.run(
            [sys.executable, "-c", _LAUNCH, str(peak_path), *command], stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        ).returncode
        seconds = time.perf_counter() - started
    peak = int(peak_path.read_text()) if peak_path.exists() else 0
    return seconds, status, peak, out_path.read_text(errors="replace")


def describe(result: dict) -> list[str]:
    """The phase's lines for the bench table, with the issue's target beside the figures."""
    return [
        f"bulk import ({result['n']:,} CounterFact-shaped records, `app.py import` into an empty SQLite log): "
        f"{result['edits_per_s']:,.0f} edits/s ({result['imported']:,} edits in {result['seconds']:.1f} s), "
        f"peak RSS {result['peak_rss_bytes'] / 2**20:,.0f} MiB",
        f"  target: {result['target']}",
    ]
