"""FLOP, transcendental and byte counts of one fused data pass, from the pass's structure.

The pass (`xpcsfit.fitting.structured.normal_equations`, paper convention) computes the
cost ½Σwρ², JᵀJ and Jᵀr over n_phi angles × P pairs (t1, t2) (P = n_t² padded up to whole
chunks; the diagonal and padding carry weight 0 but are computed). With k = 2 + p
derivative rows per point (p = 3 physical parameters for static_isotropic, 7 for
laminar_flow), counting each add/multiply/divide/compare/select as one FLOP and
sin/cos/exp/sqrt as one transcendental:

per point (angle, pair):
    Gram  Σ w·v vᵀ      2k² (einsum, full k×k)  + k (w·v)
    moment Σ w·v ρ      2k
    residual, cost      6  (ρ = d − o − c·K; w·ρ·ρ and the sum)
    derivative rows     static: 6; laminar: 45 (sinc 12, sinc' 15, rows 12, the rest 6)
    transcendentals     static: 0; laminar: 3 (sin in sinc; sin, cos in sinc')
per pair (shared by all angles; `jax.linearize` of E and Γ):
    E and ∂E (3 tangents)  19 FLOPs, 2 transcendentals (sqrt, exp)
    Γ and ∂Γ (laminar)     4 FLOPs

so FLOPs = n_phi·P·(2k² + 3k + 6 + r) + P·c with (r, c) = (6, 19) or (45, 23).

Compulsory bytes (the traffic no implementation of this pass can avoid, float64):
the data and weights read once, 16 B per point, and the shared per-pair pieces
(E, ∂E×3 and, for laminar flow, Γ, ∂Γ×3) written once and read once, 2·8·n_pieces B per
pair. Per-chunk derivative rows are meant to stay in cache and are not counted.
"""

from __future__ import annotations

import dataclasses

N_PHYSICAL = {"static_isotropic": 3, "laminar_flow": 7}
ROW_FLOPS = {"static_isotropic": 6, "laminar_flow": 45}
ROW_TRANSCENDENTALS = {"static_isotropic": 0, "laminar_flow": 3}
PAIR_FLOPS = {"static_isotropic": 19, "laminar_flow": 23}
PAIR_TRANSCENDENTALS = 2
PIECES = {"static_isotropic": 4, "laminar_flow": 8}
BYTES = 8  # float64


@dataclasses.dataclass(frozen=True)
class PassCount:
    """Work of one pass: FLOPs, transcendentals and compulsory bytes."""

    flops: float
    transcendentals: float
    bytes: float

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def rows_per_point(mode: str) -> int:
    """k = 2 + p: derivative rows per point (contrast, offset, physical parameters)."""
    return 2 + N_PHYSICAL[mode]


def point_flops(mode: str) -> int:
    """FLOPs per (angle, pair) point: Gram, moment, residual/cost and derivative rows."""
    k = rows_per_point(mode)
    return 2 * k * k + k + 2 * k + 6 + ROW_FLOPS[mode]


def pass_count(n_phi: int, n_pairs: int, mode: str, grid_pairs: int | None = None
               ) -> PassCount:
    """Counts of one pass over n_phi angles and n_pairs (padded) pairs; see the module doc.
    `grid_pairs`: the pairs the shared pieces (E, Γ and their tangents) are evaluated on
    (the whole n_t² grid when only t1 < t2 are fitted; default n_pairs)."""
    if mode not in N_PHYSICAL:
        raise ValueError(f"mode: unknown analysis mode {mode!r}; expected one of {tuple(N_PHYSICAL)}")
    grid = n_pairs if grid_pairs is None else grid_pairs
    points = n_phi * n_pairs
    flops = points * point_flops(mode) + grid * PAIR_FLOPS[mode]
    transcendentals = points * ROW_TRANSCENDENTALS[mode] + grid * PAIR_TRANSCENDENTALS
    data_bytes = 2 * BYTES * points
    piece_bytes = 2 * BYTES * PIECES[mode] * n_pairs
    return PassCount(float(flops), float(transcendentals), float(data_bytes + piece_bytes))


def roofline_seconds(count: PassCount, flops_per_s: float, bytes_per_s: float) -> float:
    """Lower bound on the pass time: max(FLOPs / FLOP rate, bytes / byte rate)."""
    return max(count.flops / flops_per_s, count.bytes / bytes_per_s)
