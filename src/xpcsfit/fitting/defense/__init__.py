"""The anti-degeneracy layers (DESIGN §6) as composable pure functions, and the controller."""

from .controller import DefenseConfig, should_activate
from .cv_penalty import auto_lambda, cv_penalty_rows, with_penalty
from .hierarchical import hierarchical_solve
from .monitor import gradient_ratio, respond, scan_ratios
from .shear_weights import apply_angle_weights, shear_weights

__all__ = ["DefenseConfig", "apply_angle_weights", "auto_lambda", "cv_penalty_rows",
           "gradient_ratio", "hierarchical_solve", "respond", "scan_ratios", "should_activate",
           "shear_weights", "with_penalty"]
