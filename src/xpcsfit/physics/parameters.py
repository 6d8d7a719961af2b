"""Parameter names, aliases, defaults, bounds, vector layout and per-angle reparameterisations.

Full layout: ``[c_0..c_{n−1}, o_0..o_{n−1}, *physical]`` (angles ascending). Every per-angle
mode is a linear map x = A·z + b from a free vector z to the full vector x, so the fit
solves in z and maps JᵀJ (AᵀJᵀJA), gradients (Aᵀg) and covariances (AΣAᵀ) exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from .g2 import MODES

PHYSICAL_NAMES = {
    "static_isotropic": ("D0", "alpha", "D_offset"),
    "laminar_flow": ("D0", "alpha", "D_offset", "gamma_dot_t0", "beta", "gamma_dot_t_offset",
                     "phi0"),
}
ALIASES = {"gamma_dot_0": "gamma_dot_t0", "gamma_dot_offset": "gamma_dot_t_offset",
           "phi_0": "phi0"}
# name: (default, lower, upper); units: D [Å²/s], γ̇ [1/s], φ0 [deg], exponents and
# contrast/offset dimensionless.
DEFAULTS = {
    "contrast": (0.5, 0.0, 1.0),
    "offset": (1.0, 0.5, 1.5),
    "D0": (1e3, 1e2, 1e5),
    "alpha": (0.5, -2.0, 2.0),
    "D_offset": (10.0, -1e5, 1e5),
    "gamma_dot_t0": (1e-2, 1e-6, 0.5),
    "beta": (0.5, -2.0, 2.0),
    "gamma_dot_t_offset": (0.0, -0.1, 0.1),
    "phi0": (0.0, -10.0, 10.0),
}
SCALING_NAMES = ("contrast", "offset")
PER_ANGLE_MODES = ("individual", "fourier", "constant", "averaged", "auto", "varpro")


def canonical_name(name: str) -> str:
    """The canonical parameter name for `name` (aliases accepted), else ValueError."""
    key = ALIASES.get(str(name), str(name))
    if key not in DEFAULTS:
        raise ValueError(f"parameter name: unknown parameter {name!r}; known: "
                         f"{tuple(DEFAULTS)} and aliases {tuple(ALIASES)}")
    return key


@dataclasses.dataclass(frozen=True)
class Reparam:
    """Linear per-angle (and fixed-parameter) map x = A·z + b with box bounds on z.

    A and b are JAX arrays (they may depend on traced angles or starts); lower, upper and
    names are host data. `separable`: the first 2·n_phi columns (contrast, offset) are
    eliminated by variable projection (per_angle_mode varpro) rather than solved for.
    """

    mode: str
    A: Any  # (n_full, n_free)
    b: Any  # (n_full,)
    lower: np.ndarray  # (n_free,)
    upper: np.ndarray  # (n_free,)
    names: tuple[str, ...]
    n_physical_free: int
    separable: bool = False

    def to_full(self, z):
        """x = A z + b."""
        return self.A @ z + self.b

    def from_full(self, x):
        """The free vector whose image is closest to x (exact for x in the image)."""
        return jnp.linalg.lstsq(self.A, jnp.asarray(x, dtype=jnp.float64) - self.b)[0]

    def cov_to_full(self, cov):
        """Covariance of x from that of z: A Σ Aᵀ."""
        return self.A @ cov @ self.A.T


@dataclasses.dataclass(frozen=True)
class ParameterSpace:
    """Names, defaults and bounds of the full parameter vector for one analysis mode."""

    mode: str
    n_phi: int
    physical_names: tuple[str, ...]
    physical_default: tuple[float, ...]
    physical_lower: tuple[float, ...]
    physical_upper: tuple[float, ...]
    contrast_bounds: tuple[float, float, float]  # default, lower, upper
    offset_bounds: tuple[float, float, float]

    @classmethod
    def create(
        cls,
        mode: str = "laminar_flow",
        n_phi: int = 1,
        *,
        bounds: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]] | None = None,
        values: Mapping[str, float] | None = None,
    ) -> ParameterSpace:
        """Defaults of DESIGN §3 with optional bound and default overrides by name.

        **Arguments:**
        - `mode`: "static_isotropic" or "laminar_flow".
        - `n_phi`: number of angles (≥ 1).
        - `bounds`: name → (lower, upper), or a homodyne list of {name, min, max}.
        - `values`: name → default value (used as the start).
        """
        if mode not in MODES:
            raise ValueError(f"analysis_mode: unknown mode {mode!r}; expected one of {MODES}")
        if isinstance(n_phi, bool) or int(n_phi) != n_phi or int(n_phi) < 1:
            raise ValueError(f"n_phi: must be a positive integer, got {n_phi!r}")
        table = {k: list(v) for k, v in DEFAULTS.items()}
        if bounds is not None and not isinstance(bounds, Mapping):
            bounds = {item["name"]: (item["min"], item["max"]) for item in bounds}
        for name, pair in (bounds or {}).items():
            key = canonical_name(name)
            lo, hi = (float(v) for v in pair)
            if not (lo < hi) or math.isnan(lo) or math.isnan(hi):
                raise ValueError(f"bounds[{name}]: lower {lo} must be < upper {hi}")
            table[key][1:] = [lo, hi]
        for name, value in (values or {}).items():
            key = canonical_name(name)
            if not math.isfinite(float(value)):
                raise ValueError(f"values[{name}]: must be finite, got {value!r}")
            table[key][0] = float(value)
        names = PHYSICAL_NAMES[mode]
        return cls(
            mode=mode,
            n_phi=int(n_phi),
            physical_names=names,
            physical_default=tuple(table[k][0] for k in names),
            physical_lower=tuple(table[k][1] for k in names),
            physical_upper=tuple(table[k][2] for k in names),
            contrast_bounds=tuple(table["contrast"]),
            offset_bounds=tuple(table["offset"]),
        )

    def canonical(self, name: str, field: str = "initial_parameters.parameter_names") -> str:
        """Canonical name of a parameter of this mode (aliases accepted; see
        `canonical_name`); ValueError naming `field` for a name this mode does not have,
        e.g. a laminar_flow parameter in a static_isotropic fit."""
        key = ALIASES.get(str(name), str(name))
        if key not in self.physical_names and key not in SCALING_NAMES:
            raise ValueError(f"{field}: {name!r} is not a parameter of {self.mode}; its "
                             f"parameters are {(*self.physical_names, 'contrast', 'offset')}")
        return key

    def bounds_of(self, name: str) -> tuple[float, float]:
        """(lower, upper) of a canonical physical name, or of contrast / offset."""
        if name in SCALING_NAMES:
            return (self.contrast_bounds if name == "contrast" else self.offset_bounds)[1:]
        i = self.physical_names.index(name)
        return self.physical_lower[i], self.physical_upper[i]

    @property
    def n_physical(self) -> int:
        return len(self.physical_names)

    @property
    def n_full(self) -> int:
        return 2 * self.n_phi + self.n_physical

    @property
    def full_names(self) -> tuple[str, ...]:
        n = self.n_phi
        return (tuple(f"contrast[{a}]" for a in range(n)) + tuple(f"offset[{a}]" for a in range(n))
                + self.physical_names)

    def _full(self, index: int) -> np.ndarray:
        n = self.n_phi
        phys = (self.physical_default, self.physical_lower, self.physical_upper)[index]
        return np.concatenate([np.full(n, self.contrast_bounds[index]),
                               np.full(n, self.offset_bounds[index]), np.asarray(phys, float)])

    def full_default(self) -> np.ndarray:
        return self._full(0)

    def full_lower(self) -> np.ndarray:
        return self._full(1)

    def full_upper(self) -> np.ndarray:
        return self._full(2)

    def check_initial(self, x, on_violation: str = "clip") -> tuple[np.ndarray, list[str]]:
        """Clip a full-layout start into the bounds (with a note per parameter) or raise."""
        x = np.array(x, dtype=np.float64)
        if x.shape != (self.n_full,):
            raise ValueError(f"initial values: expected shape ({self.n_full},), got {x.shape}")
        lo, hi = self.full_lower(), self.full_upper()
        notes = []
        for name, value, low, high in zip(self.full_names, x, lo, hi, strict=True):
            if not (low <= value <= high):
                message = f"initial value of {name} = {value!r} is outside [{low}, {high}]"
                if on_violation == "error":
                    raise ValueError(message)
                notes.append(message + "; clipped")
        return np.clip(x, lo, hi), notes

    def reparam(
        self,
        per_angle_mode: str,
        phi_deg,
        *,
        contrast_fixed=None,
        offset_fixed=None,
        fourier_order: int = 2,
        fixed: Mapping[str, float] | None = None,
    ) -> Reparam:
        """The linear map x = A z + b of a per-angle mode (DESIGN §3), with the physical
        parameters named in `fixed` held at their values (no column in A). Works on traced
        angles and starts (jax.numpy)."""
        n, p = self.n_phi, self.n_physical
        mode = per_angle_mode
        if mode == "auto":
            mode = "individual"
        held = {self.physical_names.index(canonical_name(k)): v
                for k, v in (fixed or {}).items()}
        free = [i for i in range(p) if i not in held]
        a_phys = jnp.eye(p)[:, free]
        b_phys = jnp.zeros(p)
        if held:  # the values may be traced
            b_phys = b_phys.at[np.asarray(list(held))].set(
                jnp.stack([jnp.asarray(v, dtype=jnp.float64) for v in held.values()]))
        lo, hi = self.full_lower(), self.full_upper()
        phys_lo, phys_hi = lo[2 * n :][free], hi[2 * n :][free]
        phys_names = tuple(self.physical_names[i] for i in free)
        zeros = jnp.zeros((n,))
        if mode in ("individual", "varpro"):  # varpro: c, o eliminated, individual layout
            a_c = jnp.concatenate([jnp.eye(2 * n), jnp.zeros((p, 2 * n))])
            return self._map(mode, a_c, jnp.concatenate([zeros, zeros]), a_phys, b_phys,
                             lo[: 2 * n], hi[: 2 * n], phys_lo, phys_hi,
                             self.full_names[: 2 * n] + phys_names, mode == "varpro")
        if mode == "fourier":
            if np.shape(phi_deg) != (n,):
                raise ValueError(f"phi: expected {n} angles, got shape {np.shape(phi_deg)}")
            k = 2 * int(fourier_order) + 1
            if n < k:
                raise ValueError(f"per_angle_mode: 'fourier' of order {fourier_order} needs at "
                                 f"least {k} angles, got {n}; use 'individual'")
            basis = fourier_basis(phi_deg, fourier_order, xp=jnp)
            block = jnp.zeros((n, k))
            a_c = jnp.concatenate([jnp.concatenate([basis, block], axis=1),
                                   jnp.concatenate([block, basis], axis=1),
                                   jnp.zeros((p, 2 * k))])
            z_lo, z_hi = [], []
            for _, blo, bhi in (self.contrast_bounds, self.offset_bounds):
                half = (bhi - blo) / (2 * (k - 1)) if k > 1 else 0.0
                z_lo += [blo] + [-half] * (k - 1)
                z_hi += [bhi] + [half] * (k - 1)
            names = tuple(f"contrast_fourier[{j}]" for j in range(k)) + tuple(
                f"offset_fourier[{j}]" for j in range(k))
            return self._map(mode, a_c, jnp.zeros((2 * n,)), a_phys, b_phys, np.array(z_lo),
                             np.array(z_hi), phys_lo, phys_hi, names + phys_names)
        if mode == "averaged":
            ones = jnp.ones((n, 1))
            a_c = jnp.concatenate([jnp.concatenate([ones, 0 * ones], axis=1),
                                   jnp.concatenate([0 * ones, ones], axis=1),
                                   jnp.zeros((p, 2))])
            return self._map(mode, a_c, jnp.zeros((2 * n,)), a_phys, b_phys,
                             np.array([lo[0], lo[n]]), np.array([hi[0], hi[n]]), phys_lo,
                             phys_hi, ("contrast", "offset") + phys_names)
        if mode == "constant":
            if contrast_fixed is None or offset_fixed is None:
                raise ValueError("per_angle_mode: 'constant' needs contrast_fixed and offset_fixed")
            b_c = jnp.concatenate([jnp.broadcast_to(jnp.asarray(contrast_fixed, float), (n,)),
                                   jnp.broadcast_to(jnp.asarray(offset_fixed, float), (n,))])
            return self._map(mode, jnp.zeros((2 * n + p, 0)), b_c, a_phys, b_phys,
                             np.zeros(0), np.zeros(0), phys_lo, phys_hi, phys_names)
        raise ValueError(f"per_angle_mode: unknown mode {per_angle_mode!r}; expected one of "
                         f"{PER_ANGLE_MODES}")

    def _map(self, mode, a_c, b_c, a_phys, b_phys, c_lo, c_hi, phys_lo, phys_hi, names,
             separable=False) -> Reparam:
        """Assemble A = [a_c | (0; a_phys)] and b = (b_c; b_phys)."""
        n2 = 2 * self.n_phi
        a_p = jnp.concatenate([jnp.zeros((n2, a_phys.shape[1])), a_phys])
        A = jnp.concatenate([a_c, a_p], axis=1)
        b = jnp.concatenate([b_c, b_phys])
        return Reparam(mode, A, b, np.concatenate([c_lo, phys_lo]),
                       np.concatenate([c_hi, phys_hi]), tuple(names), a_phys.shape[1],
                       separable)


def fourier_basis(phi_deg, order: int, xp=np):
    """Columns [1, cos φ, sin φ, …, cos Kφ, sin Kφ] at the angles (degrees → radians once),
    with NumPy or jax.numpy (`xp`)."""
    phi = xp.deg2rad(xp.asarray(phi_deg, dtype=xp.float64))
    cols = [xp.ones_like(phi)]
    for k in range(1, int(order) + 1):
        cols += [xp.cos(k * phi), xp.sin(k * phi)]
    return xp.stack(cols, axis=1)
