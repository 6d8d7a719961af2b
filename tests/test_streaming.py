"""HYBRID_STREAMING pieces: streamed passes equal the in-memory pass, the cheap cost-only
pass, per-angle weights, the value-only line search, and the defense layers on every
strategy."""

import numpy as np
import pytest

import xpcsfit
from fit_cases import make_case, start_config
from xpcsfit.fitting.grid import make_grid_problem
from xpcsfit.fitting.objectives import HostData, InMemory, StreamPass
from xpcsfit.fitting.warmup import bound_normalisation
from xpcsfit.solvers.lbfgs import lbfgs_warmup

N_PHI = 5


@pytest.fixture(scope="module")
def case():
    data, truth = make_case("laminar_flow", n_phi=N_PHI, n_t=37, noise=0.01, seed=5)
    rng = np.random.default_rng(0)
    sigma = 0.01 * (1.0 + rng.random(np.asarray(data.g2).shape))  # per-point σ
    x = np.concatenate([np.full(N_PHI, 0.33), np.full(N_PHI, 1.01),
                        np.asarray(truth["physical"]) * 1.3])
    return data, sigma, x


def _grid_objective(data, sigma, n):
    problem = make_grid_problem(data.g2, sigma, data.t, data.phi, data.q, data.L,
                                mode="laminar_flow", convention="paper", chunk_pairs=200)
    return InMemory(problem)


def _host(data, sigma):
    return HostData.from_arrays(np.asarray(data.g2), sigma, np.asarray(data.t),
                                np.asarray(data.phi), float(data.q), float(data.L))


def test_streamed_sums_equal_in_memory_sums_with_angle_weights(case):
    data, sigma, x = case
    grid = _grid_objective(data, sigma, x.shape[0])
    # 1001 points per chunk: 201 pairs, so the last of 7 chunks is padded.
    passes = StreamPass(_host(data, sigma), "laminar_flow", "paper", chunk_points=1001)
    assert passes.n_chunks == 7 and passes.n_chunks * passes.size > 37 * 37
    w = np.linspace(0.5, 1.5, N_PHI)
    for g, s in ((grid, passes), (grid.weighted(w), passes.weighted(w))):
        for a, b in zip(g.sums(x), s.sums(x), strict=True):
            # Same terms summed in another order: rounding of ~7e3 terms, ≪ 1e-11.
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-11, atol=1e-9)
        # The cost-only kernel (no derivative rows) gives the same ½‖r‖².
        np.testing.assert_allclose(s.cost(x), float(g.sums(x)[0]), rtol=1e-12)
    # Angle weights really scale the rows: w = 1 everywhere is the unweighted pass.
    np.testing.assert_allclose(passes.weighted(np.ones(N_PHI)).cost(x), passes.cost(x),
                               rtol=1e-14)


def test_bound_normalisation_maps_the_box_to_the_unit_interval():
    lower = np.array([0.0, -np.inf, 2.0, -np.inf])
    upper = np.array([4.0, 1.0, np.inf, np.inf])
    z0 = np.array([1.0, -3.0, 5.0, 0.5])
    span, base = bound_normalisation(lower, upper, z0)
    np.testing.assert_allclose(span, [4.0, 3.0, 5.0, 1.0])
    np.testing.assert_allclose((lower[0] - base[0]) / span[0], 0.0)
    np.testing.assert_allclose((upper[:2] - base[:2]) / span[:2], 1.0)  # finite upper → 1
    np.testing.assert_allclose((lower[2] - base[2]) / span[2], 0.0)  # finite lower → 0
    assert np.all(span > 0)


def _rosenbrock(x):
    r = np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])
    J = np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])
    return 0.5 * float(r @ r), J.T @ r


