"""One structured data pass: cost, JᵀJ and Jᵀr of the weighted c2 residual.

The residual is r = √w·(c2 − g2) with g2 = o_a + c_a·K_a and K_a = h(E·S_a) (see
`physics.g2`). Its structure makes the pass cheap:

- ∂g2/∂c_a = K_a and ∂g2/∂o_a = 1 touch only angle a's rows, so their JᵀJ blocks are
  per-angle sums, assembled into the full (2n+p)² matrix at the end;
- the diffusion factor E and the shear integral Γ (and their derivatives w.r.t. their
  three parameters, from `jax.linearize` of the small 2-D functions) are shared by all
  angles;
- each angle enters the shear factor only through the scalar u_a, so
  ∂K_a/∂θ_γ = h'·E·(S)'·u_a·∂Γ/∂θ_γ and ∂K_a/∂φ0 = h'·E·(S)'·Γ·∂u_a/∂φ0.

Per angle the pass forms 2+p derivative rows over the pairs (t1, t2) and one batched
weighted Gram product. For exactly symmetric data the pairs are those with t1 < t2 only
(`upper`, see `pairs`): each independent value enters once and a pass costs half. Pairs
are processed in chunks (`lax.scan`) so memory does not grow with the data beyond the data
themselves.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from ..physics.g2 import (
    combine,
    combine_derivative,
    diffusion_factor,
    shear_integral,
    shear_scale,
    sinc,
    sinc_derivative,
)
from ..solvers.loss import robust_cost
from ..solvers.normal_eqs import accumulate, gram_from_rows
from .grid import GridProblem
from .pairs import flat_pairs


class GridPieces(eqx.Module):
    """Angle-independent model pieces flattened over the (t1, t2) pairs (padded)."""

    diffusion: Float[Array, " P"]
    d_diffusion: Float[Array, "3 P"]
    shear: Float[Array, " P"]
    d_shear: Float[Array, "3 P"]

    def slice(self, start, size: int) -> GridPieces:
        """The pieces for pairs start..start+size (a `lax.dynamic_slice`, no copy of the rest)."""
        return GridPieces(
            lax.dynamic_slice_in_dim(self.diffusion, start, size),
            lax.dynamic_slice_in_dim(self.d_diffusion, start, size, axis=1),
            lax.dynamic_slice_in_dim(self.shear, start, size),
            lax.dynamic_slice_in_dim(self.d_shear, start, size, axis=1),
        )


def _flat_linearized(fn, theta3, n_pad: int, upper: bool):
    """Value and 3 tangent columns of a (m, m)-valued fn of 3 parameters, flattened over the
    pairs (`flat_pairs`) and padded to n_pad."""
    value, lin = jax.linearize(lambda th: flat_pairs(fn(th), upper), theta3)
    tangents = jax.vmap(lin)(jnp.eye(3, dtype=theta3.dtype))
    pad = n_pad - value.size
    flat = jnp.pad(value, (0, pad))
    d_flat = jnp.pad(tangents, ((0, 0), (0, pad)))
    return flat, d_flat


def grid_pieces(
    physical: Float[Array, " p"],
    t: Float[Array, " n_t"],
    *,
    q: Float[Array, ""],
    mode: str,
    convention: str,
    n_pad: int,
    index=None,
    upper: bool = False,
) -> GridPieces:
    """E, ∂E/∂(D0, α, D_offset), Γ and ∂Γ/∂(γ̇0, β, γ̇_offset) over all pairs (of the grid
    points `index`, if given; only t1 < t2 if `upper`), padded to n_pad."""
    rest = physical[3:]

    def e_fn(theta_d):
        full = jnp.concatenate([theta_d, rest])
        return diffusion_factor(full, t, q=q, convention=convention, index=index)

    diffusion, d_diffusion = _flat_linearized(e_fn, physical[:3], n_pad, upper)
    if mode == "laminar_flow":

        def g_fn(theta_g):
            full = jnp.concatenate([physical[:3], theta_g, physical[6:]])
            return shear_integral(full, t, convention=convention, index=index)

        shear, d_shear = _flat_linearized(g_fn, physical[3:6], n_pad, upper)
    else:
        shear = jnp.zeros_like(diffusion)
        d_shear = jnp.zeros_like(d_diffusion)
    return GridPieces(diffusion, d_diffusion, shear, d_shear)


def angle_pieces(
    physical: Float[Array, " p"],
    phi: Float[Array, " n_phi"],
    *,
    q: Float[Array, ""],
    L: Float[Array, ""],
    convention: str,
) -> tuple[Float[Array, " n_phi"], Float[Array, " n_phi"]]:
    """u_a and ∂u_a/∂φ0 for every angle (laminar flow)."""
    return jax.jvp(
        lambda p0: shear_scale(p0, phi, q=q, L=L, convention=convention),
        (physical[6],),
        (jnp.ones_like(physical[6]),),
    )


def shear_factor(
    u: Float[Array, " n_phi"], gamma: Float[Array, " m"], *, mode: str
) -> tuple[Float[Array, "n_phi m"], Float[Array, "n_phi m"] | None]:
    """sinc²(u_a·Γ) and its derivative w.r.t. the argument (laminar flow); ones otherwise."""
    if mode != "laminar_flow":
        return jnp.ones((u.shape[0], 1), dtype=gamma.dtype), None
    x = u[:, None] * gamma[None, :]
    s = sinc(x)
    return s * s, 2.0 * s * sinc_derivative(x)


def derivative_rows(
    contrast: Float[Array, " n_phi"],
    u: Float[Array, " n_phi"],
    du: Float[Array, " n_phi"],
    pieces: GridPieces,
    *,
    mode: str,
    convention: str,
) -> tuple[Float[Array, "n_phi m"], Float[Array, "n_phi k m"]]:
    """Kernel K and the rows ∂g2/∂(c_a, o_a, θ) for one chunk of pairs, k = 2 + p."""
    e = pieces.diffusion[None, :]
    shear, d_shear = shear_factor(u, pieces.shear, mode=mode)
    core = e * shear
    kernel = combine(core, 1.0, convention=convention)
    scale = contrast[:, None] * combine_derivative(core, convention=convention)
    rows = [
        kernel[:, None, :],
        jnp.ones_like(kernel)[:, None, :],
        (scale * shear)[:, None, :] * pieces.d_diffusion[None, :, :],
    ]
    if mode == "laminar_flow":
        b = scale * e * d_shear
        rows.append((b * u[:, None])[:, None, :] * pieces.d_shear[None, :, :])
        rows.append((b * pieces.shear[None, :] * du[:, None])[:, None, :])
    return kernel, jnp.concatenate(rows, axis=1)


def assemble(
    gram: Float[Array, "n_phi k k"], moment: Float[Array, "n_phi k"]
) -> tuple[Float[Array, "n n"], Float[Array, " n"]]:
    """Full-layout JᵀJ and Jᵀr (n = 2·n_phi + p) from per-angle blocks.

    The residual is data − model, so J = −√w·rows and Jᵀr = −Σ w·rows·ρ.
    """
    cc = jnp.diag(gram[:, 0, 0])
    co = jnp.diag(gram[:, 0, 1])
    oo = jnp.diag(gram[:, 1, 1])
    c_phys = gram[:, 0, 2:]
    o_phys = gram[:, 1, 2:]
    phys = jnp.sum(gram[:, 2:, 2:], axis=0)
    jtj = jnp.block([[cc, co, c_phys], [co, oo, o_phys], [c_phys.T, o_phys.T, phys]])
    jtr = -jnp.concatenate([moment[:, 0], moment[:, 1], jnp.sum(moment[:, 2:], axis=0)])
    return jtj, jtr


def model_pieces(x: Float[Array, " n"], *, t, phi, q, L, mode: str, convention: str, n_pad: int,
                 index=None, upper: bool = False):
    """Split x and compute the shared pieces once per pass: (contrast, offset, u, du, pieces)."""
    n_phi = phi.shape[0]
    contrast, offset, physical = x[:n_phi], x[n_phi : 2 * n_phi], x[2 * n_phi :]
    pieces = grid_pieces(physical, t, q=q, mode=mode, convention=convention, n_pad=n_pad,
                         index=index, upper=upper)
    if mode == "laminar_flow":
        u, du = angle_pieces(physical, phi, q=q, L=L, convention=convention)
    else:
        u = du = jnp.zeros_like(contrast)
    return contrast, offset, u, du, pieces


def chunk_sums(contrast, offset, u, du, part: GridPieces, data, weight, *, mode, convention,
               loss="linear", f_scale=1.0):
    """Cost and per-angle Gram blocks of one chunk: (½Σwρ², G (n_phi,k,k), h (n_phi,k));
    with a robust `loss`, scipy's rescaling point by point (`solvers.normal_eqs`)."""
    kernel, rows = derivative_rows(contrast, u, du, part, mode=mode, convention=convention)
    resid = data - offset[:, None] - contrast[:, None] * kernel
    return gram_from_rows(rows, weight, resid, loss=loss, f_scale=f_scale)


