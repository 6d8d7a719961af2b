"""Joint fit across q-bins (issue 19): shared physics recovers the truth with smaller
errors than any single q; differing physics is reported inconsistent; the joint answer is
the minimum of the stacked residual (checked with scipy); bad input before compiling."""

import numpy as np
import pytest

import xpcsfit
from xpcsfit.fitting.joint import joint_start
from xpcsfit.physics.g2 import g2_model

QS = (0.004, 0.005, 0.006)
TRUTH = {"D0": 2e4, "alpha": 0.7, "D_offset": 100.0}
CFG = {"analysis_mode": "static_isotropic"}


def _bins(d0s, seed=0):
    """Three q-bins (3 angles × 40 frames each; q²∫D reaches 1.6–3.6 at the last frame, so
    every bin decays) with D0 = d0s[k] and the other physics shared."""
    out = []
    for k, (q, d0) in enumerate(zip(QS, d0s, strict=True)):
        data, _ = xpcsfit.simulate([d0, TRUTH["alpha"], TRUTH["D_offset"]], 0.4, 1.0, n_t=40,
                                   dt=0.1, phi=[0.0, 30.0, 60.0], q=q, L=2e6,
                                   mode="static_isotropic", noise=0.01, seed=seed + k)
        out.append(data)
    return out


@pytest.fixture(scope="module")
def shared():
    bins = _bins([TRUTH["D0"]] * 3)
    singles = xpcsfit.fit_many(bins, CFG)
    return bins, singles, xpcsfit.fit_joint(bins, CFG, singles=singles)


def test_joint_recovers_truth_with_smaller_errors(shared):
    bins, singles, joint = shared
    assert joint.quality_flag == "good"
    for name, truth in TRUTH.items():
        se = joint.uncertainty(name)
        assert abs(joint.value(name) - truth) < 3 * se, (name, joint.value(name), se)
        for single in singles:  # every q alone knows less
            assert se < single.uncertainty(name), (name, se, single.uncertainty(name))
    report = joint.device_info["joint"]
    assert report["q"] == pytest.approx(QS)
    assert report["consistency"]["consistent"], report["consistency"]
    assert len(joint.parameters) == 2 * 9 + 3  # per-(q, φ) contrast and offset, shared θ


def test_joint_per_q_chi2_sums_to_the_total(shared):
    """The per-q χ² (host NumPy model per bin) add up to the fit's χ² (the Gram pass)."""
    bins, _, joint = shared
    report = joint.device_info["joint"]["bins"]
    assert sum(b["chi2"] for b in report) == pytest.approx(joint.chi_squared, rel=1e-9)
    assert [b["angles"] for b in report] == [[0, 3], [3, 6], [6, 9]]


def test_joint_is_the_minimum_of_the_stacked_residual(shared):
    """scipy's trf on the stacked residual of all bins (an independent solver and model
    assembly), from the same start, reaches the same parameters."""
    scipy_opt = pytest.importorskip("scipy.optimize")
    bins, singles, joint = shared
    n_all = sum(d.n_phi for d in bins)
    masks = [~np.eye(d.n_t, dtype=bool) for d in bins]

    def residual(x):
        out, start = [], 0
        for d, mask in zip(bins, masks, strict=True):
            m = d.n_phi
            model = np.asarray(g2_model(x[2 * n_all:], x[start:start + m],
                                        x[n_all + start:n_all + start + m], d.t, d.phi,
                                        q=d.q, L=d.L, mode="static_isotropic"))
            out.append(((np.asarray(d.g2) - model) / np.asarray(d.sigma))[:, mask].ravel())
            start += m
        return np.concatenate(out)

    # σ: the bins carry no σ, so each fit used its estimate; use the joint's (per bin)
    bins = [d if not d.sigma_is_default else _with_estimated_sigma(d) for d in bins]
    x0 = joint_start(singles, [d.n_phi for d in bins])
    lower = np.r_[np.zeros(n_all), 0.5 * np.ones(n_all), 1.0, -2.0, -1e5]
    upper = np.r_[np.ones(n_all), 1.5 * np.ones(n_all), 1e6, 2.0, 1e5]
    ref = scipy_opt.least_squares(residual, np.clip(x0, lower, upper), bounds=(lower, upper),
                                  method="trf", x_scale="jac", ftol=1e-12, xtol=1e-12,
                                  gtol=1e-12)
    cost = 0.5 * float(np.sum(residual(np.asarray(joint.parameters)) ** 2))
    assert cost <= ref.cost * (1 + 1e-9)  # xpcsfit is at least as low
    se = np.asarray(joint.uncertainties)
    assert np.all(np.abs(ref.x - joint.parameters) < 1e-2 * se)


def _with_estimated_sigma(d):
    from xpcsfit.fitting.sigma import resolve_sigma

    return resolve_sigma(d, True, False)[0]


def test_differing_d0_is_reported_inconsistent():
    bins = _bins([TRUTH["D0"], TRUTH["D0"], 1.3 * TRUTH["D0"]])
    with pytest.warns(UserWarning, match="q-bins disagree"):
        joint = xpcsfit.fit_joint(bins, CFG)
    check = joint.device_info["joint"]["consistency"]
    assert not check["consistent"] and check["p_value"] < 1e-6, check
    z = joint.device_info["joint"]["bins"][2]["z"]["D0"]
    assert z > 3  # the odd bin's own D0 lies far above the joint value


def test_joint_bad_input():
    a, b = _bins([TRUTH["D0"]] * 2 + [TRUTH["D0"]])[:2]
    with pytest.raises(ValueError, match=r"datasets: empty list"):
        xpcsfit.fit_joint([], CFG)
    with pytest.raises(ValueError, match=r"at least 2 q-bins, got 1"):
        xpcsfit.fit_joint([a], CFG)
    other, _ = xpcsfit.simulate([2e4, 0.7, 100.0], 0.4, 1.0, n_t=40, dt=0.2, phi=[0.0],
                                q=0.005, L=2e6, mode="static_isotropic")
    with pytest.raises(ValueError, match=r"datasets\[1\]\.t: the joint fit needs one time "
                                         r"grid"):
        xpcsfit.fit_joint([a, other], CFG)
    short, _ = xpcsfit.simulate([2e4, 0.7, 100.0], 0.4, 1.0, n_t=30, dt=0.1, phi=[0.0],
                                q=0.005, L=2e6, mode="static_isotropic")
    with pytest.raises(ValueError, match=r"datasets\[2\]\.t: .*30 times"):
        xpcsfit.fit_joint([a, b, short], CFG)
    g2 = np.asarray(a.g2)
    assert np.array_equal(np.asarray(a.g2), g2)  # the caller's data untouched


def test_joint_through_varpro_matches_individual(shared):
    """The joint fit goes through the per-angle modes: varpro (contrast/offset eliminated
    exactly) reaches the same shared physics as individual."""
    bins, singles, joint = shared
    cfg = xpcsfit.FitConfig.create(analysis_mode="static_isotropic", per_angle_mode="varpro")
    vp = xpcsfit.fit_joint(bins, cfg, singles=singles)
    assert vp.device_info["per_angle_mode"] == "varpro"
    se = np.asarray(joint.uncertainties)[-3:]
    assert np.all(np.abs(np.asarray(vp.parameters)[-3:] - joint.parameters[-3:]) < 1e-3 * se)
    assert vp.chi_squared == pytest.approx(joint.chi_squared, rel=1e-8)
