"""L4: gradient-collapse monitor.

ratio = ‖∇_physical‖/‖∇_per-angle‖ at each solver iteration; when it stays below the
threshold (0.01) for `patience` (5) consecutive iterations the per-angle parameters are
absorbing the signal, and the configured response runs: warn | hierarchical | reset
(per-angle values to their means) | abort.
"""

from __future__ import annotations

import numpy as np

RESPONSES = ("warn", "hierarchical", "reset", "abort")


def gradient_ratio(grad_full, n_phi: int) -> float:
    """‖∇phys‖/‖∇per-angle‖ of a full-layout gradient (a tiny denominator is guarded)."""
    g = np.asarray(grad_full, dtype=np.float64)
    per_angle = np.linalg.norm(g[: 2 * n_phi])
    return float(np.linalg.norm(g[2 * n_phi :]) / max(per_angle, 1e-300))


def scan_ratios(ratios, threshold: float = 0.01, patience: int = 5) -> int:
    """Index at which `patience` consecutive ratios below `threshold` complete, or −1."""
    run = 0
    for i, ratio in enumerate(ratios):
        run = run + 1 if ratio < threshold else 0
        if run >= patience:
            return i
    return -1


def respond(response: str, x_full, n_phi: int) -> tuple[np.ndarray, str]:
    """Apply a response to a full-layout vector: (new x, action description)."""
    if response not in RESPONSES:
        raise ValueError(f"optimization.nlsq.anti_degeneracy.gradient_monitoring.response: "
                         f"unknown {response!r}; expected one of {RESPONSES}")
    x = np.array(x_full, dtype=np.float64)
    if response == "reset":
        x[:n_phi] = x[:n_phi].mean()
        x[n_phi : 2 * n_phi] = x[n_phi : 2 * n_phi].mean()
        return x, "per-angle contrast and offset reset to their means"
    return x, {"warn": "warning recorded", "hierarchical": "hierarchical stage requested",
               "abort": "fit marked failed"}[response]
