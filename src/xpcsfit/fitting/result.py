"""OptimizationResult: what a fit returns, with quality flags and JSON export."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax.numpy as jnp
import numpy as np

GOOD_CHI2 = 2.0
MARGINAL_CHI2 = 5.0


CONVERGENCE = ("converged", "partial", "failed")
QUALITY = ("good", "marginal", "poor")


def convergence_code(success, finite, improved):
    """Index into `CONVERGENCE`: converged (a tolerance was met), partial (stopped early but
    improved), else failed. Traceable."""
    return jnp.where(~finite, 2, jnp.where(success, 0, jnp.where(improved, 1, 2)))


def quality_code(reduced_chi2, convergence):
    """Index into `QUALITY`: good (χ²_red < 2 and converged), marginal (χ²_red < 5 and not
    failed), else poor. Traceable."""
    ok = jnp.isfinite(reduced_chi2) & (convergence != 2)
    return jnp.where(ok & (convergence == 0) & (reduced_chi2 < GOOD_CHI2), 0,
                     jnp.where(ok & (reduced_chi2 < MARGINAL_CHI2), 1, 2))


def convergence_status(success: bool, finite: bool, improved: bool) -> str:
    """The `CONVERGENCE` string (host values)."""
    return CONVERGENCE[int(convergence_code(success, finite, improved))]


def quality_flag(reduced_chi2: float, status: str) -> str:
    """The `QUALITY` string for a χ²_red and a convergence status (host values)."""
    return QUALITY[int(quality_code(reduced_chi2, CONVERGENCE.index(status)))]


def jsonable(value: Any) -> Any:
    """A JSON-safe copy (arrays → lists, non-finite floats → null / "inf", dataclasses → dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray) or hasattr(value, "__array__") and not isinstance(value, str):
        return jsonable(np.asarray(value).tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


@dataclasses.dataclass(frozen=True)
class OptimizationResult:
    """The outcome of a fit, always in the full layout ``[c_0..c_{n−1}, o_0..o_{n−1}, *physical]``.

    Angles are in ascending order of φ (the order of `XPCSData.phi`). χ² = Σ r² over the
    fitted (off-diagonal) points, reduced by (n_points − n_free).
    """

    parameters: np.ndarray
    uncertainties: np.ndarray
    covariance: np.ndarray
    chi_squared: float
    reduced_chi_squared: float
    success: bool
    message: str
    iterations: int
    execution_time: float
    convergence_status: str
    quality_flag: str
    device_info: dict[str, Any]
    parameter_names: tuple[str, ...]
    n_points: int = 0
    n_free: int = 0
    nfev: int = 0
    initial_parameters: np.ndarray | None = None
    warnings: tuple[str, ...] = ()
    recovery_actions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    sigma_is_default: bool = False
    quality_reasons: tuple[str, ...] = ()
    sigma_source: str = "given"
    nlsq_diagnostics: dict[str, Any] | None = None
    streaming_diagnostics: dict[str, Any] | None = None
    stratification_diagnostics: dict[str, Any] | None = None

    @property
    def analysis_mode(self) -> str:
        """The model fitted (homodyne's result readers look for this attribute)."""
        return str(self.device_info.get("analysis_mode", "unknown"))

    @property
    def optimization_time(self) -> float:
        """Alias of `execution_time` [s] (homodyne's result readers)."""
        return self.execution_time

    def value(self, name: str) -> float:
        """The fitted value of one parameter by full-layout name (e.g. "D0", "contrast[2]")."""
        return float(self.parameters[self.parameter_names.index(name)])

    def uncertainty(self, name: str) -> float:
        """The standard error of one parameter by full-layout name."""
        return float(self.uncertainties[self.parameter_names.index(name)])

    def physical(self) -> dict[str, float]:
        """Physical parameters by name."""
        return {
            name: float(v)
            for name, v in zip(self.parameter_names, self.parameters, strict=True)
            if not name.startswith(("contrast[", "offset["))
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (non-finite floats as null / "inf")."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return jsonable(out)
