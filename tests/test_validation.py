"""Bad inputs raise ValueError naming the field (DESIGN §8), before any compilation."""

import numpy as np
import pytest

import xpcsfit
from xpcsfit import XPCSData

N_T = 8
G2 = np.ones((2, N_T, N_T)) * 1.2
T = np.arange(N_T) * 0.1
PHI = np.array([0.0, 45.0])


def _kw(**changes):
    kw = {"g2": G2, "t": T, "phi": PHI, "q": 0.005, "L": 2e6, "dt": None, "sigma": None}
    kw.update(changes)
    return kw


def _nan_g2():
    g = G2.copy()
    g[1, 2, 3] = np.nan
    return g


CASES = [
    (_kw(g2=np.ones((2, N_T, N_T + 1))), "g2"),
    (_kw(g2=np.ones((3, N_T, N_T))), "g2"),
    (_kw(g2=np.ones((N_T, N_T))), "g2"),
    (_kw(g2=_nan_g2()), "g2"),
    (_kw(sigma=np.zeros_like(G2)), "sigma"),
    (_kw(sigma=-0.01), "sigma"),
    (_kw(sigma=np.full_like(G2, np.inf)), "sigma"),
    (_kw(sigma=np.ones((2, 3, 3))), "sigma"),
    (_kw(t=np.array([0.0, 0.1, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])), "non-uniform"),
    (_kw(t=np.array([0.0]), g2=np.ones((2, 1, 1))), "t"),
    (_kw(t=T[::-1].copy()), "t"),
    (_kw(phi=np.array([])), "phi"),
    (_kw(phi=np.array([10.0, 10.0])), "duplicate"),
    (_kw(phi=np.array([10.0, np.nan])), "phi"),
    (_kw(q=0.0), "q"),
    (_kw(q=-0.005), "q"),
    (_kw(q=float("nan")), "q"),
    (_kw(L=0.0), "L"),
    (_kw(L=-1.0), "L"),
    (_kw(dt=-0.1), "dt"),
    (_kw(dt=0.2), "dt"),
]


@pytest.mark.parametrize(("kw", "field"), CASES)
def test_from_arrays_rejects(kw, field):
    with pytest.raises(ValueError, match=field):
        XPCSData.from_arrays(kw.pop("g2"), kw.pop("t"), kw.pop("phi"), **kw)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"c2_exp": None}, "c2_exp"), ({"wavevector_q_list": []}, "wavevector_q_list"),
     ({"t2": T + 0.05}, "t1/t2"), ({"t1": np.ones((2, 2, 2))}, "t1")],
)
def test_homodyne_dict_rejects(change, field):
    d = {"phi_angles_list": PHI, "c2_exp": G2, "t1": T, "t2": T, "wavevector_q_list": [0.005]}
    d.update(change)
    with pytest.raises(ValueError, match=field):
        XPCSData.from_homodyne_dict(d, {})


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"q": 0.0}, "q"), ({"L": -2.0}, "L"), ({"t": np.zeros(1)}, "t")],
)
def test_model_rejects(kw, field):
    args = {"q": 0.005, "L": 2e6, "t": T} | kw
    with pytest.raises(ValueError, match=field):
        xpcsfit.g2_model(np.array([1e3, 0.5, 10.0]), 0.4, 1.0, args["t"], PHI, q=args["q"],
                         L=args["L"], mode="static_isotropic")


@pytest.mark.parametrize(("kw", "field"), [({"n_t": 1}, "n_t"), ({"dt": 0.0}, "dt"),
                                           ({"noise": -1.0}, "noise"), ({"mode": "x"}, "mode")])
def test_simulate_rejects(kw, field):
    args = {"n_t": 10, "dt": 0.1, "noise": 0.01, "mode": "static_isotropic"} | kw
    with pytest.raises(ValueError, match=field):
        xpcsfit.simulate([1e3, 0.5, 10.0], 0.4, 1.0, phi=PHI, q=0.005, L=2e6, **args)
