"""xpcsfit: pure-JAX fitting of the homodyne two-time XPCS correlation model.

Importing the package enables float64 in JAX (``jax_enable_x64``): every physics
and solver computation here is specified in double precision.
"""

import jax

jax.config.update("jax_enable_x64", True)

from .compile_cache import enable_compile_cache  # noqa: E402
from .data import XPCSData  # noqa: E402
from .fitting.api import fit, fit_nlsq_jax  # noqa: E402
from .fitting.config import FitConfig  # noqa: E402
from .fitting.joint import fit_joint  # noqa: E402
from .fitting.many import fit_many  # noqa: E402
from .fitting.memory import estimate_peak_memory_gb, select_strategy  # noqa: E402
from .fitting.multistart import fit_nlsq_multistart  # noqa: E402
from .fitting.result import OptimizationResult  # noqa: E402
from .physics.g2 import g2_model  # noqa: E402
from .physics.parameters import ParameterSpace  # noqa: E402
from .physics.simulate import simulate  # noqa: E402
from .solvers.least_squares import least_squares  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name: str):
    """`xpcsfit.io` (files, configs, figures) is imported on first use, so `import xpcsfit`
    stays free of file-format code while `xpcsfit.io.load_config(…)` works directly."""
    if name == "io":
        import importlib

        return importlib.import_module(".io", __name__)
    raise AttributeError(f"module 'xpcsfit' has no attribute {name!r}")

__all__ = [
    "FitConfig",
    "OptimizationResult",
    "ParameterSpace",
    "XPCSData",
    "enable_compile_cache",
    "estimate_peak_memory_gb",
    "fit",
    "fit_joint",
    "fit_many",
    "fit_nlsq_jax",
    "fit_nlsq_multistart",
    "g2_model",
    "io",
    "least_squares",
    "select_strategy",
    "simulate",
]
