"""STANDARD, OUT_OF_CORE and HYBRID_STREAMING minimise the same objective: same answer."""

import numpy as np
import pytest

import xpcsfit
from fit_cases import make_case, start_config

TIGHT = {"optimization.nlsq.ftol": 1e-12, "optimization.nlsq.xtol": 1e-12,
         "optimization.nlsq.gtol": 1e-12}


def _assert_same_optimum(a, b):
    """Parameters agree to 1e-6 relative, or — for a poorly determined parameter — to
    1e-3 of its standard error: with ftol = 1e-12 the cost resolves Δχ² ≈ 1e-12·χ², i.e.
    Δp ≈ σ·sqrt(1e-12·χ²) ≈ 1e-4·σ here, so agreement cannot be finer than that."""
    tol = np.maximum(1e-6 * np.abs(b.parameters), 1e-3 * b.uncertainties) + 1e-12
    assert np.all(np.abs(a.parameters - b.parameters) <= tol), (a.parameters - b.parameters) / tol


def _fit(data, strategy, **extra):
    cfg = start_config("laminar_flow", **{"optimization.nlsq.strategy": strategy, **TIGHT, **extra})
    return xpcsfit.fit(data, cfg)


def test_standard_and_out_of_core_agree_on_200k_points():
    data, _ = make_case("laminar_flow", n_phi=8, n_t=160, noise=0.01, seed=21)
    assert data.n_points > 200_000
    std = _fit(data, "standard")
    ooc = _fit(data, "out_of_core", **{"optimization.nlsq.chunk_points": 20_000})
    assert ooc.device_info["strategy"] == "out_of_core" and ooc.device_info["n_chunks"] > 5
    # Same objective, different summation order of ~2e5 terms: the optimum agrees to the
    # solver tolerance (1e-12), far inside 1e-6; χ² to the rounding of the sums.
    _assert_same_optimum(ooc, std)
    np.testing.assert_allclose(ooc.chi_squared, std.chi_squared, rtol=1e-9)


def test_hybrid_streaming_agrees_with_standard():
    data, _ = make_case("laminar_flow", n_phi=4, n_t=60, noise=0.01, seed=3)
    std = _fit(data, "standard")
    hyb = _fit(data, "hybrid_streaming",
               **{"optimization.nlsq.hybrid_streaming": {"chunk_size": 3000,
                                                         "enable_warmup": True,
                                                         "warmup_iterations": 50,
                                                         "gauss_newton_iterations": 100}})
    info = hyb.device_info["streaming"]
    assert hyb.device_info["strategy"] == "hybrid_streaming"
    # symmetric data: the stream holds the 1770 pairs t1 < t2, 750 per 3000-point chunk
    assert info["n_chunks"] == 3 and info["warmup"]["iterations"] >= 1
    assert hyb.device_info["fitted_pairs"] == "upper"
    assert info["gauss_newton"]["status"] > 0
    # Uncertainties map back through S = diag(upper − lower): compare them too.
    _assert_same_optimum(hyb, std)
    np.testing.assert_allclose(hyb.uncertainties, std.uncertainties, rtol=1e-5)
    np.testing.assert_allclose(hyb.chi_squared, std.chi_squared, rtol=1e-9)


def test_progress_callback_reports_iterations():
    data, _ = make_case("static_isotropic", n_phi=2, n_t=40, seed=1)
    seen = []
    xpcsfit.fit(data, start_config("static_isotropic", **{"optimization.nlsq.strategy":
                                                          "out_of_core"}),
                callback=lambda it, cost, step, radius: seen.append((int(it), float(cost))))
    assert len(seen) >= 3
    assert [s[0] for s in seen] == list(range(len(seen)))
    assert all(b[1] <= a[1] for a, b in zip(seen, seen[1:], strict=False))


@pytest.mark.parametrize("strategy", ["standard", "out_of_core"])
def test_forced_strategy_is_recorded(strategy):
    data, _ = make_case("static_isotropic", n_phi=2, n_t=30, seed=1)
    res = xpcsfit.fit(data, start_config("static_isotropic",
                                         **{"optimization.nlsq.strategy": strategy}))
    assert res.device_info["strategy"] == strategy
    assert res.device_info["strategy_info"]["forced"] is True
    assert res.device_info["peak_memory_gb"] == pytest.approx(
        xpcsfit.estimate_peak_memory_gb(res.n_points, res.device_info["n_free_parameters"]))
    assert res.n_points == data.n_points // 2  # symmetric data: the fit holds t1 < t2


def test_memory_mapped_host_data_streams(tmp_path):
    data, _ = make_case("laminar_flow", n_phi=4, n_t=60, noise=0.01, seed=3)
    path = tmp_path / "c2.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=data.g2.shape)
    mm[:] = np.asarray(data.g2)
    mm.flush()
    host = xpcsfit.XPCSData.from_host(np.load(path, mmap_mode="r"), np.asarray(data.t),
                                      np.asarray(data.phi), q=0.005, L=2e6, sigma=0.01)
    assert isinstance(host.g2, np.memmap)
    settings = {"chunk_size": 3000, "warmup_iterations": 50, "gauss_newton_iterations": 100}
    hyb = _fit(host, "hybrid_streaming",
               **{"optimization.nlsq.hybrid_streaming": settings})
    std = _fit(data, "standard")
    _assert_same_optimum(hyb, std)
    np.testing.assert_allclose(hyb.chi_squared, std.chi_squared, rtol=1e-9)


def test_host_data_validation():
    g2 = np.ones((2, 5, 5))
    with pytest.raises(ValueError, match="ascending"):
        xpcsfit.XPCSData.from_host(g2, np.arange(5.0), [30.0, 10.0], q=0.005, L=2e6, sigma=0.01)
    bad = g2.copy()
    bad[1, 2, 2] = np.inf
    with pytest.raises(ValueError, match="angle index 1"):
        xpcsfit.XPCSData.from_host(bad, np.arange(5.0), [10.0, 30.0], q=0.005, L=2e6, sigma=0.01)
    with pytest.raises(ValueError, match="sigma"):
        xpcsfit.XPCSData.from_host(g2, np.arange(5.0), [10.0, 30.0], q=0.005, L=2e6, sigma=0.0)
