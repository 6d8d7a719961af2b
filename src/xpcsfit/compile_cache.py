"""JAX's persistent compilation cache: a second process reuses the first one's compiles.

One call turns it on (``xpcsfit.enable_compile_cache()``); the command line does it by
default. The folder is, in order: the `path` argument, the environment variable
``XPCSFIT_COMPILE_CACHE`` (a folder, or ``off``), ``$XDG_CACHE_HOME/xpcsfit/jax``,
``~/.cache/xpcsfit/jax``. Every entry is cached (no minimum compile time or size), since
a fit compiles many small functions besides its main one.

JAX does not cache an executable that holds a host callback (e.g. a progress callback
compiled into the fit), so a cached fit runs without per-iteration progress.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

logger = logging.getLogger(__name__)

ENV_VAR = "XPCSFIT_COMPILE_CACHE"
OFF = ("off", "none", "0", "false", "no")
"""Values of the flag or the environment variable that turn the cache off."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/xpcsfit/jax`` when XDG_CACHE_HOME is set, else
    ``~/.cache/xpcsfit/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xpcsfit" / "jax"


def resolve_cache_dir(value: str | os.PathLike | None = None, *,
                      field: str = "path") -> Path | None:
    """The cache folder `value` asks for (None: the environment variable, then the default);
    None when the cache is off ("off", "none", "0", "false", "no", any case)."""
    if value is None:
        value, field = os.environ.get(ENV_VAR) or None, ENV_VAR
    if value is None:
        return default_cache_dir()
    text = os.fspath(value)
    if not text.strip():
        raise ValueError(f"{field}: empty cache folder (give a folder or 'off')")
    if text.strip().lower() in OFF:
        return None
    return Path(text).expanduser()


def enable_compile_cache(path: str | os.PathLike | None = None, *,
                         field: str = "path") -> Path | None:
    """Turn on JAX's persistent compilation cache in `path` (see the module docstring for
    the default and ``off``); returns the folder used, or None when it is off.

    The folder is created; a folder that cannot be created is a ValueError naming `field`.
    Affects the whole process (a JAX setting), like ``jax_enable_x64``::

        import xpcsfit
        xpcsfit.enable_compile_cache()   # ~/.cache/xpcsfit/jax
    """
    folder = resolve_cache_dir(path, field=field)
    if folder is None:
        logger.info("persistent compilation cache off")
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{field}: cannot create the compilation cache folder {folder}: "
                         f"{err.strerror or err}") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{field}: the compilation cache folder {folder} is not writable")
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    _jax_cache.reset_cache()  # takes effect even after something was compiled
    logger.info("persistent compilation cache in %s", folder)
    return folder
