"""Hostile input through the API: each case asserts the exception type and the field named.

Data checks (`validate_data`, the constructors), dtype-aware time grids, solver inputs and
the start at a non-finite point, parameter names of the wrong mode. Files: see
test_hostile_files.py; the command line: test_hostile_cli.py.
"""

import re

import jax.numpy as jnp
import numpy as np
import pytest

import xpcsfit
from xpcsfit import XPCSData
from xpcsfit.data import validate_data
from xpcsfit.physics.parameters import ParameterSpace
from xpcsfit.solvers.trust_region import (
    NOT_FINITE_AT_START,
    _check_inputs,
    trust_region_solve,
)

N_PHI, N_T, DT = 2, 8, 0.1
T = np.arange(N_T) * DT
PHI = np.array([0.0, 45.0])
G2 = 1.0 + 0.2 * np.exp(-np.abs(T[:, None] - T[None, :]))[None] * np.ones((N_PHI, 1, 1))


def _raw(**changes):
    """An XPCSData built with the raw constructor (no validation), fields replaced."""
    fields = {"g2": jnp.asarray(G2), "sigma": jnp.full((N_PHI, N_T, N_T), 0.01),
              "t": jnp.asarray(T), "phi": jnp.asarray(PHI), "q": jnp.asarray(0.005),
              "L": jnp.asarray(2e6), "dt": jnp.asarray(DT)}
    fields.update(changes)
    return XPCSData(**fields)


def _set(array, index, value):
    out = np.array(array)
    out[index] = value
    return out


def _field_error(field, call, *args, **kwargs):
    """Assert `call` raises ValueError whose message starts with `field`."""
    with pytest.raises(ValueError) as info:
        call(*args, **kwargs)
    assert re.match(re.escape(field) + r"(?=[:\s])", str(info.value)), str(info.value)
    return str(info.value)


# ------------------------------------------------------------------ validate_data (raw)

RAW_CASES = {
    "nan c2": ({"g2": _set(G2, (1, 2, 3), np.nan)}, "g2"),
    "inf c2": ({"g2": _set(G2, (0, 0, 1), np.inf)}, "g2"),
    "complex c2": ({"g2": jnp.asarray(G2) * (1 + 1e-3j)}, "g2"),
    "sigma zero": ({"sigma": jnp.zeros((N_PHI, N_T, N_T))}, "sigma"),
    "sigma negative": ({"sigma": jnp.full((N_PHI, N_T, N_T), -0.01)}, "sigma"),
    "sigma nan": ({"sigma": _set(np.full((N_PHI, N_T, N_T), 0.01), (1, 0, 0), np.nan)},
                  "sigma"),
    "sigma shape": ({"sigma": jnp.full((N_PHI, N_T, N_T - 1), 0.01)}, "sigma"),
    "sigma scalar": ({"sigma": jnp.asarray(0.01)}, "sigma"),
    "g2 2-D": ({"g2": jnp.asarray(G2[0])}, "g2"),
    "g2 not square": ({"g2": jnp.asarray(G2[:, :, :-1])}, "g2"),
    "t length": ({"t": jnp.asarray(T[:-1])}, "t"),
    "t non-uniform": ({"t": jnp.asarray(_set(T, 3, 0.33))}, "t"),
    "t decreasing": ({"t": jnp.asarray(T[::-1].copy())}, "t"),
    "t nan": ({"t": jnp.asarray(_set(T, 0, np.nan))}, "t"),
    "one time": ({"g2": jnp.ones((N_PHI, 1, 1)), "sigma": jnp.ones((N_PHI, 1, 1)),
                  "t": jnp.zeros(1)}, "t"),
    "phi length": ({"phi": jnp.asarray([0.0, 45.0, 90.0])}, "phi"),
    "phi duplicate": ({"phi": jnp.asarray([10.0, 10.0])}, "phi"),
    "phi unsorted": ({"phi": jnp.asarray([45.0, 0.0])}, "phi"),
    "phi nan": ({"phi": jnp.asarray([0.0, np.nan])}, "phi"),
    "no angles": ({"g2": jnp.ones((0, N_T, N_T)), "sigma": jnp.ones((0, N_T, N_T)),
                   "phi": jnp.zeros(0)}, "phi"),
    "q zero": ({"q": jnp.asarray(0.0)}, "q"),
    "q nan": ({"q": jnp.asarray(np.nan)}, "q"),
    "q vector": ({"q": jnp.asarray([0.005, 0.006])}, "q"),
    "L negative": ({"L": jnp.asarray(-1.0)}, "L"),
    "dt mismatch": ({"dt": jnp.asarray(0.2)}, "dt"),
    "dt zero": ({"dt": jnp.asarray(0.0)}, "dt"),
    "phi_order": ({"phi_order": (0, 0)}, "phi_order"),
    "q a string": ({"q": "0.005"}, "q"),
}


