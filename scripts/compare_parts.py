"""Compare a fresh training run's measurements with the shipped parts' manifest, side by side.

Usage: .venv/bin/python scripts/compare_parts.py [FRESH_MANIFEST] [SHIPPED_MANIFEST] [--json OUT] [--tolerance 0.02]
Defaults: checkpoints/export/manifest.json (written by `make train`) against models/manifest.json.
Prints one row per figure (shipped, fresh, difference), flags differences beyond the tolerance, and
exits 1 when any headline figure of the fresh run is worse than the shipped one by more than it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HEADLINE = ("reliability", "generalization", "locality", "routing.in_scope_recall", "routing.out_of_scope_rejection")
TRAINING = {
    "scope": ("threshold", "heldout.in_scope_recall", "heldout.out_of_scope_rejection", "heldout.reliability_recall"),
    "counterfactual": ("heldout_after.reliability", "heldout_after.generalization"),
}


def dig(tree: dict, dotted: str):
    for key in dotted.split("."):
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def rows(fresh: dict, shipped: dict) -> list[tuple[str, float | None, float | None, bool]]:
    """(figure, shipped, fresh, headline) for the training held-out figures and every eval in either manifest."""
    out = []
    for part, keys in TRAINING.items():
        for key in keys:
            path = f"training.{part}.metrics.{key}"
            out.append((f"{part}: {key}", dig(shipped, path), dig(fresh, path), False))
    for name in sorted(set(shipped.get("metrics", {})) | set(fresh.get("metrics", {}))):
        for key in HEADLINE:
            path = f"metrics.{name}.{key}"
            out.append((f"{name}: {key}", dig(shipped, path), dig(fresh, path), True))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("fresh", nargs="?", default="checkpoints/export/manifest.json")
    p.add_argument("shipped", nargs="?", default="models/manifest.json")
    p.add_argument("--json", dest="json_out", default="artifacts/compare_parts.json")
    p.add_argument("--tolerance", type=float, default=0.02, help="allowed drop of a headline figure")
    args = p.parse_args(argv)
    fresh, shipped = (json.loads(Path(f).read_text()) for f in (args.fresh, args.shipped))
    table, worse = rows(fresh, shipped), []
    print(f"{'figure':<52} {'shipped':>8} {'fresh':>8} {'diff':>7}")
    for name, old, new, headline in table:
        diff = new - old if isinstance(old, (int, float)) and isinstance(new, (int, float)) else None
        flag = " <- worse" if headline and diff is not None and diff < -args.tolerance else ""
        worse += [name] if flag else []
        print(f"{name:<52} {_fmt(old):>8} {_fmt(new):>8} {_fmt(diff):>7}{flag}")
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(
        json.dumps(
            {
                "fresh": args.fresh,
                "shipped": args.shipped,
                "worse": worse,
                "rows": [dict(zip(("figure", "shipped", "fresh", "headline"), r)) for r in table],
            },
            indent=2,
        )
    )
    print(f"{len(worse)} headline figures worse by more than {args.tolerance}; wrote {args.json_out}", file=sys.stderr)
    return 1 if worse else 0


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    sys.exit(main())
