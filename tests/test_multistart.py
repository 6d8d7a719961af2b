"""Multistart: Latin hypercube, basins, and a two-basin fit where one start fails."""

import jax
import numpy as np

import xpcsfit
from fit_cases import make_case, start_config
from xpcsfit.fitting.multistart import cluster_basins, latin_hypercube


def test_latin_hypercube_one_point_per_stratum():
    lower, upper = np.array([0.0, -2.0, 10.0]), np.array([1.0, 2.0, 20.0])
    pts = np.asarray(latin_hypercube(jax.random.PRNGKey(3), 8, lower, upper))
    assert pts.shape == (8, 3)
    strata = np.floor((pts - lower) / (upper - lower) * 8).astype(int)
    for d in range(3):
        assert sorted(strata[:, d]) == list(range(8))
    again = np.asarray(latin_hypercube(jax.random.PRNGKey(3), 8, lower, upper))
    np.testing.assert_array_equal(pts, again)


def test_basins_cluster_by_chi2_and_distance():
    lower, upper = np.zeros(2), np.ones(2)
    x = np.array([[0.1, 0.1], [0.12, 0.1], [0.9, 0.9], [0.5, 0.5]])
    chi2 = np.array([100.0, 101.0, 105.0, 300.0])
    basins = cluster_basins(x, chi2, lower, upper)
    assert [b["members"] for b in basins] == [[0, 1], [2]]
    assert basins[0]["representative"] == 0


def test_multistart_escapes_a_local_minimum():
    data, truth = make_case("laminar_flow", n_phi=3, n_t=60, noise=0.01, seed=9)
    cfg = start_config("laminar_flow")
    cfg["initial_parameters"]["values"][3] = 0.3  # γ̇0 1500× too large: a far sidelobe
    cfg["optimization"] = {"nlsq": {"recovery": False, "screening": {"enable": False},
                                    "multi_start": {"n_starts": 8, "seed": 1}}}
    single = xpcsfit.fit(data, cfg)  # no screening: the default fit escapes (test_trust.py)
    multi = xpcsfit.fit_nlsq_multistart(data, cfg)
    report = multi.device_info["multistart"]
    assert len(report["chi_squared"]) == 9 and report["basins"]
    assert multi.device_info["per_angle_mode"] == "individual"
    assert multi.chi_squared < 0.5 * single.chi_squared  # the single start is stuck
    assert 0.9 < multi.reduced_chi_squared < 1.1
    g = multi.value("gamma_dot_t0")
    assert abs(g - truth["physical"][3]) < 3 * multi.uncertainty("gamma_dot_t0")


def test_multistart_honours_the_per_angle_mode_and_screening():
    data, _ = make_case("laminar_flow", n_phi=3, n_t=30, noise=0.01, seed=2)
    cfg = start_config("laminar_flow", **{
        "optimization.nlsq.anti_degeneracy": {"per_angle_mode": "varpro"},
        "optimization.nlsq.multi_start": {"n_starts": 5, "use_screening": True,
                                          "screen_keep_fraction": 0.5}})
    multi = xpcsfit.fit_nlsq_multistart(data, cfg)
    report = multi.device_info["multistart"]
    assert multi.device_info["per_angle_mode"] == "varpro"
    assert len(report["starts_run"]) == 3 == len(report["screening"]["kept"])  # ceil(0.5·6)
    assert multi.chi_squared <= xpcsfit.fit(data, cfg).chi_squared * (1 + 1e-9)
    # The config switch does the same as the entry point.
    cfg["optimization"]["nlsq"]["multi_start"]["enable"] = True
    np.testing.assert_allclose(xpcsfit.fit(data, cfg).parameters, multi.parameters, rtol=1e-12)