@pytest.mark.parametrize("changes, field", RAW_CASES.values(), ids=RAW_CASES.keys())
def test_validate_data_refuses_raw(changes, field):
    _field_error(field, validate_data, _raw(**changes))


def test_validate_data_accepts_what_the_constructors_build():
    validate_data(_raw())  # a valid raw object passes
    data = XPCSData.from_arrays(G2, T, PHI[::-1], q=0.005, L=2e6)
    validate_data(data)
    assert _field_error("data", validate_data, {"g2": G2}).startswith("data: expected")


def test_from_host_memmap_checked_angle_by_angle(tmp_path):
    g2 = np.lib.format.open_memmap(tmp_path / "g2.npy", mode="w+", shape=(3, N_T, N_T))
    g2[:] = 1.1
    g2[2, 4, 5] = np.nan
    message = _field_error("g2", XPCSData.from_host, g2, T, [0.0, 30.0, 60.0], q=0.005,
                           L=2e6, sigma=0.01)
    assert "(2, 4, 5)" in message  # angle 2, row 4, column 5


# ------------------------------------------------------------------ constructors

def _from_arrays(**changes):
    kw = {"g2": G2, "t": T, "phi": PHI, "q": 0.005, "L": 2e6} | changes
    return XPCSData.from_arrays(kw.pop("g2"), kw.pop("t"), kw.pop("phi"), **kw)


ARRAY_CASES = {
    "complex c2": ({"g2": G2 + 1e-9j}, "g2"),
    "complex sigma": ({"sigma": np.full(G2.shape, 0.01 + 0j)}, "sigma"),
    "phi string": ({"phi": "0, 45"}, "phi"),
    "phi strings": ({"phi": ["0", "45"]}, "phi"),
    "phi objects": ({"phi": [0.0, None]}, "phi"),
    "t string": ({"t": "0.1"}, "t"),
    "t ragged": ({"t": [[0.0, 0.1], [0.2]]}, "t"),
    "q complex": ({"q": 0.005 + 1j}, "q"),
    "L boolean": ({"L": True}, "L"),
    "g2 booleans": ({"g2": G2 > 1.1}, "g2"),
}


@pytest.mark.parametrize("changes, field", ARRAY_CASES.values(), ids=ARRAY_CASES.keys())
def test_from_arrays_refuses(changes, field):
    _field_error(field, _from_arrays, **changes)


def test_complex_c2_is_never_reduced_to_its_real_part():
    message = _field_error("g2", _from_arrays, g2=G2 + 1e-9j)
    assert "complex" in message and "1e-09" in message  # the imaginary part it would drop


HOMODYNE_CASES = {
    "q list strings": ({"wavevector_q_list": ["abc"]}, {}, "wavevector_q_list"),
    "q list negative": ({"wavevector_q_list": [-0.005]}, {}, "wavevector_q_list[0]"),
    "phi list string": ({"phi_angles_list": "0 45"}, {}, "phi"),
    "gap a word": ({}, {"analyzer_parameters": {"geometry": {"stator_rotor_gap": "wide"}}},
                   "analyzer_parameters.geometry.stator_rotor_gap"),
    "dt negative": ({}, {"experimental_data": {"dt": -0.1}}, "experimental_data.dt"),
    "config a list": ({}, [1, 2], "config"),
}


@pytest.mark.parametrize("change, config, field", HOMODYNE_CASES.values(),
                         ids=HOMODYNE_CASES.keys())
def test_from_homodyne_dict_refuses(change, config, field):
    d = {"phi_angles_list": PHI, "c2_exp": G2, "t1": T, "t2": T, "wavevector_q_list": [0.005]}
    _field_error(field, XPCSData.from_homodyne_dict, d | change, config)