def grid_values(
    physical: Float[Array, " p"], t: Float[Array, " n_t"], *, q, mode: str, convention: str,
    n_pad: int, index=None, upper: bool = False,
) -> tuple[Float[Array, " P"], Float[Array, " P"]]:
    """E and Γ over the pairs (`flat_pairs`), padded to n_pad, without derivatives (for
    cost-only passes)."""
    e = flat_pairs(diffusion_factor(physical, t, q=q, convention=convention, index=index),
                   upper)
    gamma = (flat_pairs(shear_integral(physical, t, convention=convention, index=index), upper)
             if mode == "laminar_flow" else jnp.zeros_like(e))
    pad = n_pad - e.shape[0]
    return jnp.pad(e, (0, pad)), jnp.pad(gamma, (0, pad))


def chunk_cost(contrast, offset, u, diffusion, gamma, data, weight, *, mode, convention,
               loss="linear", f_scale=1.0):
    """½Σw·ρ² (or the robust cost) of one chunk from the value pieces only (no derivative
    rows)."""
    shear, _ = shear_factor(u, gamma, mode=mode)
    kernel = combine(diffusion[None, :] * shear, 1.0, convention=convention)
    resid = data - offset[:, None] - contrast[:, None] * kernel
    if loss == "linear":
        return 0.5 * jnp.sum(weight * resid * resid)
    return robust_cost(resid, loss, f_scale, weight)


