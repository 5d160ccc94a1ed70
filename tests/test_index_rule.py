"""core.index_rule: the size rule, its hysteresis and retraining, and that built indexes hold what they were given."""

import numpy as np
import pytest

from core.index_rule import FLAT, FLAT_LIMIT, build, next_plan, plan_for


def test_flat_up_to_the_limit_ivf_above_with_parameters_growing_with_size():
    assert plan_for(1) == FLAT and plan_for(FLAT_LIMIT) == FLAT
    small, big = plan_for(FLAT_LIMIT + 1), plan_for(1_000_000)
    assert small.kind == big.kind == "ivf-flat"
    assert small.nlist < big.nlist == 1000 and small.nprobe < big.nprobe == 111  # ceil(3.5 * sqrt(1000))
    assert 0.3 > small.nprobe / small.nlist > big.nprobe / big.nlist > 0.1  # the scanned share falls with n
    assert big.describe() == "ivf-flat nlist=1000 nprobe=111" and FLAT.describe() == "flat"


def test_tiny_memories_stay_flat_even_when_the_limit_is_zero():
    assert plan_for(38, flat_limit=0) == FLAT
    plan = plan_for(39, flat_limit=0)
    assert plan.kind == "ivf-flat" and plan.nlist == 1 and plan.nprobe == 1
    assert next_plan(plan, 10, flat_limit=0) == FLAT


def test_hysteresis_and_retraining():
    ivf = next_plan(FLAT, 1001, flat_limit=1000)
    assert ivf.kind == "ivf-flat" and ivf.trained_at == 1001
    assert next_plan(ivf, 1000, flat_limit=1000) is ivf  # back at the limit: keep IVF
    assert next_plan(ivf, 750, flat_limit=1000) is ivf
    assert next_plan(ivf, 749, flat_limit=1000) == FLAT
    assert next_plan(ivf, 2002, flat_limit=1000) is ivf
    grown = next_plan(ivf, 2003, flat_limit=1000)
    assert grown.trained_at == 2003 and grown.nlist > ivf.nlist
    assert next_plan(grown, 1001, flat_limit=1000).trained_at == 1001  # shrunk by half: retrained
    assert next_plan(FLAT, 999, flat_limit=1000) is FLAT


@pytest.mark.parametrize("n,flat_limit", [(0, 10), (50, 10), (500, 10), (500, 10**6)])
def test_built_index_holds_the_given_ids(n, flat_limit):
    rng = np.random.default_rng(n)
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    ids = np.arange(100, 100 + n, dtype=np.int64)
    index = build(plan_for(n, flat_limit), 8, vectors, ids)
    assert index.ntotal == n
    if n:
        _, found = index.search(vectors, 1)
        assert (found[:, 0] == ids).mean() > 0.95
