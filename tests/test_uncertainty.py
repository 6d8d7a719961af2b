"""Reported standard errors agree with the spread of estimates over noise realisations."""

import jax
import numpy as np
import pytest

import xpcsfit
from fit_cases import make_case
from xpcsfit import FitConfig


@pytest.mark.slow
@pytest.mark.parametrize("symmetric", [True, False])
def test_standard_errors_match_spread_over_30_realisations(symmetric):
    cfg = FitConfig.create(analysis_mode="static_isotropic", per_angle_mode="individual")
    cases = [make_case("static_isotropic", n_phi=2, n_t=40, noise=0.02, seed=100 + k,
                       symmetric=symmetric)[0] for k in range(30)]
    batch = jax.tree.map(lambda *xs: np.stack(xs), *cases)
    out = jax.vmap(lambda d: xpcsfit.fit(d, cfg))(batch)
    assert bool(np.all(out.success))
    params = np.asarray(out.parameters)
    spread = params.std(axis=0, ddof=1)
    reported = np.asarray(out.uncertainties).mean(axis=0)
    # With 30 realisations the sample standard deviation has a relative standard error of
    # 1/sqrt(2·29) ≈ 13%, so 25% is a ~2σ band. For symmetric data (each value counted
    # twice) this only holds because the fit doubles the covariance.
    ratio = spread / reported
    assert np.all(np.abs(ratio - 1) < 0.25), ratio
