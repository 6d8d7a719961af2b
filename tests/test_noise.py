"""Model-independent noise estimate: known noise (homo- and heteroscedastic), symmetry,
outliers, residual-signal bias, the jit path, and bad input."""

import jax
import numpy as np
import pytest
from scipy import stats

import xpcsfit
from fit_cases import LAMINAR_TRUTH, STATIC_TRUTH, angles
from xpcsfit.noise import estimate_sigma, lag_bands, trimmed_second_moment

TRUTH = {"laminar_flow": LAMINAR_TRUTH, "static_isotropic": STATIC_TRUTH}
# Relative standard error of a band estimate: 1.1/√n for n overlapping differences
# (module doc); n ≈ 2,400 per band (n_t = 200, 8 bands) gives 2.2%: 10% is 4.5 of them.
BAND_RTOL = 0.10


def _simulate(mode="laminar_flow", n_phi=5, n_t=200, noise=0.01, seed=0, symmetric=True):
    phi = angles(n_phi)
    contrast = 0.3 + 0.1 * np.cos(np.deg2rad(phi)) ** 2
    return xpcsfit.simulate(TRUTH[mode], contrast, 1.0, n_t=n_t, dt=0.2, phi=phi, q=0.005,
                            L=2e6, noise=noise, seed=seed, mode=mode, symmetric=symmetric)


def _noise(shape, scale, seed, symmetric=True):
    """Gaussian draws times `scale` (broadcast to `shape`), mirrored t1 < t2 → t1 > t2."""
    e = np.random.default_rng(seed).standard_normal(shape) * scale
    if symmetric:
        upper = np.triu(e, k=1)
        e = upper + np.swapaxes(upper, 1, 2) + e * np.eye(shape[1])
    return e


def _reference(g2, edges, keep, both):
    """Loop form: per angle and lag, the (1, −2, 1) differences along np.diagonal; per band
    the mean of the smallest `keep` fraction of their squares, over 6·E[Z² | Z² ≤ z²]
    with E from the χ² identity E[Z²; Z² ≤ q] = P(χ²₃ ≤ q)."""
    q = stats.chi2.ppf(keep, 1)
    c = 1.0 if keep == 1.0 else stats.chi2.cdf(q, 3) / keep
    out = np.zeros((g2.shape[0], len(edges) - 1))
    counts = np.zeros(len(edges) - 1, dtype=int)
    for a in range(g2.shape[0]):
        for b in range(len(edges) - 1):
            sq = []
            for k in range(edges[b], edges[b + 1]):
                for off in ((k, -k) if both else (k,)):
                    line = np.diagonal(g2[a], offset=off)
                    sq.extend((line[:-2] - 2 * line[1:-1] + line[2:]) ** 2)
            sq = np.sort(sq)
            n_keep = max(int(np.rint(keep * len(sq) / (2 if both else 1))), 1) * (2 if both else 1)
            out[a, b] = np.sqrt(sq[:n_keep].mean() / (6 * c))
            counts[b] = len(sq)
    return out, counts


def test_consistency_factor_against_chi2_identity():
    for p in (0.5, 0.8, 0.9, 0.99):
        q = stats.chi2.ppf(p, 1)
        assert trimmed_second_moment(p) == pytest.approx(stats.chi2.cdf(q, 3) / p, rel=1e-12)
    assert trimmed_second_moment(1.0) == 1.0


