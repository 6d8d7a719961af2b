"""xpcsfit: pure-JAX fitting of the homodyne two-time XPCS correlation model.

Importing the package enables float64 in JAX (``jax_enable_x64``): every physics
and solver computation here is specified in double precision.
"""

import jax

jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"
