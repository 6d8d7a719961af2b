"""Test configuration: float64 and strict rank promotion for every test."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

import xpcsfit  # noqa: E402,F401  (package import enables x64 as users get it)
