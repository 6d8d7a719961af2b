"""Result files: parameters.json, fit_report.json, fitted_data.npz agree with the result.

The result here is built by hand (no fit, nothing to compile but the model); the CLI
end-to-end test checks the files of a real fit (χ² recomputed from fitted_data.npz).
"""

import json

import numpy as np
import pytest

import xpcsfit
from xpcsfit.fitting.result import OptimizationResult
from xpcsfit.io.results import versions, write_results
from xpcsfit.physics.parameters import ParameterSpace

N_PHI, N_T = 3, 12


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    rng = np.random.default_rng(0)
    g2 = 1.0 + 0.2 * rng.random((N_PHI, N_T, N_T))
    data = xpcsfit.XPCSData.from_arrays(g2, 0.1 * np.arange(N_T), [120.0, 0.0, 60.0], q=0.01,
                                        L=2e6, sigma=0.02)
    space = ParameterSpace.create("static_isotropic", N_PHI)
    x = np.array([0.3, 0.35, 0.4, 1.0, 1.01, 0.99, 2e4, 0.5, 50.0])
    result = OptimizationResult(
        parameters=x, uncertainties=0.01 * x, covariance=np.diag((0.01 * x) ** 2),
        chi_squared=123.0, reduced_chi_squared=1.1, success=True, message="test",
        iterations=3, execution_time=0.1, convergence_status="converged", quality_flag="good",
        device_info={"strategy": "standard"}, parameter_names=space.full_names,
        n_points=data.n_points, n_free=x.size)
    config = xpcsfit.FitConfig(analysis_mode="static_isotropic", convention="homodyne")
    out = tmp_path_factory.mktemp("results")
    paths = write_results(out, result, data, config, dataset={"file": "none.h5"},
                          config_echo={"analysis_mode": "static_isotropic"})
    return data, result, paths


def test_parameters_json_matches_result(written):
    _, result, paths = written
    p = json.loads(paths["parameters"].read_text())
    assert p["names"] == list(result.parameter_names)
    np.testing.assert_array_equal(p["values"], result.parameters)
    np.testing.assert_array_equal(p["uncertainties"], result.uncertainties)
    assert p["parameters"]["D0"] == {"value": 2e4, "uncertainty": 200.0}
    assert (p["chi_squared"], p["reduced_chi_squared"], p["quality_flag"]) == (123.0, 1.1, "good")
    assert (p["convention"], p["analysis_mode"]) == ("homodyne", "static_isotropic")


def test_fitted_data_is_model_at_the_parameters(written):
    data, result, paths = written
    with np.load(paths["fitted"], allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    np.testing.assert_array_equal(d["phi"], [0.0, 60.0, 120.0])  # ascending, as fitted
    np.testing.assert_array_equal(d["c2_exp"], np.asarray(data.g2))
    np.testing.assert_array_equal(d["residuals"], d["c2_exp"] - d["c2_fit"])
    assert d["sigma"].shape == () and d["sigma"] == 0.02  # uniform σ stored once
    # Independent model (homodyne convention, static): offset + contrast·g1², with
    # log g1 = −½q²∫D and ∫D by the trapezoid rule on D(t) = D0·t^α + D_offset.
    t = d["t"]
    D0, alpha, D_off = result.parameters[6:]
    rate = D0 * np.maximum(t, 0.05) ** alpha + D_off
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * 0.1)])
    g1 = np.exp(np.clip(-0.5 * 0.01**2 * np.abs(cum[None, :] - cum[:, None]), -700, 0))
    c, o = result.parameters[:3], result.parameters[3:6]
    expected = o[:, None, None] + c[:, None, None] * g1[None] ** 2
    np.testing.assert_allclose(d["c2_fit"], expected, rtol=1e-9)


def test_report_has_result_dataset_config_versions(written):
    _, result, paths = written
    r = json.loads(paths["report"].read_text())
    assert r["result"] == json.loads(json.dumps(result.to_dict()))
    assert r["dataset"]["file"] == "none.h5" and r["dataset"]["n_phi"] == N_PHI
    assert r["dataset"]["q"] == 0.01 and r["dataset"]["n_points"] == N_PHI * N_T * (N_T - 1)
    assert r["config"] == {"analysis_mode": "static_isotropic"}
    assert r["versions"]["xpcsfit"] == xpcsfit.__version__ == versions()["xpcsfit"]
