"""Vectors for the lookup benchmark: real MiniLM embeddings of CounterFact, cached; synthetic beyond them.

- `cached_embeddings` embeds the first n texts once and keeps them in `cache_dir` as .npy beside a
  fingerprint of the texts; a later call for at most as many rows slices the file, a larger one
  embeds only the missing rows and appends them.
- `grow` makes a realistic larger memory from the real vectors: every synthetic row is a real row
  plus gaussian noise (sigma per vector norm, default 0.5) renormalised, so the clusters and the
  spread of real prompts stay; the real rows come first, unchanged.
- `noisy_copies` makes query vectors near chosen memory rows the same way (for synthetic sizes).

Invariant: every row returned is float32 with unit L2 norm (inner product = cosine).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.progress import NoProgress, ProgressFactory

Encode = Callable[[Sequence[str]], np.ndarray]
NOISE_SIGMA = 0.5  # norm of the noise added to a unit vector when growing the memory synthetically
CHUNK = 256  # texts embedded per call, so a progress bar can move


def cached_embeddings(
    texts: Sequence[str], encode: Encode, cache_dir: Path, name: str, progress: ProgressFactory = NoProgress
) -> np.ndarray:
    """(len(texts), dim) unit vectors of `texts`, reusing and extending `cache_dir/name.npy`."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path, meta_path = cache_dir / f"{name}.npy", cache_dir / f"{name}.json"
    have = _load_valid(path, meta_path, texts)
    if have is not None and len(have) >= len(texts):
        return have[: len(texts)]
    done = 0 if have is None else len(have)
    parts = [] if have is None else [have]
    bar = progress(total=len(texts), desc=f"embedding {name}", initial=done)
    for start in range(done, len(texts), CHUNK):
        parts.append(np.asarray(encode(texts[start : start + CHUNK]), dtype=np.float32))
        bar.update(len(parts[-1]))
    bar.close()
    vectors = np.ascontiguousarray(np.concatenate(parts))
    np.save(path, vectors)
    meta_path.write_text(json.dumps({"rows": [_digest(t) for t in texts[: len(vectors)]]}))
    return vectors


def grow(real: np.ndarray, size: int, rng: np.random.Generator, sigma: float = NOISE_SIGMA) -> np.ndarray:
    """`size` unit rows: the real rows first, then noisy copies of randomly chosen real rows."""
    if size <= len(real):
        return np.ascontiguousarray(real[:size])
    out = np.empty((size, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    step = 100_000  # bounded scratch memory at 1M rows
    for start in range(len(real), size, step):
        stop = min(start + step, size)
        out[start:stop] = noisy_copies(real, rng.integers(0, len(real), stop - start), rng, sigma)
    return out


def noisy_copies(
    vectors: np.ndarray, rows: np.ndarray, rng: np.random.Generator, sigma: float = NOISE_SIGMA
) -> np.ndarray:
    """Unit vectors near vectors[rows]: gaussian noise of expected norm `sigma`, renormalised."""
    base = vectors[rows]
    noise = rng.standard_normal(base.shape, dtype=np.float32) * (sigma / np.sqrt(base.shape[1]))
    out = base + noise
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def _load_valid(path: Path, meta_path: Path, texts: Sequence[str]) -> np.ndarray | None:
    """The cached rows that embed a prefix of `texts` (matched text by text), else None."""
    try:
        cached = json.loads(meta_path.read_text())["rows"]
        vectors = np.load(path)
    except (OSError, ValueError, KeyError):
        return None
    same = 0
    for digest, text in zip(cached, texts):
        if digest != _digest(text):
            break
        same += 1
    return vectors[:same] if same and len(vectors) >= same else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


GROW_BLOCK = 8192  # rows generated together: each block has its own seed, so any rows can be regenerated


class GrownVectors:
    """`grow`'s kind of memory, made block by block so that 1M rows never need to be held at once.

    Row i is real[i] below len(real), else a noisy copy of a real row; block b of GROW_BLOCK rows is
    drawn from its own generator seeded (seed, b), so `rows` and `chunks` return the same values."""

    def __init__(self, real: np.ndarray, size: int, seed: int, sigma: float = NOISE_SIGMA):
        self.real, self.size, self.seed, self.sigma = real, size, seed, sigma
        self.dim = real.shape[1]

    def block(self, b: int) -> np.ndarray:
        start, stop = b * GROW_BLOCK, min((b + 1) * GROW_BLOCK, self.size)
        out = np.empty((stop - start, self.dim), np.float32)
        n_real = max(0, min(stop, len(self.real)) - start)
        out[:n_real] = self.real[start : start + n_real]
        if n_real < len(out):
            rng = np.random.default_rng([self.seed, b])
            out[n_real:] = noisy_copies(self.real, rng.integers(0, len(self.real), len(out) - n_real), rng, self.sigma)
        return out

    def chunks(self, rows: int):
        """(start, vectors) pairs covering all rows in order, about `rows` rows each."""
        per = max(1, rows // GROW_BLOCK)
        blocks = -(-self.size // GROW_BLOCK)
        for b in range(0, blocks, per):
            yield b * GROW_BLOCK, np.concatenate([self.block(i) for i in range(b, min(b + per, blocks))])

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The rows at `positions` (sorted), regenerating only the blocks they fall in."""
        out = np.empty((len(positions), self.dim), np.float32)
        blocks = positions // GROW_BLOCK
        for b in np.unique(blocks):
            picked = blocks == b
            out[picked] = self.block(int(b))[positions[picked] - b * GROW_BLOCK]
        return out
