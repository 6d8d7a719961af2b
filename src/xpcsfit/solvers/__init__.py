"""Generic bounded least squares in JAX; knows nothing about XPCS."""

from .covariance import covariance
from .least_squares import LeastSquaresResult, least_squares
from .loss import LOSSES, robust_cost, robust_weights
from .trust_region import SolverResult, trust_region_solve, trust_region_solve_host

__all__ = ["LOSSES", "LeastSquaresResult", "SolverResult", "covariance", "least_squares",
           "robust_cost", "robust_weights", "trust_region_solve", "trust_region_solve_host"]
