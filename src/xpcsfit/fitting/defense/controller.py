"""The anti-degeneracy controller: whether the layers apply.

Their settings are `FitConfig.defense` (homodyne's `optimization.nlsq.anti_degeneracy`
keys). The layers are active only where degeneracy can occur: laminar flow, more than 3
angles, per-angle scaling (not "constant"), and `enable` true.
"""

from __future__ import annotations


def should_activate(mode: str, n_phi: int, per_angle_mode: str, enabled: bool
                    ) -> tuple[bool, str]:
    """Whether the layers apply, and why (not)."""
    if not enabled:
        return False, "disabled in config"
    if mode != "laminar_flow":
        return False, f"analysis mode {mode} has no shear parameters"
    if n_phi <= 3:
        return False, f"n_phi = {n_phi} <= 3"
    if per_angle_mode == "constant":
        return False, "per-angle values are fixed (constant mode)"
    return True, "laminar_flow with > 3 angles and per-angle scaling"
