"""ONNX Runtime copies of the routing encoders (the embedder and the cross-encoder), for fast CPU queries.

A loaded torch encoder is exported once to ONNX into `<cache_dir>/onnx/<kind>-<digest>.onnx`, where the
digest is a sha256 over the encoder's weights (names, shapes and bytes) and the export settings: the same
weights always reuse one file, changed weights never do. Nothing is fetched from the network, and the
model folders the weights came from are only read.

Invariants:
- an exported file is complete or absent: the export writes a temporary file and renames it into place;
- the copy computes what the torch encoder computes, in float32 (no quantisation, see below), so outputs
  agree within float rounding (about 1e-5 on scores);
- a session's intra-op threads never spin, so idle waits leave the shared CPU to the other work of the
  process (generation) and of the machine.

Where a query's time goes (measured, MiniLM-L6 on this 2-core AMD EPYC, AVX2, no AVX-512): the encoders are
bound by their matrix products. One layer holds 4 x 384 x 384 + 2 x 384 x 1536 = 1.77M weights, six layers
10.6M, so a token costs 21 MFLOP: a 25-token (edit, query) pair 0.53 GFLOP, a 14-token query embedding 0.3.
A single core multiplies (25 x 384) by (384 x 1536) at 38-54 GFLOP/s (numpy and torch alike), so a pair
costs 10-14 ms of one core and the embedding 6-8 ms; ONNX Runtime's profile of one pair put 13.9 of 18.3 ms
of kernel time in MatMul (42 of them), the rest in 24 kinds of small ops. The cost per pair is the model's,
not overhead: it falls only with fewer pairs (core.router's cut-offs), fewer FLOPs, or more cores.
- int8 (onnxruntime.quantization.quantize_dynamic, 10,665 top-5 dev pairs of the curator set, zsRE and
  CounterFact val, also at 10,000 edits; decisions at the shipped threshold 0.04): every MatMul per-channel
  with 7-bit weights flipped 17 of 2,133 decisions (score moved up to 0.97), only the feed-forward MatMuls
  10, per-channel 8-bit 17. The shipped threshold lies where many out-of-scope pairs score (0.02-0.04), so
  int8's error crosses it: not used.
- threads: a query's rows run on SMALL_THREADS (1) intra-op thread. A second thread pays only on a box with
  a core to spare: interleaved in one loop at load 3.5, p50 wall of 1 vs 2 threads was 17.4 vs 15.9 ms for a
  14-token embedding, 25.0 vs 22.9 for one pair, 51.6 vs 37.8 for three (spinning threads: 47.6); but whole
  routings at 10,000 edits (40 queries, the three paths interleaved, load 6.5) took p50 80.8 ms as before,
  84.8 with 2 threads, 78.3 with 1 thread and core.token_arrays (load 7.4: 85.3 before, 89.5 with 2). This box is shared
  and busy, so one thread.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

EXPORT_VERSION = "1"  # part of the digest: bump when the export settings below change
OPSET = 17


def available() -> bool:
    """Whether onnxruntime (and the ONNX exporter's needs) can be imported here."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def weights_digest(module: torch.nn.Module, extra: str = "") -> str:
    """sha256 (hex, 16 chars) of the module's state (names, dtypes, shapes, bytes) and `extra`."""
    h = hashlib.sha256(f"{EXPORT_VERSION}|{extra}".encode())
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


class _Outputs(torch.nn.Module):
    """Calls a Hugging Face encoder with named inputs and returns one named output tensor."""

    def __init__(self, model: torch.nn.Module, names: Sequence[str], output: str):
        super().__init__()
        self.model, self.names, self.output = model, tuple(names), output

    def forward(self, *tensors):
        return getattr(self.model(**dict(zip(self.names, tensors))), self.output)


def exported(model: torch.nn.Module, names: Sequence[str], output: str, cache_dir: Path, kind: str) -> Path:
    """The ONNX file of `model` (inputs `names`, each (batch, tokens) int64; output `output`), exported on
    first use into `cache_dir/onnx`."""
    folder = Path(cache_dir) / "onnx"
    target = folder / f"{kind}-{weights_digest(model, f'{kind}|{output}|{names}')}.onnx"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    example = tuple(torch.ones((1, 8), dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {output: {0: "batch"}}
    fd, tmp = tempfile.mkstemp(prefix=f".{kind}-", suffix=".onnx", dir=folder)
    os.close(fd)
    was_training = model.training  # export restores the wrapper's mode onto the model: keep the model's own
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Outputs(model, names, output).eval(),
                example,
                tmp,
                input_names=list(names),
                output_names=[output],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        model.train(was_training)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


SMALL_THREADS = 1  # intra-op threads for a query's few rows (see above), never more than torch's count


class OnnxEncoder:
    """ONNX Runtime sessions over an exported encoder: numpy token arrays in, one float32 array out.

    A batch of at most `few` rows (a query's) runs on SMALL_THREADS threads; bigger batches on the process's
    torch thread count, in a second session made on first need where that count differs."""

    def __init__(self, path: Path, names: Sequence[str], few: int):
        self.path, self.names, self.few = path, tuple(names), few
        self.small_threads = max(1, min(SMALL_THREADS, torch.get_num_threads()))
        self._small = _session(path, self.small_threads)
        self._bulk = None

    @classmethod
    def of(cls, model: torch.nn.Module, names: Sequence[str], output: str, cache_dir: Path, kind: str, few: int):
        return cls(exported(model, names, output, cache_dir, kind), names, few)

    def __call__(self, encoded) -> np.ndarray:
        """Run on a tokenizer's output (numpy or torch arrays by name)."""
        feed = {n: np.asarray(encoded[n], dtype=np.int64) for n in self.names}
        rows = len(feed[self.names[0]])
        if rows <= self.few:
            return self._small.run(None, feed)[0]
        if self._bulk is None:
            threads = max(torch.get_num_threads(), 1)
            self._bulk = self._small if threads == self.small_threads else _session(self.path, threads)
        return self._bulk.run(None, feed)[0]


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
