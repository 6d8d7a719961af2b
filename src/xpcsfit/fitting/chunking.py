"""Angle stratification of the chunks of a data pass (DESIGN §5).

Chunk-wise work (streamed warmup, per-chunk sums) is biased if a chunk lacks some angle,
because each angle has its own contrast and offset. xpcsfit stores c2 per angle over the
same (t1, t2) grid and chunks the *pairs*, so every chunk holds all angles of its pairs:
stratification is structural — each chunk carries every angle in exactly equal numbers,
with no copy and no index permutation. This module makes the DESIGN's decision explicit,
reports it, and checks the guarantee.
"""

from __future__ import annotations

import dataclasses

import numpy as np

MIN_POINTS = 100_000
MAX_IMBALANCE = 5.0


@dataclasses.dataclass(frozen=True)
class StratificationDecision:
    """Whether the DESIGN's conditions for stratified chunks hold, and why (not)."""

    use: bool
    reason: str
    n_points: int
    n_phi: int
    imbalance: float


def should_stratify(points_per_angle, *, per_angle_scaling: bool = True,
                    min_points: int = MIN_POINTS, max_imbalance: float = MAX_IMBALANCE
                    ) -> StratificationDecision:
    """Stratify iff n ≥ min_points, per-angle scaling on, > 1 angle and max/min points per
    angle ≤ max_imbalance; `reason` names the failing condition with its numbers."""
    counts = np.asarray(points_per_angle, dtype=np.int64)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts < 0):
        raise ValueError(f"points_per_angle: expected non-negative counts, got {counts!r}")
    n = int(counts.sum())
    imbalance = float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")
    if n < min_points:
        reason = f"n_points {n} < {min_points}"
    elif not per_angle_scaling:
        reason = "per-angle scaling is off"
    elif counts.size < 2:
        reason = "a single angle"
    elif imbalance > max_imbalance:
        reason = f"angle imbalance {imbalance:.3g} > {max_imbalance}"
    else:
        return StratificationDecision(True, "all conditions met", n, int(counts.size), imbalance)
    return StratificationDecision(False, reason, n, int(counts.size), imbalance)


def check_grid_chunks(weight, chunk_size: int) -> dict:
    """Assert every chunk with fitted points holds every angle in equal numbers.

    **Returns:** a report {n_chunks, points_per_chunk_min, points_per_chunk_max}.
    """
    w = np.asarray(weight) > 0
    n_phi, total = w.shape
    per_chunk = w.reshape(n_phi, total // chunk_size, chunk_size).sum(axis=2)  # (n_phi, k)
    active = per_chunk.sum(axis=0) > 0
    assert np.all(per_chunk[:, active] > 0), "a chunk lacks some angle"
    assert np.all(per_chunk[:, active] == per_chunk[:1, active]), "angles unequal in a chunk"
    counts = per_chunk[0, active]
    return {"n_chunks": int(per_chunk.shape[1]), "points_per_angle_per_chunk_min": int(counts.min()),
            "points_per_angle_per_chunk_max": int(counts.max())}