def value_pieces(x, *, t, phi, q, L, mode: str, convention: str, n_pad: int, index=None,
                 upper: bool = False):
    """(contrast, offset, u, E, Γ) at x: the pieces of a cost-only pass (no derivatives)."""
    n_phi = phi.shape[0]
    physical = x[2 * n_phi :]
    u = (angle_pieces(physical, phi, q=q, L=L, convention=convention)[0]
         if mode == "laminar_flow" else jnp.zeros((n_phi,), x.dtype))
    e, gamma = grid_values(physical, t, q=q, mode=mode, convention=convention, n_pad=n_pad,
                           index=index, upper=upper)
    return x[:n_phi], x[n_phi : 2 * n_phi], u, e, gamma


def _problem_values(x: Float[Array, " n"], problem: GridProblem):
    """`value_pieces` at x for the grid of `problem`."""
    return value_pieces(x, t=problem.t, phi=problem.phi, q=problem.q, L=problem.L,
                        mode=problem.mode, convention=problem.convention,
                        n_pad=problem.g2.shape[1], index=problem.index, upper=problem.upper)


def grid_cost(x: Float[Array, " n"], problem: GridProblem) -> Float[Array, ""]:
    """½‖r‖² at x in one pass without derivative rows (~4× cheaper than the full pass)."""
    contrast, offset, u, e, gamma = _problem_values(x, problem)
    size = problem.chunk_size

    def chunk(k):
        start = k * size
        return chunk_cost(contrast, offset, u, lax.dynamic_slice_in_dim(e, start, size),
                          lax.dynamic_slice_in_dim(gamma, start, size),
                          lax.dynamic_slice_in_dim(problem.g2, start, size, axis=1),
                          lax.dynamic_slice_in_dim(problem.weight, start, size, axis=1),
                          mode=problem.mode, convention=problem.convention,
                          loss=problem.loss, f_scale=problem.f_scale)

    return accumulate(chunk, problem.n_chunks)


