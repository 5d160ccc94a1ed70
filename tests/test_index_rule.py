"""core.index_rule: the size rule, its hysteresis and retraining, and what every index it makes can do.

Every kind the rule builds must take chunked adds after `empty`, search, remove ids and give back
the vectors it holds (`reconstruct`), because the memory keeps no other copy of them."""

import numpy as np
import pytest

from core.index_rule import (
    APPROX_KIND,
    FLAT,
    FLAT_LIMIT,
    SCAN_MAX,
    build,
    decode_bound,
    empty,
    ivf_plan,
    next_plan,
    plan_for,
    reconstruct,
    sample_rows,
    sample_size,
)


def _clustered(n, dim=16, seed=0, clusters=12):
    """Unit vectors around a few random centres: the shape sentence embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    v = centres[rng.integers(0, clusters, n)] + rng.normal(scale=0.4, size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_flat_up_to_the_limit_the_compressed_ivf_above_with_parameters_growing_with_size():
    assert plan_for(1) == FLAT and plan_for(FLAT_LIMIT) == FLAT
    small, big = plan_for(FLAT_LIMIT + 1), plan_for(1_000_000)
    assert small.kind == big.kind == APPROX_KIND == "ivf-fp16"
    assert small.nlist < big.nlist == 1000 and small.nprobe < big.nprobe == 56  # 4 * sqrt(1000) = 127, capped:
    assert big.nprobe * 1_000_000 // big.nlist <= SCAN_MAX < (big.nprobe + 1) * 1_000_000 // big.nlist  # 56k scanned
    assert plan_for(100_000).nprobe == 72  # ceil(4 * sqrt(316)): 22.8k vectors, under the scan cap
    assert plan_for(2_000_000).nprobe == 39  # bigger cells: fewer of them fit the cap (recall not measured there)
    assert 0.3 > small.nprobe / small.nlist > big.nprobe / big.nlist > 0.05  # the scanned share falls with n
    assert big.describe() == "ivf-fp16 nlist=1000 nprobe=56" and FLAT.describe() == "flat"
    assert sample_size(FLAT) == 0 and sample_size(big) == 1000 * 39


def test_tiny_memories_stay_flat_even_when_the_limit_is_zero():
    assert plan_for(38, flat_limit=0) == FLAT
    plan = plan_for(39, flat_limit=0)
    assert plan.kind == APPROX_KIND and plan.nlist == 1 and plan.nprobe == 1
    assert next_plan(plan, 10, flat_limit=0) == FLAT


def test_hysteresis_and_retraining():
    ivf = next_plan(FLAT, 1001, flat_limit=1000)
    assert ivf.kind == APPROX_KIND and ivf.trained_at == 1001
    assert next_plan(ivf, 1000, flat_limit=1000) is ivf  # back at the limit: keep IVF
    assert next_plan(ivf, 750, flat_limit=1000) is ivf
    assert next_plan(ivf, 749, flat_limit=1000) == FLAT
    assert next_plan(ivf, 2002, flat_limit=1000) is ivf
    grown = next_plan(ivf, 2003, flat_limit=1000)
    assert grown.trained_at == 2003 and grown.nlist > ivf.nlist
    assert next_plan(grown, 1001, flat_limit=1000).trained_at == 1001  # shrunk by half: retrained
    assert next_plan(FLAT, 999, flat_limit=1000) is FLAT


def test_sample_rows_are_evenly_spread_and_as_many_as_wanted():
    plan = ivf_plan(10_000)
    rows = sample_rows(10_000, plan)
    assert len(rows) == sample_size(plan) == plan.nlist * 39 and rows[0] == 0 and rows[-1] == 9_999
    assert np.all(np.diff(rows) >= 2)  # every other row or sparser: spread over the whole log
    assert len(sample_rows(10, FLAT)) == 0


@pytest.mark.parametrize("n,flat_limit", [(0, 10), (50, 10), (500, 10), (500, 10**6)])
def test_built_index_holds_the_given_ids(n, flat_limit):
    vectors = _clustered(n, 8, seed=n)
    ids = np.arange(100, 100 + n, dtype=np.int64)
    index = build(plan_for(n, flat_limit), 8, vectors, ids)
    assert index.ntotal == n
    if n:
        _, found = index.search(vectors, 1)
        assert (found[:, 0] == ids).mean() > 0.95


@pytest.mark.parametrize("flat_limit", [10**6, 100])  # flat, then the compressed kind
def test_each_kind_takes_chunked_adds_searches_removes_and_gives_its_vectors_back(flat_limit):
    n, dim = 3000, 16
    vectors, ids = _clustered(n, dim, seed=1), np.arange(1, n + 1, dtype=np.int64) * 7
    plan = plan_for(n, flat_limit)
    index = empty(plan, dim, vectors[sample_rows(n, plan)])
    assert index.ntotal == 0
    for start in range(0, n, 512):
        index.add_with_ids(vectors[start : start + 512], ids[start : start + 512])
    assert index.ntotal == n
    _, top = index.search(vectors[:200], 1)
    assert (top[:, 0] == ids[:200]).mean() >= 0.98  # each vector finds itself

    back = reconstruct(index, ids[[0, 5, n - 1]])
    bound = decode_bound(index)
    assert back.shape == (3, dim) and back.dtype == np.float32
    assert np.abs(back - vectors[[0, 5, n - 1]]).max() <= bound
    assert (bound == 0.0) == (plan.kind == "flat") and bound < 0.01
    everything = reconstruct(index, ids)
    assert np.abs(everything - vectors).max() <= bound
    cosine = np.sum(everything * vectors, axis=1) / np.linalg.norm(everything, axis=1)
    assert cosine.min() > 0.999  # the decoded vector points where the added one did

    assert index.remove_ids(ids[:100]) == 100 and index.ntotal == n - 100
    _, top = index.search(vectors[:100], 10)
    assert not set(top.ravel().tolist()) & set(ids[:100].tolist())  # removed ids are never found
    with pytest.raises(KeyError):
        reconstruct(index, ids[:1])
    np.testing.assert_array_equal(reconstruct(index, ids[100:110]), everything[100:110])


@pytest.mark.parametrize("kind", ["ivf-sq8", "ivf-fp16", "ivf-flat"])
def test_build_and_empty_then_chunked_adds_give_the_same_answers(kind):
    n, dim = 4000, 16
    vectors, ids = _clustered(n, dim, seed=2), np.arange(n, dtype=np.int64) + 1
    plan = ivf_plan(n, kind)
    whole = build(plan, dim, vectors, ids)
    streamed = empty(plan, dim, vectors[sample_rows(n, plan)])
    for start in range(0, n, 1000):
        streamed.add_with_ids(vectors[start : start + 1000], ids[start : start + 1000])
    queries = _clustered(50, dim, seed=3)
    d1, i1 = whole.search(queries, 10)
    d2, i2 = streamed.search(queries, 10)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)


def test_reconstructed_vectors_rebuild_the_same_kind_of_memory():
    """A re-plan (flat -> IVF, IVF retrain, IVF -> flat) from what the index holds keeps every id,
    and for float16 codes loses nothing past the first encoding."""
    n, dim = 2000, 16
    vectors, ids = _clustered(n, dim, seed=4), np.arange(n, dtype=np.int64) * 3 + 1
    flat = build(FLAT, dim, vectors, ids)
    ivf = build(ivf_plan(n), dim, reconstruct(flat, ids), ids)
    decoded = reconstruct(ivf, ids)
    assert np.abs(decoded - vectors).max() <= decode_bound(ivf) == 2.0**-12
    again = build(ivf_plan(n * 2), dim, decoded, ids)  # retrained: other cells, same codes
    assert again.nlist != ivf.nlist
    np.testing.assert_array_equal(reconstruct(again, ids), decoded)
    back = build(FLAT, dim, reconstruct(again, ids), ids)
    np.testing.assert_array_equal(reconstruct(back, ids), decoded)
    _, top = back.search(vectors, 1)
    assert (top[:, 0] == ids).mean() > 0.99