def test_inputs_are_not_modified():
    g2, t, phi = G2.copy(), T.astype(np.float32), np.array([45.0, 0.0])
    before = [a.copy() for a in (g2, t, phi)]
    for a in (g2, t, phi):
        a.setflags(write=False)
    XPCSData.from_arrays(g2, t, phi, q=0.005, L=2e6)
    for a, b in zip((g2, t, phi), before, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


# ------------------------------------------------------------------ float32 time axes

@pytest.mark.parametrize("n_t, dt, t0", [(1000, 0.1, 0.0), (600, 2.5e-3, 0.0),
                                         (500, 1e-3, 30.0)])
def test_float32_time_axes_are_accepted(n_t, dt, t0):
    """k·dt in float32 (and a summed axis) has step errors up to ~ulp(max t), far above the
    float64 tolerance 1e-6·dt: e.g. ulp(100 s) = 7.6e-6 s against 1e-7 s for dt = 0.1 s."""
    computed = np.float32(t0) + np.arange(n_t, dtype=np.float32) * np.float32(dt)
    summed = np.float32(t0) + np.concatenate(
        [[0.0], np.cumsum(np.full(n_t - 1, np.float32(dt), dtype=np.float32))]).astype(np.float32)
    g2 = np.ones((1, n_t, n_t), dtype=np.float32)
    ulp = np.finfo(np.float32).eps * (t0 + n_t * dt)  # float32 spacing near max |t|
    for t in (computed, summed, jnp.asarray(computed)):
        assert np.max(np.abs(np.diff(np.asarray(t, np.float64)) - dt)) > 1e-6 * dt  # old: refused
        data = XPCSData.from_arrays(g2, t, [0.0], q=0.005, L=2e6)
        validate_data(data)  # what fit() checks: the stored grid passes at float64
        # stored as a uniform float64 grid (steps equal to float64 round-off at max |t|) ...
        np.testing.assert_allclose(np.diff(np.asarray(data.t)), float(data.dt), rtol=0,
                                   atol=4 * np.finfo(np.float64).eps * (t0 + n_t * dt))
        # ... whose step is dt to the float32 drift of a sum of n terms (≤ n·eps/2 relative)
        assert float(data.dt) == pytest.approx(dt, rel=float(n_t * np.finfo(np.float32).eps))
        given = XPCSData.from_arrays(g2, t, [0.0], q=0.005, L=2e6, dt=dt)  # dt from a config
        validate_data(given)
        np.testing.assert_allclose(np.asarray(given.t), t0 + dt * np.arange(n_t), rtol=1e-12)
    # k·dt (one rounding of each product): the grid stays within 4 ulps of the values given
    data = XPCSData.from_arrays(g2, computed, [0.0], q=0.005, L=2e6)
    np.testing.assert_allclose(np.asarray(data.t), computed.astype(np.float64), rtol=0,
                               atol=4 * ulp)


def test_float32_checks_stay_strict():
    t32 = np.arange(100, dtype=np.float32) * np.float32(0.1)
    bad = t32.copy()
    bad[50:] += np.float32(0.001)  # one step 1% long: far above float32 resolution
    _field_error("t", _from_arrays, g2=np.ones((1, 100, 100)), t=bad, phi=[0.0])
    coarse = np.float32(1e5) + np.arange(10, dtype=np.float32) * np.float32(1e-3)
    message = _field_error("t", _from_arrays, g2=np.ones((1, 10, 10)), t=coarse, phi=[0.0])
    assert "float64" in message  # float32 at 1e5 s cannot resolve 1 ms
    jitter = T + 1e-4 * DT * np.array([0, 1, 0, 1, 0, 1, 0, 1])  # float64: tight as before
    _field_error("t", _from_arrays, t=jitter)
    _from_arrays(t=T * (1 + 1e-12))  # round-off level: accepted


# ------------------------------------------------------------------ solver inputs

def _quadratic(x):
    r = x - jnp.array([1.0, 2.0])
    return 0.5 * jnp.dot(r, r), jnp.eye(2), r


def _solve(x0=(0.5, 0.5), lower=(0.0, 0.0), upper=(3.0, 3.0), **kw):
    return trust_region_solve(_quadratic, jnp.asarray(x0), jnp.asarray(lower),
                              jnp.asarray(upper), **kw)


@pytest.mark.parametrize("kw, field", [
    ({"ftol": -1e-8}, "ftol"), ({"xtol": -1.0}, "xtol"), ({"gtol": np.nan}, "gtol"),
    ({"ftol": np.inf}, "ftol"), ({"xtol": "tight"}, "xtol"),
    ({"lower": (0.0, 0.0, 0.0)}, "bounds"), ({"upper": (3.0,)}, "bounds"),
    ({"x0": ((0.5, 0.5),)}, "x0"), ({"lower": (np.nan, 0.0)}, "bounds"),
    ({"x0": (np.nan, 0.5)}, "x0"),
])
def test_solver_refuses(kw, field):
    _field_error(field, _solve, **kw)


def test_solver_names_a_non_finite_start():
    def nan_at_start(x):
        return jnp.where(x[0] < 0.6, jnp.nan, 1.0) * (x - 1.0)

    res = xpcsfit.least_squares(nan_at_start, jnp.array([0.5, 0.5]))
    assert int(res.status) == NOT_FINITE_AT_START and not bool(res.success)
    assert int(res.nfev) == 1 and "not finite at the starting point" in res.message
    assert "maximum number" not in res.message
    # zero tolerances are allowed (as in scipy): the checks pass them
    _check_inputs(np.zeros(2), 0.0, 1.0, {"ftol": 0.0, "xtol": 0.0, "gtol": 0.0})


# ------------------------------------------------------------------ parameter names

def test_laminar_name_in_a_static_space():
    space = ParameterSpace.create("static_isotropic", 2)
    message = _field_error("initial_parameters.parameter_names", space.canonical,
                           "gamma_dot_t0")
    assert "static_isotropic" in message and "'gamma_dot_t0'" in message
    assert space.canonical("D0") == "D0" and space.canonical("contrast") == "contrast"
    assert ParameterSpace.create("laminar_flow", 2).canonical("phi_0") == "phi0"


def test_laminar_name_in_a_static_fit_config():
    data = _from_arrays()
    config = {"analysis_mode": "static_isotropic", "initial_parameters": {
        "parameter_names": ["D0", "gamma_dot_0"], "values": [1e3, 0.01]}}
    message = _field_error("initial_parameters.parameter_names", xpcsfit.fit, data, config)
    assert "gamma_dot_0" in message and "tuple.index" not in message


@pytest.mark.parametrize("kw, field", [
    ({"bounds": (0.0, jnp.ones(3))}, "bounds[1]"),
    ({"bounds": "wide"}, "bounds"),
    ({"bounds": (0.0, "high")}, "bounds[1]"),
    ({"max_nfev": "10"}, "max_nfev"),
    ({"max_nfev": 2.5}, "max_nfev"),
    ({"x0": ["a", "b"]}, "x0"),
    ({"fun": lambda x: jnp.sum(x)}, "fun"),
])
def test_least_squares_arguments_name_their_field(kw, field):
    args = {"fun": lambda x: x - 1.0, "x0": jnp.zeros(2), **kw}
    fun, x0 = args.pop("fun"), args.pop("x0")
    _field_error(field, xpcsfit.least_squares, fun, x0, **args)


@pytest.mark.parametrize("key, value, field", [
    ("n_starts", "ten", "optimization.nlsq.multi_start.n_starts"),
    ("seed", -1, "optimization.nlsq.multi_start.seed"),
])
def test_multistart_arguments_name_their_key(key, value, field):
    data = xpcsfit.simulate([3e3, 0.6, 20.0], 0.3, 1.0, n_t=8, dt=0.1, phi=[0.0, 40.0],
                            q=0.005, L=2e6, mode="static_isotropic")[0]
    _field_error(field, xpcsfit.fit_nlsq_multistart, data, {"analysis_mode": "static"},
                 **{key: value})


@pytest.mark.parametrize("config, field", [
    ({"initial_parameters": {"parameter_names": ["D0"], "values": {"D0": 1.0}}},
     "initial_parameters.values"),
    ({"physics": [1]}, "physics"),
    ({"optimization": {"nlsq": {"anti_degeneracy": 3}}}, "optimization.nlsq.anti_degeneracy"),
])
def test_config_shapes_that_would_be_ignored_are_refused(config, field):
    _field_error(field, xpcsfit.FitConfig.from_dict, config)