def normal_equations(
    x: Float[Array, " n"], problem: GridProblem
) -> tuple[Float[Array, ""], Float[Array, "n n"], Float[Array, " n"]]:
    """Cost ½‖r‖², JᵀJ and Jᵀr at the full-layout vector x in one pass over the data."""
    contrast, offset, u, du, pieces = model_pieces(
        x, t=problem.t, phi=problem.phi, q=problem.q, L=problem.L, mode=problem.mode,
        convention=problem.convention, n_pad=problem.g2.shape[1], index=problem.index,
        upper=problem.upper,
    )
    size = problem.chunk_size

    def chunk(k):
        start = k * size
        return chunk_sums(
            contrast, offset, u, du, pieces.slice(start, size),
            lax.dynamic_slice_in_dim(problem.g2, start, size, axis=1),
            lax.dynamic_slice_in_dim(problem.weight, start, size, axis=1),
            mode=problem.mode, convention=problem.convention, loss=problem.loss,
            f_scale=problem.f_scale,
        )

    cost, gram, moment = accumulate(chunk, problem.n_chunks)
    jtj, jtr = assemble(gram, moment)
    return cost, jtj, jtr


def grid_profile(physical: Float[Array, " p"], problem: GridProblem):
    """The exact per-angle optimum at fixed physical parameters, from one pass without
    derivatives: per angle the moments Σw, ΣwK, ΣwK², Σwy, ΣwKy, Σwy² give (contrast,
    offset) by weighted linear least squares (a 2×2 solve) and the profiled cost
    ½Σ_a (Σwy² − bᵀ·(c, o)). Returns (cost, contrast (n_phi,), offset (n_phi,)).

    The per-angle values are unconstrained (as in varpro); a singular angle (K constant
    over its points) gets the least-norm solution."""
    n_phi = problem.phi.shape[0]
    x = jnp.concatenate([jnp.ones(n_phi), jnp.zeros(n_phi), physical])
    _, _, u, e, gamma = _problem_values(x, problem)
    size = problem.chunk_size

    def chunk(k):
        start = k * size
        shear, _ = shear_factor(u, lax.dynamic_slice_in_dim(gamma, start, size),
                                mode=problem.mode)
        kernel = combine(lax.dynamic_slice_in_dim(e, start, size)[None, :] * shear, 1.0,
                         convention=problem.convention)
        kernel = jnp.broadcast_to(kernel, (n_phi, size))
        y = lax.dynamic_slice_in_dim(problem.g2, start, size, axis=1)
        w = lax.dynamic_slice_in_dim(problem.weight, start, size, axis=1)
        return jnp.stack([jnp.sum(w, 1), jnp.sum(w * kernel, 1), jnp.sum(w * kernel**2, 1),
                          jnp.sum(w * y, 1), jnp.sum(w * kernel * y, 1), jnp.sum(w * y * y, 1)],
                         axis=1)

    m = accumulate(chunk, problem.n_chunks)  # (n_phi, 6)
    gram = jnp.stack([jnp.stack([m[:, 2], m[:, 1]], -1), jnp.stack([m[:, 1], m[:, 0]], -1)], -2)
    rhs = jnp.stack([m[:, 4], m[:, 3]], -1)
    sol = jnp.einsum("aij,aj->ai", jnp.linalg.pinv(gram), rhs)
    cost = 0.5 * jnp.sum(m[:, 5] - jnp.sum(rhs * sol, axis=1))
    return cost, sol[:, 0], sol[:, 1]


def constant_cost(problem: GridProblem) -> Float[Array, ""]:
    """½χ² of the per-angle constant model c2 = o_a (no signal): Σ_a ½(Σwy² − (Σwy)²/Σw)."""
    w, y = problem.weight, problem.g2
    sw, swy, swyy = jnp.sum(w, 1), jnp.sum(w * y, 1), jnp.sum(w * y * y, 1)
    return 0.5 * jnp.sum(swyy - swy**2 / jnp.where(sw > 0, sw, 1.0))