@pytest.mark.parametrize("keep", [0.9, 1.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_matches_loop_reference(keep, symmetric):
    n_t = 30
    g2 = 1.0 + _noise((2, n_t, n_t), 0.01, seed=1, symmetric=symmetric)
    est = estimate_sigma(g2, n_bands=4, keep=keep)
    assert bool(est.symmetric) is symmetric
    ref, counts = _reference(g2, est.bands, keep, both=not symmetric)
    np.testing.assert_allclose(est.per_band, ref, rtol=1e-12)  # same sums, other order
    np.testing.assert_array_equal(est.n_samples, counts)
    assert est.n_total == g2.shape[0] * counts.sum()


def test_lag_bands_cover_usable_lags_with_equal_counts():
    edges = lag_bands(200, 8)
    assert edges[0] == 1 and edges[-1] == 198 and np.all(np.diff(edges) >= 1)
    counts = np.array([np.sum(198 - np.arange(lo, hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    # a band overshoots its target by less than one lag's samples (≤ 197 of 2,425)
    assert np.all(np.abs(counts - counts.mean()) < 198)
    assert list(lag_bands(10, 7)) == list(range(1, 9))  # one lag per band at the limit
    assert list(lag_bands(4, 1)) == [1, 2]


@pytest.mark.parametrize("mode", ["laminar_flow", "static_isotropic"])
@pytest.mark.parametrize("noise", [0.005, 0.01, 0.03])
def test_homoscedastic_known_noise(mode, noise):
    data, _ = _simulate(mode, noise=noise)
    est = estimate_sigma(np.asarray(data.g2))
    assert est.per_band.shape == (5, 8) and est.sigma.shape == (5, 200, 200)
    np.testing.assert_allclose(est.per_band / noise, 1.0, rtol=BAND_RTOL)
    # per angle: n ≈ 19,500 differences, standard error 0.8% -> 4% is 5 of them
    np.testing.assert_allclose(est.per_angle / noise, 1.0, rtol=0.04)
    assert float(est.overall) == pytest.approx(noise, rel=0.02)  # 97k samples, SE 0.4%


def test_heteroscedastic_per_angle_and_lag():
    n_phi, n_t = 5, 200
    data, truth = _simulate("laminar_flow", noise=0.0)
    scale_phi = np.array([0.005, 0.02, 0.008, 0.03, 0.012])  # irregular by angle
    lag = np.abs(np.subtract.outer(np.arange(n_t), np.arange(n_t)))
    sigma_k = scale_phi[:, None] * (1.0 + 2.0 * np.exp(-np.arange(n_t) / 15.0))[None, :]
    g2 = truth["g2_clean"] + _noise((n_phi, n_t, n_t), sigma_k[:, lag], seed=3)
    est = estimate_sigma(g2)
    # truth per band: RMS σ over the band's differences (n_t − 2 − k at lag k)
    expect = np.stack([np.sqrt(np.average(sigma_k[:, lo:hi] ** 2, axis=1,
                                          weights=n_t - 2 - np.arange(lo, hi)))
                       for lo, hi in zip(est.bands[:-1], est.bands[1:], strict=True)], axis=1)
    np.testing.assert_allclose(est.per_band / expect, 1.0, rtol=BAND_RTOL)
    # the lag profile follows the truth at the band centres (σ varies ≤ 4% within ±1 lag)
    k = np.rint(est.centres).astype(int)
    np.testing.assert_allclose(est.sigma[:, 0, k] / sigma_k[:, k], 1.0, rtol=BAND_RTOL)
    # the profile is steep, so a lag-blind estimate would fail the band check above
    assert np.all(est.per_band[:, 0] / est.per_band[:, -1] > 1.5)


def test_asymmetric_noise_uses_both_halves():
    data, _ = _simulate(noise=0.01, symmetric=False, seed=2)
    g2 = np.asarray(data.g2)
    est = estimate_sigma(g2)
    assert not bool(est.symmetric)
    np.testing.assert_allclose(est.per_band / 0.01, 1.0, rtol=BAND_RTOL)
    upper = estimate_sigma(g2, symmetric=True)
    np.testing.assert_array_equal(est.n_samples, 2 * upper.n_samples)


def test_symmetric_data_both_halves_same_value_double_count():
    data, _ = _simulate(noise=0.01, seed=3)
    g2 = np.asarray(data.g2)
    est, both = estimate_sigma(g2), estimate_sigma(g2, symmetric=False)
    assert bool(est.symmetric)
    np.testing.assert_allclose(both.per_band, est.per_band, rtol=1e-13)  # summation order
    np.testing.assert_array_equal(both.n_samples, 2 * est.n_samples)


def test_gross_outliers_barely_change_the_estimate():
    n_phi, n_t = 5, 200
    data, _ = _simulate(noise=0.01, seed=5)
    g2 = np.array(data.g2)
    rng = np.random.default_rng(11)
    i, j = rng.integers(0, n_t, (2, n_phi, 20))  # 20 per angle: 0.1% of the 19,900 pairs
    a = np.repeat(np.arange(n_phi), 20).reshape(n_phi, 20)
    spoiled = g2.copy()
    spoiled[a, i, j] += 0.5  # 50σ
    spoiled[a, j, i] = spoiled[a, i, j]
    clean, dirty = estimate_sigma(g2), estimate_sigma(spoiled)
    # Gross outliers spoiling a fraction f of a band's differences leave the smallest
    # kept ones of the rest: keep p → p/(1 − f), so σ̂ rises by ½·(z² − c_p)/c_p·f ≈ 1.7·f.
    # Here f ≈ 60/19,500 per angle (0.3%), and up to ≈ 1% in one band.
    np.testing.assert_allclose(dirty.per_angle / clean.per_angle, 1.0, rtol=0.01)
    np.testing.assert_allclose(dirty.per_band / clean.per_band, 1.0, rtol=0.02)
    # the outliers are gross: the untrimmed root mean square rises by more than half
    plain = estimate_sigma(spoiled, keep=1.0)
    assert float(plain.overall) > 1.5 * float(clean.overall)


def test_constant_data_with_noise():
    g2 = 1.0 + _noise((3, 120, 120), 0.02, seed=9)
    est = estimate_sigma(g2)
    np.testing.assert_allclose(est.per_band / 0.02, 1.0, rtol=BAND_RTOL)
    np.testing.assert_allclose(est.per_angle / 0.02, 1.0, rtol=0.05)


@pytest.mark.parametrize("mode", ["laminar_flow", "static_isotropic"])
def test_residual_signal_bias_is_negligible(mode):
    data, truth = _simulate(mode, noise=0.0)
    clean = truth["g2_clean"]
    noiseless = estimate_sigma(clean)
    # the signal alone looks like < 2% of the smallest realistic noise (0.5%) ...
    assert float(np.max(noiseless.per_band)) < 0.02 * 0.005
    # ... so with the same draws on the signal and on a constant, bands agree to 0.5%:
    # a typical residual b gives (b/σ)²/12 < 1e-4; the ≲ 1% of differences touching the
    # t = 0 row (ageing kink) can be large, and shift σ̂ by at most ≈ 1.7× their fraction
    draws = _noise(clean.shape, 0.005, seed=4)
    on_signal, on_constant = estimate_sigma(clean + draws), estimate_sigma(1.0 + draws)
    np.testing.assert_allclose(on_signal.per_band / on_constant.per_band, 1.0, rtol=5e-3)
    np.testing.assert_allclose(on_signal.per_angle / on_constant.per_angle, 1.0, rtol=1e-3)


def test_sigma_profile_stepped_and_interpolated():
    g2 = 1.0 + _noise((2, 60, 60), np.linspace(0.01, 0.02, 60)[None, :, None], seed=6,
                      symmetric=False)
    step = estimate_sigma(g2, n_bands=5, interpolate=False)
    band = np.clip(np.searchsorted(step.bands, np.arange(60), side="right") - 1, 0, 4)
    lag = np.abs(np.subtract.outer(np.arange(60), np.arange(60)))
    np.testing.assert_array_equal(step.sigma, step.per_band[:, band][:, lag])
    interp = estimate_sigma(g2, n_bands=5)
    for a in range(2):
        profile = np.interp(np.arange(60), interp.centres, interp.per_band[a])
        np.testing.assert_allclose(interp.sigma[a], profile[lag], rtol=1e-14)


@pytest.mark.parametrize("symmetric", [True, False])
def test_jit_path_matches_numpy(symmetric):
    g2 = 1.0 + _noise((3, 40, 40), 0.01, seed=8, symmetric=symmetric)
    host = estimate_sigma(g2, n_bands=4)
    traced = jax.jit(lambda x: estimate_sigma(x, n_bands=4))(jax.numpy.asarray(g2))
    np.testing.assert_allclose(traced.per_band, host.per_band, rtol=1e-13)
    np.testing.assert_allclose(traced.sigma, host.sigma, rtol=1e-13)
    np.testing.assert_array_equal(traced.n_samples, host.n_samples)  # traced symmetry
    assert bool(traced.symmetric) is symmetric
    concrete = estimate_sigma(jax.numpy.asarray(g2), n_bands=4)
    np.testing.assert_allclose(concrete.per_band, host.per_band, rtol=1e-13)


def test_xpcsdata_method_and_inputs_untouched():
    data, _ = _simulate(noise=0.01, seed=1)
    sigma_before = np.asarray(data.sigma).copy()
    est = data.estimate_sigma(n_bands=3)
    np.testing.assert_array_equal(est.per_band, estimate_sigma(np.asarray(data.g2),
                                                               n_bands=3).per_band)
    np.testing.assert_array_equal(np.asarray(data.sigma), sigma_before)
    g2 = np.array(data.g2)
    copy = g2.copy()
    g2.setflags(write=False)
    estimate_sigma(g2)
    np.testing.assert_array_equal(g2, copy)


def test_smallest_grid():
    g2 = 1.0 + _noise((1, 4, 4), 0.01, seed=0, symmetric=False)
    est = estimate_sigma(g2, n_bands=1)
    ref, counts = _reference(g2, est.bands, 0.9, both=True)
    np.testing.assert_allclose(est.per_band, ref, rtol=1e-12)
    assert list(counts) == [2]


@pytest.mark.parametrize("g2, kw, field", [
    (np.ones((5, 5)), {}, "g2"),
    (np.ones((2, 5, 6)), {}, "g2"),
    (np.ones((0, 5, 5)), {}, "g2"),
    (np.ones((2, 3, 3)), {}, "n_t"),
    (np.ones((2, 4, 4)), {"min_lag": 2, "n_bands": 1}, "n_t"),
    (np.ones((2, 10, 10)), {"n_bands": 8}, "n_bands"),
    (np.ones((2, 10, 10)), {"n_bands": 0}, "n_bands"),
    (np.ones((2, 10, 10)), {"n_bands": 2.0}, "n_bands"),
    (np.ones((2, 10, 10)), {"min_lag": 0}, "min_lag"),
    (np.ones((2, 10, 10)), {"keep": 0.0}, "keep"),
    (np.ones((2, 10, 10)), {"keep": 1.5}, "keep"),
    (np.ones((2, 10, 10)), {"symmetric": "yes"}, "symmetric"),
    (np.ones((2, 10, 10)), {"interpolate": 1}, "interpolate"),
])
def test_bad_input_names_the_field(g2, kw, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        estimate_sigma(g2, **kw)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_named(bad):
    g2 = np.ones((2, 10, 10))
    g2[1, 2, 3] = bad
    with pytest.raises(ValueError, match=r"^g2: 1 non-finite value\(s\), first at index \(1, 2, 3\)"):
        estimate_sigma(g2, n_bands=2)
    with pytest.raises(ValueError, match=r"^g2: 1 non-finite"):
        estimate_sigma(jax.numpy.asarray(g2), n_bands=2)
