"""core.products: a single row's float32 product through numpy's OpenBLAS equals torch's to float precision and
reads the same weights; several rows and int8 are unchanged; `torch_threads` changes only the calling thread's."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F

from core.products import ALIGN, ALIGN_FROM, Linear, aligned_rows, fused, torch_threads


@pytest.fixture
def weight() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(300, 96)


def test_one_row_through_openblas_equals_torch_on_the_same_weights(weight):
    linear = Linear(weight, "float32", "openblas")
    assert linear.row_backend == "openblas"
    assert linear.array.ctypes.data == linear.weight.data_ptr() == weight.data_ptr()  # a view: no second copy
    x = torch.randn(1, 96)
    y = linear(x)
    assert y.shape == (1, 300) and y.dtype == torch.float32
    assert torch.allclose(y, F.linear(x, weight), atol=1e-5)
    strided = torch.randn(1, 192)[:, ::2]  # a view with strides, as a split of a fused output is
    assert torch.allclose(linear(strided), F.linear(strided.contiguous(), weight), atol=1e-5)


def test_several_rows_and_other_backends_go_through_torch(weight):
    x = torch.randn(5, 96)
    for backend in ("openblas", "torch"):
        assert torch.allclose(Linear(weight, "float32", backend)(x), F.linear(x, weight), atol=1e-5)
    plain = Linear(weight, "float32", "torch")
    assert plain.row_backend == "torch" and plain.array is None
    int8 = Linear(weight, "int8", "openblas")
    assert int8.row_backend == "torch"  # int8 products are fbgemm's whatever is asked
    scale = float(F.linear(x[:1], weight).abs().max())
    assert float((int8(x[:1]) - F.linear(x[:1], weight)).abs().max()) < 0.05 * scale


def test_several_row_products_run_on_aligned_rows_and_give_each_row_its_own_sums(weight):
    assert [aligned_rows(n) for n in (1, 2, ALIGN_FROM - 1)] == [1, 2, ALIGN_FROM - 1]  # below: as they are
    assert [aligned_rows(n) for n in (7, 8, 9, 15, 16, 17, 43)] == [8, 8, 16, 16, 16, 24, 48]
    assert all(aligned_rows(n) % ALIGN == 0 and 0 <= aligned_rows(n) - n < ALIGN for n in range(ALIGN_FROM, 100))
    linear = Linear(weight, "float32", "torch")
    for rows in (7, 9, 13):
        x = torch.randn(rows, 96)
        y = linear(x)
        assert y.shape == (rows, 300) and y.is_contiguous()  # the padding rows are gone
        assert torch.allclose(y, F.linear(x, weight), atol=1e-5)
        # a row's sums do not depend on the zero rows beside it, to float precision
        assert torch.allclose(linear(x[:ALIGN_FROM])[:1], y[:1], atol=1e-5)


def test_fused_projections_keep_one_copy_of_their_weights():
    modules = [torch.nn.Linear(16, n, bias=False) for n in (8, 4)]
    out = fused(modules, "float32", "openblas")
    assert out.weight.shape == (12, 16)
    assert modules[1].weight.data_ptr() == out.weight[8:].data_ptr() and out.array.ctypes.data == out.weight.data_ptr()


def test_torch_threads_change_only_the_calling_thread_and_come_back():
    before = torch.get_num_threads()
    seen: dict[str, int] = {}

    def work() -> None:
        outer = torch.get_num_threads()
        with torch_threads(1):
            seen["inside"] = torch.get_num_threads()
        seen["after"], seen["outer"] = torch.get_num_threads(), outer

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert seen["inside"] == 1 and seen["after"] == seen["outer"]
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
