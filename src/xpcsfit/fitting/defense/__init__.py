"""The anti-degeneracy layers (DESIGN §6) as composable pure functions and steps."""

from .controller import should_activate
from .cv_penalty import auto_lambda, cv_penalty_rows
from .hierarchical import hierarchical_solve
from .monitor import RESPONSES, GradientMonitor, reset_per_angle
from .shear_weights import apply_angle_weights, shear_weights
from .steps import SearchSpec, defended_solve

__all__ = ["RESPONSES", "GradientMonitor", "SearchSpec", "apply_angle_weights", "auto_lambda",
           "cv_penalty_rows", "defended_solve", "hierarchical_solve", "reset_per_angle",
           "should_activate", "shear_weights"]