def test_value_only_line_search_reaches_the_same_minimum_with_fewer_gradients():
    calls = {"vg": 0}

    def vg(x):
        calls["vg"] += 1
        return _rosenbrock(x)

    lo, hi = np.full(2, -5.0), np.full(2, 5.0)
    both = lbfgs_warmup(vg, np.array([-1.2, 1.0]), lo, hi, max_iterations=300, rtol=0.0)
    gradients_both = calls["vg"]
    calls["vg"] = 0
    cheap = lbfgs_warmup(vg, np.array([-1.2, 1.0]), lo, hi, max_iterations=300, rtol=0.0,
                         value=lambda x: _rosenbrock(x)[0])
    # Both reach the minimum (1, 1); L-BFGS on Rosenbrock converges to ~1e-6 here.
    np.testing.assert_allclose(both.x, [1.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(cheap.x, [1.0, 1.0], atol=1e-5)
    # With value-only trials the gradient is taken once per iteration (+1 at the start).
    assert calls["vg"] == cheap.iterations + 1
    assert calls["vg"] < gradients_both


# Hierarchical rounds kept short: the layers' wiring is under test, not their convergence.
ALL_LAYERS = {"per_angle_mode": "individual",
              "hierarchical": {"enable": True, "max_outer_iterations": 2,
                               "physical_max_iterations": 20, "per_angle_max_iterations": 10},
              "regularization": {"enable": True}, "shear_weighting": {"enable": True},
              "gradient_monitoring": {"response": "reset"}}
TIGHT = {"optimization.nlsq.ftol": 1e-12, "optimization.nlsq.xtol": 1e-12,
         "optimization.nlsq.gtol": 1e-12}


def test_defense_layers_run_on_every_strategy():
    data, _ = make_case("laminar_flow", n_phi=N_PHI, n_t=40, noise=0.01, seed=8)
    results = {}
    for strategy in ("standard", "out_of_core", "hybrid_streaming"):
        cfg = start_config("laminar_flow", **TIGHT, **{
            "optimization.nlsq.strategy": strategy,
            "optimization.nlsq.chunk_points": 1000,
            "optimization.nlsq.anti_degeneracy": ALL_LAYERS,
            "optimization.nlsq.hybrid_streaming": {"chunk_size": 1000,
                                                   "gauss_newton_iterations": 200}})
        res = xpcsfit.fit(data, cfg)
        defense = res.device_info["defense"]
        assert defense["active"], (strategy, defense["reason"])
        assert {"hierarchical", "regularization", "shear_weighting",
                "gradient_monitoring"} <= set(defense["layers"]), strategy
        results[strategy] = res
    ref = results["standard"]
    for strategy in ("out_of_core", "hybrid_streaming"):
        res = results[strategy]
        # Same penalised, weighted objective minimised to ftol = 1e-12: the optimum agrees to
        # 1e-6 relative, or 1e-3 σ along flat directions (Δp ≈ σ·sqrt(1e-12·χ²) ≈ 1e-4 σ).
        tol = np.maximum(1e-6 * np.abs(ref.parameters), 1e-3 * ref.uncertainties) + 1e-12
        assert np.all(np.abs(res.parameters - ref.parameters) <= tol), strategy
        # χ² is re-evaluated on the plain objective, identically on every strategy.
        np.testing.assert_allclose(res.chi_squared, ref.chi_squared, rtol=1e-9)
        np.testing.assert_allclose(res.uncertainties, ref.uncertainties, rtol=1e-5)


def test_streaming_progress_covers_both_phases():
    data, _ = make_case("static_isotropic", n_phi=2, n_t=30, seed=1)
    seen = []
    cfg = start_config("static_isotropic", **{
        "optimization.nlsq.strategy": "hybrid_streaming",
        "optimization.nlsq.hybrid_streaming": {"chunk_size": 500, "enable_warmup": True,
                                               "warmup_iterations": 5}})
    res = xpcsfit.fit(data, cfg, callback=lambda *a: seen.append(tuple(map(float, a))))
    warm = res.device_info["streaming"]["warmup"]["iterations"]
    # Warmup iterations carry NaN step/radius; then one call per trust-region iteration.
    assert warm >= 1 and all(np.isnan(s[2]) for s in seen[:warm])
    gn = seen[warm:]
    assert [int(s[0]) for s in gn] == list(range(len(gn))) and len(gn) >= 2
    assert all(np.isfinite(s[3]) for s in gn)


def test_streaming_settings_are_validated_and_unknown_keys_reported():
    data, _ = make_case("static_isotropic", n_phi=2, n_t=20, seed=1)
    for key, value in (("chunk_size", 0), ("gauss_newton_iterations", 2.5),
                       ("enable_warmup", "yes"), ("warmup_rtol", -1.0)):
        cfg = start_config("static_isotropic", **{
            "optimization.nlsq.hybrid_streaming": {key: value}})
        with pytest.raises(ValueError, match=f"optimization.nlsq.hybrid_streaming.{key}"):
            xpcsfit.fit(data, cfg)
    cfg = start_config("static_isotropic", **{
        "optimization.nlsq.strategy": "hybrid_streaming",
        "optimization.nlsq.hybrid_streaming": {"enable_warmpu": True}})
    with pytest.warns(UserWarning, match="hybrid_streaming.enable_warmpu"):
        res = xpcsfit.fit(data, cfg)
    unknown = res.device_info["config"]["unknown_keys"]
    assert unknown == ["optimization.nlsq.hybrid_streaming.enable_warmpu"]
    assert "warmup" not in res.device_info["streaming"]  # the typo did not enable it
