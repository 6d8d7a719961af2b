"""The suite registry: names → modules, loaded lazily, each run through one contract.

Contract: a suite module exposes `run(quick: bool = False) -> None`, which prints a
Markdown table and writes benchmarks/results/<suite>.json via `common.write_json`.
A suite whose module is missing, fails to import or breaks the contract fails alone,
with a one-line reason (`SuiteError`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

SUITES = {
    "solver": "benchmarks.solver_vs_scipy",
    "fit": "benchmarks.fit_vs_scipy",
    "scaling": "benchmarks.scaling",
    "streaming": "benchmarks.streaming",
    "degeneracy": "benchmarks.degeneracy",
    "screening": "benchmarks.screening",
    "batch": "benchmarks.batch",
    "many": "benchmarks.many",
    "distributed": "benchmarks.distributed",
}


class SuiteError(RuntimeError):
    """A suite cannot be run; the message says which and why, in one line."""


def load_suite(name: str, suites: dict[str, str] = SUITES) -> Callable[..., None]:
    """The `run` function of suite `name`, checked against the contract."""
    if name not in suites:
        raise SuiteError(f"suite {name!r}: unknown; choose from {', '.join(suites)}")
    module_name = suites[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            raise SuiteError(f"suite {name!r}: module {module_name} does not exist") from err
        raise SuiteError(f"suite {name!r}: importing {module_name} failed: {err}") from err
    except Exception as err:  # a broken suite must not stop the others
        raise SuiteError(f"suite {name!r}: importing {module_name} failed: "
                         f"{type(err).__name__}: {err}") from err
    run = getattr(module, "run", None)
    if not callable(run):
        raise SuiteError(f"suite {name!r}: {module_name} has no run(quick: bool = False)")
    params = inspect.signature(run).parameters
    if "quick" not in params:
        raise SuiteError(f"suite {name!r}: {module_name}.run{inspect.signature(run)} does not "
                         "take `quick` (contract: run(quick: bool = False) -> None)")
    return run


def run_suite(name: str, quick: bool, suites: dict[str, str] = SUITES) -> str | None:
    """Run one suite; return None on success or a one-line failure reason."""
    try:
        load_suite(name, suites)(quick=quick)
    except SuiteError as err:
        return str(err)
    except Exception as err:  # report and go on with the next suite
        return f"suite {name!r}: {type(err).__name__}: {err}".splitlines()[0]
    return None
