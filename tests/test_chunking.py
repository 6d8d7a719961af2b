"""Stratification decision and the every-angle-in-every-chunk guarantee of grid chunks."""

import numpy as np
import pytest

import xpcsfit
from fit_cases import make_case, start_config
from xpcsfit.fitting.chunking import check_grid_chunks, should_stratify
from xpcsfit.fitting.grid import make_grid_problem


@pytest.mark.parametrize(
    ("counts", "scaling", "use", "reason"),
    [([60_000, 60_000], True, True, "all conditions"),
     ([40_000, 40_000], True, False, "n_points 80000"),
     ([60_000, 60_000], False, False, "per-angle scaling"),
     ([200_000], True, False, "single angle"),
     ([10_000, 100_000], True, False, "imbalance 10"),
     ([0, 200_000], True, False, "imbalance inf")],
)
def test_decision_and_reason(counts, scaling, use, reason):
    d = should_stratify(counts, per_angle_scaling=scaling)
    assert d.use is use and reason in d.reason


def test_bad_counts():
    with pytest.raises(ValueError, match="points_per_angle"):
        should_stratify([-1, 5])


@pytest.mark.parametrize("seed", range(12))
def test_every_chunk_holds_every_angle_equally(seed):
    rng = np.random.default_rng(seed)
    n_phi, n_t = int(rng.integers(1, 30)), int(rng.integers(2, 40))
    chunk = int(rng.integers(1, n_t * n_t + 5))
    g2 = np.ones((n_phi, n_t, n_t))
    problem = make_grid_problem(g2, np.full(g2.shape, 0.01), np.arange(n_t) * 0.1,
                                np.arange(n_phi) * 1.0, 0.005, 2e6, mode="static_isotropic",
                                convention="paper", chunk_pairs=chunk)
    report = check_grid_chunks(problem.weight, problem.chunk_size)
    w = np.asarray(problem.weight) > 0
    # All points used exactly once: padded weights are zero, the rest are the off-diagonal.
    assert w.sum() == n_phi * n_t * (n_t - 1)
    assert report["n_chunks"] == problem.n_chunks


def test_missing_angle_in_a_chunk_is_caught():
    weight = np.ones((3, 8))
    weight[1, 4:] = 0.0
    with pytest.raises(AssertionError, match="lacks some angle"):
        check_grid_chunks(weight, 4)


def test_fit_reports_stratification():
    data, _ = make_case("static_isotropic", n_phi=2, n_t=30, seed=1)
    res = xpcsfit.fit(data, start_config("static_isotropic"))
    strat = res.device_info["stratification"]
    assert strat["use"] is False and "n_points" in strat["reason"]
    assert strat["n_chunks"] == res.device_info["n_chunks"]
