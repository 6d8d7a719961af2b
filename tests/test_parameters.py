"""ParameterSpace: names, defaults, bounds, overrides and per-angle reparameterisations."""

import numpy as np
import pytest

from xpcsfit import ParameterSpace
from xpcsfit.physics.parameters import canonical_name, fourier_basis

TABLE = {"D0": (1e3, 1e2, 1e5), "alpha": (0.5, -2, 2), "D_offset": (10, -1e5, 1e5),
         "gamma_dot_t0": (1e-2, 1e-6, 0.5), "beta": (0.5, -2, 2),
         "gamma_dot_t_offset": (0, -0.1, 0.1), "phi0": (0, -10, 10)}


def test_defaults_and_layout_match_design_table():
    space = ParameterSpace.create("laminar_flow", 3)
    assert space.full_names[:6] == ("contrast[0]", "contrast[1]", "contrast[2]",
                                    "offset[0]", "offset[1]", "offset[2]")
    assert space.full_names[6:] == tuple(TABLE)
    np.testing.assert_array_equal(space.full_default()[6:], [v[0] for v in TABLE.values()])
    np.testing.assert_array_equal(space.full_lower(),
                                  [0, 0, 0, 0.5, 0.5, 0.5] + [v[1] for v in TABLE.values()])
    np.testing.assert_array_equal(space.full_upper(),
                                  [1, 1, 1, 1.5, 1.5, 1.5] + [v[2] for v in TABLE.values()])
    assert ParameterSpace.create("static_isotropic", 2).n_full == 7


def test_aliases_and_overrides():
    assert canonical_name("gamma_dot_0") == "gamma_dot_t0"
    assert canonical_name("phi_0") == "phi0"
    space = ParameterSpace.create("laminar_flow", 1, bounds=[{"name": "phi_0", "min": -30,
                                                              "max": 30}],
                                  values={"gamma_dot_offset": 0.01})
    i = space.full_names.index("phi0")
    assert (space.full_lower()[i], space.full_upper()[i]) == (-30, 30)
    assert space.full_default()[space.full_names.index("gamma_dot_t_offset")] == 0.01


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"mode": "turbulent"}, "analysis_mode"), ({"n_phi": 0}, "n_phi"),
     ({"bounds": {"D0": (5.0, 1.0)}}, "D0"), ({"bounds": {"viscosity": (0, 1)}}, "viscosity"),
     ({"values": {"alpha": float("nan")}}, "alpha")],
)
def test_bad_space(kwargs, field):
    args = {"mode": "laminar_flow", "n_phi": 2} | kwargs
    with pytest.raises(ValueError, match=field):
        ParameterSpace.create(args.pop("mode"), args.pop("n_phi"), **args)


def test_check_initial_clips_or_raises():
    space = ParameterSpace.create("static_isotropic", 1)
    x = np.array([0.5, 1.0, 1e6, 0.5, 10.0])
    clipped, notes = space.check_initial(x)
    assert clipped[2] == 1e5 and len(notes) == 1 and "D0" in notes[0]
    assert x[2] == 1e6  # input untouched
    with pytest.raises(ValueError, match="D0"):
        space.check_initial(x, on_violation="error")


PHI = np.array([-150.0, -90.0, -30.0, 0.0, 30.0, 90.0, 150.0])


def test_fourier_basis_by_hand():
    basis = fourier_basis(np.array([0.0, 90.0, 180.0]), 1)
    np.testing.assert_allclose(basis, [[1, 1, 0], [1, 0, 1], [1, -1, 0]], atol=1e-15)


@pytest.mark.parametrize("mode", ["individual", "fourier", "averaged", "constant"])
def test_reparam_round_trip_and_covariance(mode):
    space = ParameterSpace.create("laminar_flow", PHI.size)
    rng = np.random.default_rng(1)
    rep = space.reparam(mode, PHI, contrast_fixed=np.full(PHI.size, 0.4),
                        offset_fixed=np.full(PHI.size, 1.0))
    z = rep.lower + rng.uniform(0.2, 0.8, rep.lower.size) * (rep.upper - rep.lower)
    x = rep.to_full(z)
    np.testing.assert_allclose(rep.from_full(x), z, rtol=1e-10, atol=1e-12)
    cov_z = np.diag(rng.uniform(0.1, 1, z.size))
    np.testing.assert_allclose(rep.cov_to_full(cov_z), rep.A @ cov_z @ rep.A.T)
    assert x.shape == (space.n_full,)
    n = PHI.size
    if mode == "averaged":
        assert np.ptp(x[:n]) == 0 and np.ptp(x[n : 2 * n]) == 0
    if mode == "constant":
        np.testing.assert_array_equal(x[:n], 0.4)
        assert rep.lower.size == 7


def test_fourier_values_stay_in_bounds_inside_the_coefficient_box():
    space = ParameterSpace.create("laminar_flow", PHI.size)
    rep = space.reparam("fourier", PHI)
    rng = np.random.default_rng(2)
    for _ in range(200):
        z = rep.lower + rng.uniform(0, 1, rep.lower.size) * (rep.upper - rep.lower)
        z[0], z[5] = 0.5, 1.0  # mid-range means: harmonics bounded by (hi − lo)/(2·2K)
        x = rep.to_full(z)
        assert np.all(x[: PHI.size] >= 0) and np.all(x[: PHI.size] <= 1)
        assert np.all(x[PHI.size : 2 * PHI.size] >= 0.5)


def test_auto_mode_threshold_and_errors():
    space = ParameterSpace.create("laminar_flow", 5)
    assert space.reparam("auto", PHI[:5]).mode == "individual"
    big = ParameterSpace.create("laminar_flow", 7)
    # auto is the exact per-angle optimum at any number of angles (Fourier biases the fit
    # on irregular per-angle contrasts; tests/test_trust.py)
    assert big.reparam("auto", PHI).mode == "individual"
    with pytest.raises(ValueError, match="per_angle_mode"):
        ParameterSpace.create("laminar_flow", 4).reparam("fourier", PHI[:4], fourier_order=2)
    with pytest.raises(ValueError, match="phi"):
        space.reparam("fourier", PHI[:4], fourier_order=1)
    with pytest.raises(ValueError, match="per_angle_mode"):
        space.reparam("sideways", PHI[:5])
