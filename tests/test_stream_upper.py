"""The host stream of exactly symmetric c2 holds only the pairs t1 < t2 (issue 21).

`StreamPass(pairs="upper")` cuts the upper-pair index into chunks, reads the rows of the
host array (or memory map) that hold each chunk and gathers its pairs: its sums are those
of the in-memory upper-pairs pass, and a hybrid_streaming fit of symmetric data is the
standard fit (same parameters, errors, χ², no ×2 covariance correction). Asymmetric data
keep all pairs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xpcsfit
from fit_cases import LAMINAR_TRUTH, STATIC_TRUTH, make_case, start_config
from xpcsfit.fitting.grid import make_grid_problem
from xpcsfit.fitting.objectives import HostData, Streamed, StreamPass
from xpcsfit.fitting.pairs import upper_pairs
from xpcsfit.fitting.structured import (
    constant_cost,
    grid_cost,
    grid_profile,
    normal_equations,
)

N_PHI, N_T = 3, 23  # 253 upper pairs, rows of 22 … 1 pairs
P = N_T * (N_T - 1) // 2
# Pairs per chunk: smaller than a row (7), not dividing P (50), the whole triangle (253).
CHUNK_PAIRS = (7, 50, 253)


def _data(mode, seed=4):
    data, _ = make_case(mode, n_phi=N_PHI, n_t=N_T, noise=0.01, seed=seed)
    rng = np.random.default_rng(seed)
    s = 0.01 * (1.0 + rng.random((N_PHI, N_T, N_T)))
    sigma = np.triu(s, 1) + np.triu(s, 1).transpose(0, 2, 1) + 0.01 * np.eye(N_T)
    return data, sigma  # per-point σ, exactly symmetric


def _x(mode):
    truth = LAMINAR_TRUTH if mode == "laminar_flow" else STATIC_TRUTH
    rng = np.random.default_rng(1)
    return np.concatenate([0.3 + 0.05 * rng.random(N_PHI), 1.0 + 0.01 * rng.random(N_PHI),
                           truth * 1.2])


def _host(g2, sigma, data):
    return HostData.from_arrays(g2, sigma, np.asarray(data.t), np.asarray(data.phi),
                                float(data.q), float(data.L))


def _assert_close(got, want, rtol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= rtol * np.max(np.abs(want)), (got, want)


def _check_against_memory(host, data, sigma, mode, chunks=CHUNK_PAIRS):
    """Streamed upper sums, cost, constant cost and profile vs the in-memory upper pass."""
    x = _x(mode)
    ref = make_grid_problem(data.g2, sigma, data.t, data.phi, data.q, data.L, mode=mode,
                            convention="paper", chunk_pairs=40, pairs="upper")
    want = jax.jit(normal_equations)(jnp.asarray(x), ref)
    want_cost = float(grid_cost(jnp.asarray(x), ref))
    want_profile = grid_profile(jnp.asarray(x[2 * N_PHI:]), ref)
    for pairs in chunks:
        passes = StreamPass(host, mode, "paper", chunk_points=pairs * N_PHI, pairs="upper")
        assert passes.size == pairs and passes.n_chunks == -(-P // pairs)
        # The same ~760 terms added in another order: ~1e-15 relative; 1e-12 margin.
        for got, exp in zip(passes.sums(x), want, strict=True):
            _assert_close(got, exp, 1e-12)
        np.testing.assert_allclose(passes.cost(x), want_cost, rtol=1e-12)
        # Differences of moments Σwy² ≈ 1e4 × the cost: rounding ~1e-12 relative.
        np.testing.assert_allclose(passes.constant_cost(), float(constant_cost(ref)),
                                   rtol=1e-10)
        cost, contrast, offset = Streamed(passes).profile(x[2 * N_PHI:])
        np.testing.assert_allclose(float(cost), float(want_profile[0]), rtol=1e-9)
        np.testing.assert_allclose(contrast, want_profile[1], rtol=1e-8)
        np.testing.assert_allclose(offset, want_profile[2], rtol=1e-8)


@pytest.mark.parametrize("mode", ["laminar_flow", "static_isotropic"])
@pytest.mark.parametrize("scalar_sigma", [False, True])
def test_upper_stream_equals_the_in_memory_upper_pass(mode, scalar_sigma):
    data, sigma = _data(mode)
    sigma = 0.013 if scalar_sigma else sigma
    host = _host(np.asarray(data.g2), sigma, data)
    assert isinstance(host.sigma, float) == scalar_sigma
    _check_against_memory(host, data, sigma, mode)


def test_upper_stream_of_a_memory_map(tmp_path):
    data, sigma = _data("laminar_flow", seed=9)
    np.save(tmp_path / "c2.npy", np.asarray(data.g2))
    np.save(tmp_path / "sigma.npy", sigma)
    g2 = np.load(tmp_path / "c2.npy", mmap_mode="r")
    sig = np.load(tmp_path / "sigma.npy", mmap_mode="r")
    host = _host(g2, sig, data)
    assert isinstance(host.g2, np.memmap) and isinstance(host.sigma, np.memmap)  # no copy
    _check_against_memory(host, data, sigma, "laminar_flow", chunks=(50,))


class _Recorder:
    """A (n_phi, n_t²) host array that records the index of every read."""

    def __init__(self, array):
        self.array, self.shape, self.keys = array, array.shape, []

    def __getitem__(self, key):
        self.keys.append(key)
        return self.array[key]


@pytest.mark.parametrize("pairs", [7, 50])
def test_a_chunk_reads_only_the_rows_that_hold_it(pairs):
    flat = np.arange(N_PHI * N_T * N_T, dtype=np.float64).reshape(N_PHI, -1)
    data, _ = _data("static_isotropic")
    rec = _Recorder(flat)
    host = HostData(rec, 0.01, np.asarray(data.t), np.asarray(data.phi), 0.005, 2e6)
    passes = StreamPass(host, "static_isotropic", "paper", chunk_points=pairs * N_PHI,
                        pairs="upper")
    idx = upper_pairs(N_T)
    for k in range(passes.n_chunks):
        start = k * passes.size
        block = passes._read(rec, start)
        want = idx[start : start + passes.size]
        np.testing.assert_array_equal(block, flat[:, want])
        (key,) = rec.keys[-1:]
        # One slice: all angles, whole rows i0..i1 of the (t1, t2) grid, nothing else.
        assert key[0] == slice(None) and key[1].step is None
        i0, i1 = want[0] // N_T, want[-1] // N_T
        assert (key[1].start, key[1].stop) == (i0 * N_T, (i1 + 1) * N_T)
    assert len(rec.keys) == passes.n_chunks


def test_bad_pairs_name_raises():
    data, sigma = _data("static_isotropic")
    with pytest.raises(ValueError, match="pairs"):
        StreamPass(_host(np.asarray(data.g2), sigma, data), "static_isotropic", "paper",
                   pairs="lower")


# Screening off in both fits (the same choice for both): it is not under test here and its
# compilation would double the tests' time.
TIGHT = {"optimization.nlsq.ftol": 1e-12, "optimization.nlsq.xtol": 1e-12,
         "optimization.nlsq.gtol": 1e-12, "optimization.nlsq.screening": {"enable": False}}


def _fits(data, mode="laminar_flow"):
    out = {}
    for strategy in ("standard", "hybrid_streaming"):
        cfg = start_config(mode, **TIGHT, **{
            "optimization.nlsq.strategy": strategy,
            "optimization.nlsq.hybrid_streaming": {"chunk_size": 600,
                                                   "gauss_newton_iterations": 200}})
        out[strategy] = xpcsfit.fit(data, cfg)
    return out["standard"], out["hybrid_streaming"]


def _same_answer(ref, res):
    # Same objective minimised to ftol = 1e-12 by the same steps: 1e-6 relative (or 1e-3 σ
    # along flat directions).
    tol = np.maximum(1e-6 * np.abs(ref.parameters), 1e-3 * ref.uncertainties) + 1e-12
    assert np.all(np.abs(res.parameters - ref.parameters) <= tol)
    np.testing.assert_allclose(res.uncertainties, ref.uncertainties, rtol=1e-6)
    np.testing.assert_allclose(res.chi_squared, ref.chi_squared, rtol=1e-9)
    np.testing.assert_allclose(res.reduced_chi_squared, ref.reduced_chi_squared, rtol=1e-9)
    assert res.n_points == ref.n_points


def test_streamed_fit_of_symmetric_data_holds_upper_pairs_and_matches_standard():
    data, _ = make_case("laminar_flow", n_phi=N_PHI, n_t=30, noise=0.01, seed=31)
    ref, res = _fits(data)
    info = res.device_info
    assert res.device_info["strategy"] == "hybrid_streaming"
    assert info.fitted_pairs == ref.device_info.fitted_pairs == "upper"
    # Not duplicated: each independent value streamed once, no ×2 covariance correction.
    assert info.symmetric_data and info.covariance_scale == 1.0
    assert res.n_points == N_PHI * 30 * 29 // 2
    # 600-point chunks of 3 angles: 200 pairs, so ⌈435 / 200⌉ = 3 chunks (5 for all pairs).
    assert info["streaming"]["n_chunks"] == info["n_chunks"] == 3
    assert info["streaming"]["pairs"] == "upper"
    _same_answer(ref, res)


def test_streamed_fit_of_asymmetric_data_keeps_all_pairs():
    sym, _ = make_case("static_isotropic", n_phi=N_PHI, n_t=30, noise=0.01, seed=32)
    g2 = np.array(sym.g2)
    g2[1, 3, 7] += 1e-3  # one element: no longer exactly symmetric
    data = xpcsfit.XPCSData.from_arrays(g2, sym.t, sym.phi, q=sym.q, L=sym.L, dt=sym.dt,
                                        sigma=sym.sigma)
    ref, res = _fits(data, "static_isotropic")
    info = res.device_info
    assert info.fitted_pairs == ref.device_info.fitted_pairs == "all"
    assert not info.symmetric_data and info.covariance_scale == 1.0
    assert res.n_points == N_PHI * 30 * 29
    assert info["streaming"]["n_chunks"] == -(-30 * 30 // 200)
    _same_answer(ref, res)
