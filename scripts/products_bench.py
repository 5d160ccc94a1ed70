"""The static decoder's products alone, through torch (MKL) and through numpy's OpenBLAS (core.products), on the
packaged SmolLM2's own weights: every layer's four fused products and the output head for 1, 2, 4 and 8 rows,
median of --repeats passes over all of them (the weights stream from memory each pass: 538 MB, past any cache).

torch: core.products.Linear with the torch backend (F.linear for one row, W x^T for several); OpenBLAS: x W^T
through numpy.
The decoder takes OpenBLAS for one row only; this prints why (ms per pass, and GB/s of weights read).
Prints a table and writes JSON.

Usage: .venv/bin/python scripts/products_bench.py [--rows 1,2,4,8] [--repeats 7] [--json artifacts/products_bench.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import SeracConfig  # noqa: E402
from core.lm import load_lm  # noqa: E402
from core.packaged import resolve_model_path  # noqa: E402
from core.products import Linear  # noqa: E402


def _products(weights: list[torch.Tensor], backend: str) -> list:
    """One product per weight, built once: the decoder's own torch Linear, or x W^T through numpy on the same
    memory."""
    if backend == "torch":
        return [Linear(w, "float32", "torch") for w in weights]
    return [_openblas(w.numpy()) for w in weights]


def _openblas(array: np.ndarray):
    return lambda x: torch.from_numpy(np.matmul(x.numpy(), array.T))


def _median_ms(run, repeats: int) -> float:
    run()  # untimed: first touch
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def measure(weights: list[torch.Tensor], head: torch.Tensor, rows: int, repeats: int) -> dict:
    inputs = {w.shape[1]: torch.randn(rows, w.shape[1]) for w in weights + [head]}
    out: dict = {"rows": rows}
    for name in ("torch", "openblas"):
        layers, (top,) = _products(weights, name), _products([head], name)
        pairs = [(p, inputs[w.shape[1]]) for p, w in zip(layers, weights)]
        out[name] = {
            "layers_ms": _median_ms(lambda pairs=pairs: [p(x) for p, x in pairs], repeats),
            "head_ms": _median_ms(lambda p=top: p(inputs[head.shape[1]]), repeats),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,2,4,8")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default="artifacts/products_bench.json")
    args = parser.parse_args()
    config = SeracConfig()
    lm = load_lm(resolve_model_path(config.base_model, config.cache_dir), "cpu", torch.float32)
    lm.use_decode("static")
    decoder = lm.decoder()
    weights = [p.weight for layer in decoder.layers for p in (layer.qkv, layer.o, layer.gate_up, layer.down)]
    layer_bytes = sum(w.numel() * 4 for w in weights)
    head_bytes = decoder.head.weight.numel() * 4
    results = [measure(weights, decoder.head.weight, int(r), args.repeats) for r in args.rows.split(",")]
    print(
        f"products of {lm.path} ({layer_bytes / 1e6:.0f} MB of layers, {head_bytes / 1e6:.0f} MB of head), "
        f"torch threads {torch.get_num_threads()}, median of {args.repeats}; ms (GB/s of weights read)"
    )
    print("rows  torch layers      head        openblas layers    head        faster")
    for r in results:
        t, o = r["torch"], r["openblas"]
        total_t, total_o = t["layers_ms"] + t["head_ms"], o["layers_ms"] + o["head_ms"]
        r["faster"] = "openblas" if total_o < total_t else "torch"
        print(
            f"{r['rows']:4d}  {t['layers_ms']:6.1f} ({layer_bytes / t['layers_ms'] / 1e6:4.1f})  "
            f"{t['head_ms']:5.1f} ({head_bytes / t['head_ms'] / 1e6:4.1f})  "
            f"{o['layers_ms']:6.1f} ({layer_bytes / o['layers_ms'] / 1e6:4.1f})  "
            f"{o['head_ms']:5.1f} ({head_bytes / o['head_ms'] / 1e6:4.1f})  {r['faster']} {total_t / total_o:.2f}x"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps({"model": lm.path, "threads": torch.get_num_threads(), "rows": results}, indent=2)
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
