"""XPCSData: construction, sorting, homodyne dicts, diagonal correction, quantile starts."""

import numpy as np
import pytest

from xpcsfit import XPCSData


def _arrays(n_phi=3, n_t=12, seed=0):
    rng = np.random.default_rng(seed)
    g2 = 1.0 + rng.uniform(0, 0.5, (n_phi, n_t, n_t))
    g2 = 0.5 * (g2 + np.swapaxes(g2, 1, 2))
    return g2, np.arange(n_t) * 0.1, np.array([40.0, -20.0, 100.0])[:n_phi]


def test_sorts_angles_and_permutes_data_without_touching_inputs():
    g2, t, phi = _arrays()
    sigma = np.arange(1, 4)[:, None, None] * np.full_like(g2, 0.01)
    g2_copy, phi_copy = g2.copy(), phi.copy()
    g2.setflags(write=False)
    data = XPCSData.from_arrays(g2, t, phi, q=0.005, L=2e6, sigma=sigma)
    np.testing.assert_array_equal(np.asarray(data.phi), [-20.0, 40.0, 100.0])
    np.testing.assert_array_equal(np.asarray(data.g2[0]), g2_copy[1])
    np.testing.assert_array_equal(np.asarray(data.sigma[0]), sigma[1])
    assert data.phi_order == (1, 0, 2)
    np.testing.assert_array_equal(g2, g2_copy)
    np.testing.assert_array_equal(phi, phi_copy)
    assert float(data.dt) == pytest.approx(0.1)
    assert not data.sigma_is_default


def test_default_sigma_is_recorded():
    g2, t, phi = _arrays()
    data = XPCSData.from_arrays(g2, t, phi, q=0.005, L=2e6)
    assert data.sigma_is_default and np.all(np.asarray(data.sigma) == 0.01)
    assert data.n_points == 3 * 12 * 11


@pytest.mark.parametrize("meshgrid", [False, True])
def test_homodyne_dict_and_fallbacks(meshgrid):
    g2, t, phi = _arrays()
    t1, t2 = (np.meshgrid(t, t, indexing="ij") if meshgrid else (t, t))
    d = {"phi_angles_list": phi, "c2_exp": g2, "t1": t1, "t2": t2,
         "wavevector_q_list": [0.0054, 0.006]}
    data = XPCSData.from_homodyne_dict(d, {})
    assert float(data.q) == 0.0054 and float(data.L) == 2e6 and data.sigma_is_default
    # A sample–detector distance is not the stator–rotor gap: it is not used for L.
    cfg = {"experimental_data": {"sample_detector_distance": 5e6}}
    assert float(XPCSData.from_homodyne_dict(d, cfg).L) == 2e6
    cfg["experimental_data"]["geometry"] = {"stator_rotor_gap": 3e6}
    assert float(XPCSData.from_homodyne_dict(d, cfg).L) == 3e6
    cfg["analyzer_parameters"] = {"geometry": {"stator_rotor_gap": 1e6}, "dt": 0.1}
    data = XPCSData.from_homodyne_dict(d, cfg)
    assert float(data.L) == 1e6 and float(data.dt) == pytest.approx(0.1)
    # homodyne's fit_nlsq_jax honours L and dt in the data dict first; so does xpcsfit.
    data = XPCSData.from_homodyne_dict({**d, "L": 4e6}, cfg)
    assert float(data.L) == 4e6


def test_basic_diagonal_correction_against_loop():
    g2, t, phi = _arrays(seed=3)
    data = XPCSData.from_arrays(g2, t, phi, q=0.005, L=2e6).diagonal_corrected()
    raw = np.asarray(XPCSData.from_arrays(g2, t, phi, q=0.005, L=2e6).g2)
    out = np.asarray(data.g2)
    n = t.size
    for a in range(3):
        for i in range(n):
            neighbours = []
            if i + 1 < n:
                neighbours.append(raw[a, i, i + 1])
            if i > 0:
                neighbours.append(raw[a, i - 1, i])
            assert out[a, i, i] == pytest.approx(np.mean(neighbours), rel=1e-15)
    off = ~np.eye(n, dtype=bool)
    np.testing.assert_array_equal(out[:, off], raw[:, off])


def test_quantile_estimates_against_per_angle_loop():
    g2, t, phi = _arrays(n_t=20, seed=4)
    data = XPCSData.from_arrays(g2, t, phi, q=0.005, L=2e6)
    contrast, offset = data.quantile_estimates()
    raw = np.asarray(data.g2)
    for a in range(3):
        lags, values = [], []
        for i in range(20):
            for j in range(20):
                if i != j:
                    lags.append(abs(i - j))
                    values.append(raw[a, i, j])
        lags, values = np.array(lags), np.array(values)
        o = np.percentile(values[lags >= np.percentile(lags, 80)], 10)
        c = np.percentile(values[lags <= np.percentile(lags, 20)], 90) - o
        assert offset[a] == pytest.approx(np.clip(o, 0.5, 1.5), rel=1e-14)
        assert contrast[a] == pytest.approx(np.clip(c, 0.0, 1.0), rel=1e-14)
