"""Checks of the paths a user gives, before any work: input files exist, output folders can
be written. Each raises ValueError naming the option or config key (`field`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def existing_file(path: str | Path, field: str) -> Path:
    """`path` if it is an existing file, else ValueError naming `field` (not found, a
    folder, or an OS error such as a name that is too long)."""
    path = Path(path)
    try:
        if path.is_file():
            return path
        if path.is_dir():
            raise ValueError(f"{field}: {path} is a folder, not a file")
    except OSError as err:
        raise ValueError(f"{field}: {path}: {err.strerror or err}") from None
    raise ValueError(f"{field}: file not found: {path}")


def prepare_output_dir(path: str | Path, field: str = "output_dir") -> bool:
    """Make sure `path` is a folder that can be written to, creating it (with its parents)
    if needed, before any work is done. Returns True when it was created.

    **Raises:** ValueError naming `field` and the reason (exists as a file, cannot be
    created, not writable, name too long).
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise ValueError(f"{field}: {path} exists and is not a folder")
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{field}: cannot create {path}: {err.strerror or err}") from None
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".xpcsfit-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{field}: cannot write into {path}: {err.strerror or err}") from None
    return created
