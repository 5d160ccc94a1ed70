"""Write a CounterFact-shaped import file of N records (real records, then variants with swapped subjects:
core/benchmarks/import_file.py), for trying `app.py import` at scale. Never commit its output.

    .venv/bin/python scripts/make_import_file.py 100000 /tmp/cf-100k.json
    .venv/bin/python app.py --db sqlite:////tmp/import.sqlite import /tmp/cf-100k.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.benchmarks.import_file import write_import_file  # noqa: E402

DEFAULT_SOURCE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "counterfact" / "train.json"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int, help="records to write")
    p.add_argument("out", type=Path, help="the JSON file to write (a temp folder, not the repository)")
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="CounterFact JSON to grow from")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.n < 1:
        p.error("n must be positive")
    print(write_import_file(args.out, args.source, args.n, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
