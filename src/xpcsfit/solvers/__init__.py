"""Generic bounded least squares in JAX; knows nothing about XPCS."""

from .covariance import covariance
from .least_squares import LeastSquaresResult, least_squares
from .trust_region import SolverResult, trust_region_solve, trust_region_solve_host

__all__ = ["LeastSquaresResult", "SolverResult", "covariance", "least_squares",
           "trust_region_solve", "trust_region_solve_host"]
