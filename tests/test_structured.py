"""The structured data pass equals autodiff of the plain residual; chunking changes nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xpcsfit.fitting.grid import make_grid_problem
from xpcsfit.fitting.structured import normal_equations
from xpcsfit.physics.g2 import g2_model
from xpcsfit.solvers.normal_eqs import accumulate

N_T = 24
PHI = jnp.array([-30.0, 10.0, 60.0, 150.0])
T = jnp.arange(N_T) * 0.2
Q, L = 0.005, 2e5


def _case(mode, convention, seed):
    rng = np.random.default_rng(seed)
    p = 7 if mode == "laminar_flow" else 3
    phys = jnp.array([2e3, -0.4, 5.0, 3e-2, 0.3, 1e-3, 4.0])[:p]
    c = jnp.array(rng.uniform(0.2, 0.6, 4))
    o = jnp.array(rng.uniform(0.9, 1.1, 4))
    g2 = g2_model(phys, c, o, T, PHI, q=Q, L=L, mode=mode, convention=convention)
    g2 = g2 + 0.01 * jnp.array(rng.normal(size=g2.shape))
    sigma = jnp.array(rng.uniform(0.005, 0.02, g2.shape))
    x = jnp.concatenate([c * 1.1, o * 0.99, phys * 1.05])
    return g2, sigma, x


def _plain_residual(x, g2, sigma, mode, convention):
    """Independent reference: the model on the full grid, diagonal masked, divided by σ."""
    n = PHI.shape[0]
    model = g2_model(x[2 * n :], x[:n], x[n : 2 * n], T, PHI, q=Q, L=L, mode=mode,
                     convention=convention)
    mask = 1.0 - jnp.eye(N_T)
    return ((g2 - model) * mask[None, :, :] / sigma).ravel()


@pytest.mark.parametrize("mode", ["laminar_flow", "static_isotropic"])
@pytest.mark.parametrize("convention", ["paper", "homodyne"])
@pytest.mark.parametrize("chunk_pairs", [None, 97, N_T * N_T])
def test_pass_matches_jacfwd(mode, convention, chunk_pairs):
    g2, sigma, x = _case(mode, convention, seed=len(mode) + len(convention))
    J = jax.jacfwd(_plain_residual)(x, g2, sigma, mode, convention)
    r = _plain_residual(x, g2, sigma, mode, convention)
    problem = make_grid_problem(g2, sigma, T, PHI, Q, L, mode=mode, convention=convention,
                                chunk_pairs=chunk_pairs)
    cost, jtj, jtr = jax.jit(normal_equations)(x, problem)
    # Sums of ~2000 float64 terms of mixed sign: agreement to ~1e-13 relative to the
    # largest entry; 1e-11 leaves margin for the different summation orders.
    np.testing.assert_allclose(cost, 0.5 * r @ r, rtol=1e-12)
    ref_jtj = J.T @ J
    assert np.max(np.abs(jtj - ref_jtj)) <= 1e-11 * np.max(np.abs(ref_jtj))
    ref_g = J.T @ r
    assert np.max(np.abs(jtr - ref_g)) <= 1e-11 * np.max(np.abs(ref_g))


def test_padding_changes_nothing():
    g2, sigma, x = _case("laminar_flow", "paper", 3)
    one = make_grid_problem(g2, sigma, T, PHI, Q, L, mode="laminar_flow", convention="paper")
    padded = make_grid_problem(g2, sigma, T, PHI, Q, L, mode="laminar_flow",
                               convention="paper", chunk_pairs=100)  # 576 pairs → 24 padded
    assert padded.g2.shape[1] == 600 and padded.n_chunks == 6
    assert np.all(np.asarray(padded.weight[:, 576:]) == 0.0)
    a = normal_equations(x, one)
    b = normal_equations(x, padded)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(u))))


def test_accumulate_sums_chunks():
    values = jnp.arange(12.0).reshape(4, 3)
    total = accumulate(lambda k: {"s": values[k], "n": jnp.ones(())}, 4)
    np.testing.assert_array_equal(total["s"], values.sum(axis=0))
    assert float(total["n"]) == 4.0
    with pytest.raises(ValueError, match="n_chunks"):
        accumulate(lambda k: values[k], 0)
