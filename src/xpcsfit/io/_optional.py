"""Optional dependencies of the io extras, imported lazily with a clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

_EXTRA = {"h5py": "io", "yaml": "io", "matplotlib": "plot"}
_PIP = {"yaml": "pyyaml"}


class MissingDependencyError(ImportError):
    """An optional extra (`io` or `plot`) is not installed."""


def require(module: str) -> ModuleType:
    """Import `module` (h5py, yaml or matplotlib) or raise MissingDependencyError naming
    the pip extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRA.get(module, "io")
        raise MissingDependencyError(
            f"{module}: not installed; install it with pip install 'xpcsfit[{extra}]' "
            f"(or pip install {_PIP.get(module, module)})"
        ) from None


def available(module: str) -> bool:
    """True when `module` can be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
