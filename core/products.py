"""y = x W^T for the static decoder's projections and output head (core.decode): how each product runs.

float32, one row (a decode step of a single query) is a matrix-vector product. torch's MKL runs it on one thread
on this AMD CPU (12-13 GB/s: the 49,152 x 576 output head takes 9.3 ms with 1 or 2 threads), while numpy's bundled
OpenBLAS splits it across the cores (4.7 ms; the 30 layers' products 36 -> 21 ms). So `row_backend` "openblas"
computes one-row products through numpy on a zero-copy view of the same weights, and "torch" keeps F.linear.
Several rows always go through torch as W x^T: MKL's products were faster at 2 to 4 rows, and at 8 rows
OpenBLAS's products alone were 1.2x faster but a whole step was not (scripts/products_bench.py prints both).
int8: each projection and the output head as int8 with one scale per output row (fbgemm dynamic quantisation).

Invariants: both float32 backends read the same weights (no second copy) and give the same sums to float
precision (in another order, as F.linear's own one-row and several-row sums do). OpenBLAS's worker threads and
torch's OpenMP threads must not busy-wait against each other on the same cores: a step whose products go through
OpenBLAS runs torch's own operations on one thread (`torch_threads`, which changes only the calling thread's
OpenMP and MKL threads), and app.py sets OpenBLAS's spinning after a product to about 0.4 ms
(OPENBLAS_THREAD_TIMEOUT=20) so that its threads do not spin into the next request's prompt pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

WEIGHTS = ("float32", "int8")
ROW_BACKENDS = ("openblas", "torch")
ALIGN, ALIGN_FROM = 8, 7  # several-row products run on a multiple of ALIGN rows from ALIGN_FROM rows up


class Linear:
    """y = x W^T, with W kept as float32 or as a packed int8 fbgemm weight (one scale per output row)."""

    def __init__(self, weight: torch.Tensor, kind: str, row_backend: str = "openblas"):
        self.kind, self.out_features = kind, weight.shape[0]
        self.row_backend = row_backend if kind == "float32" and weight.device.type == "cpu" else "torch"
        if kind == "float32":
            self.weight = weight.detach().contiguous()
            self.array = self.weight.numpy() if self.row_backend == "openblas" else None  # a view: no copy
            return
        w = weight.detach().float().contiguous()
        scales = (w.abs().amax(1) / 127.0).clamp(min=1e-8).double()
        with warnings.catch_warnings():  # qint8 tensors are deprecated in favour of torchao, which is not installed
            warnings.simplefilter("ignore")
            q = torch.quantize_per_channel(w, scales, torch.zeros_like(scales, dtype=torch.long), 0, torch.qint8)
            self.weight = torch.ops.quantized.linear_prepack(q, None)
        self.nbytes = w.numel() + 8 * w.shape[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind != "float32":
            return torch.ops.quantized.linear_dynamic(x, self.weight, True)
        if x.shape[0] == 1:
            if self.array is not None:
                return torch.from_numpy(np.matmul(x.numpy(), self.array.T))
            return F.linear(x, self.weight)
        # several rows: W x^T, a tall product, which MKL runs about 1.4x faster than x W^T at 8 rows on one
        # thread here; each row's sums differ from F.linear's at float precision (as F.linear's own M=8 sums
        # differ from its M=1 sums), so a batch's greedy answers are checked against the single rows' in tests
        rows = x.shape[0]
        wide = aligned_rows(rows)
        if wide != rows:  # zero rows, dropped after the product; the real rows' sums as before, to float precision
            x = torch.cat([x, x.new_zeros(wide - rows, x.shape[1])])
        return torch.mm(self.weight, x.t())[:, :rows].t().contiguous()

    def bytes(self) -> int:
        return self.weight.numel() * self.weight.element_size() if self.kind == "float32" else self.nbytes


def aligned_rows(rows: int) -> int:
    """How many rows a several-row float32 product runs with: from ALIGN_FROM rows up, the next multiple of ALIGN.
    MKL's W x^T with a column count off a multiple of 8 takes a slower path here: the 30 layers' products took
    45 ms at 9 to 16 rows padded to 16, but 54 ms at 10, 71 at 13 and 85 at 15 rows as they were; 61 ms at 17 to 24
    padded to 24, against up to 89 as they were; 7 -> 8 rows 34.5 against 36.9 ms; below 7 padding costs
    (2 rows: 15 ms as they are, 35 padded). Medians of 9 runs each, padded and unpadded runs interleaved, on
    the decoder's 30 x 4 weight shapes, this 2-core CPU."""
    return rows if rows < ALIGN_FROM or rows % ALIGN == 0 else rows + ALIGN - rows % ALIGN


def fused(modules: list[torch.nn.Linear], kind: str, row_backend: str) -> Linear:
    """One Linear for several projections of the same input, their output rows stacked. In float32 each
    module's weight then becomes a view of the stacked matrix, so the weights are held once, not twice."""
    out = Linear(torch.cat([m.weight.detach() for m in modules]), kind, row_backend)
    if kind == "float32":
        start = 0
        for m in modules:
            rows = m.weight.shape[0]
            m.weight = torch.nn.Parameter(out.weight[start : start + rows], requires_grad=m.weight.requires_grad)
            start += rows
    return out


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op threads in the calling thread for the duration (None: as they are)."""
    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
