"""Test configuration: float64 and strict rank promotion for every test; the CLI's
compilation cache off."""

import os

import jax

# the CLI turns JAX's persistent compilation cache on by default (~/.cache/xpcsfit/jax);
# tests never write there: off unless a test points it at its own tmp_path
os.environ["XPCSFIT_COMPILE_CACHE"] = "off"

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

import pytest  # noqa: E402

import xpcsfit  # noqa: E402,F401  (package import enables x64 as users get it)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    Each XLA:CPU executable maps its code into separate memory regions (~17 for a tiny
    eager op, ~800 for a fit's pipeline with the eager ops around it), and the suite compiles
    thousands of programs: without this the process runs into the kernel's limit of 65,530
    memory maps and XLA crashes mid-compile (seen as a segfault late in the suite)."""
    yield
    jax.clear_caches()
