"""Shared least-squares test problems: NIST StRD nonlinear regression and Moré–Garbow–Hillstrom.

NIST data files live in ``tests/data/nist`` (public domain; see its SOURCE.md). Each problem: residual ``fun(x, *args)`` in jax.numpy, starts, and for
NIST the certified parameter values.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np

NIST_DIR = Path(__file__).resolve().parent / "data" / "nist"


@dataclasses.dataclass(frozen=True)
class Problem:
    name: str
    fun: object  # (x, *args) -> residuals
    starts: tuple[np.ndarray, ...]
    args: tuple = ()
    certified: np.ndarray | None = None


def _nist_models():
    pi = jnp.pi
    return {
        "Misra1a": lambda b, x: b[0] * (1 - jnp.exp(-b[1] * x)),
        "Misra1b": lambda b, x: b[0] * (1 - (1 + b[1] * x / 2) ** (-2)),
        "Misra1c": lambda b, x: b[0] * (1 - (1 + 2 * b[1] * x) ** (-0.5)),
        "Misra1d": lambda b, x: b[0] * b[1] * x / (1 + b[1] * x),
        "Chwirut1": lambda b, x: jnp.exp(-b[0] * x) / (b[1] + b[2] * x),
        "Chwirut2": lambda b, x: jnp.exp(-b[0] * x) / (b[1] + b[2] * x),
        "DanWood": lambda b, x: b[0] * x ** b[1],
        "Gauss1": lambda b, x: b[0] * jnp.exp(-b[1] * x) + b[2] * jnp.exp(-((x - b[3]) ** 2) / b[4] ** 2)
        + b[5] * jnp.exp(-((x - b[6]) ** 2) / b[7] ** 2),
        "Lanczos1": lambda b, x: b[0] * jnp.exp(-b[1] * x) + b[2] * jnp.exp(-b[3] * x)
        + b[4] * jnp.exp(-b[5] * x),
        "Kirby2": lambda b, x: (b[0] + b[1] * x + b[2] * x**2) / (1 + b[3] * x + b[4] * x**2),
        "Hahn1": lambda b, x: (b[0] + b[1] * x + b[2] * x**2 + b[3] * x**3)
        / (1 + b[4] * x + b[5] * x**2 + b[6] * x**3),
        "MGH17": lambda b, x: b[0] + b[1] * jnp.exp(-x * b[3]) + b[2] * jnp.exp(-x * b[4]),
        "Roszman1": lambda b, x: b[0] - b[1] * x - jnp.arctan(b[2] / (x - b[3])) / pi,
        "ENSO": lambda b, x: b[0] + b[1] * jnp.cos(2 * pi * x / 12) + b[2] * jnp.sin(2 * pi * x / 12)
        + b[4] * jnp.cos(2 * pi * x / b[3]) + b[5] * jnp.sin(2 * pi * x / b[3])
        + b[7] * jnp.cos(2 * pi * x / b[6]) + b[8] * jnp.sin(2 * pi * x / b[6]),
    }


def _alias(models):
    for name in ("Gauss2", "Gauss3"):
        models[name] = models["Gauss1"]
    for name in ("Lanczos2", "Lanczos3"):
        models[name] = models["Lanczos1"]
    return models


def load_nist(name: str) -> Problem:
    """Parse one NIST StRD .dat file (starts, certified values, data)."""
    text = (NIST_DIR / f"{name}.dat").read_text().splitlines()
    starts1, starts2, cert = [], [], []
    for line in text:
        m = re.match(r"\s*b\d+\s*=\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if m:
            starts1.append(float(m.group(1)))
            starts2.append(float(m.group(2)))
            cert.append(float(m.group(3)))
    start = next(i for i, line in enumerate(text) if line.startswith("Data:") and "y" in line
                 and "Response" not in line)
    rows = np.array([[float(v) for v in line.split()] for line in text[start + 1 :] if line.strip()])
    y = jnp.asarray(rows[:, 0])
    if name == "Nelson":
        x1, x2 = jnp.asarray(rows[:, 1]), jnp.asarray(rows[:, 2])

        def fun(b, x1, x2, y):
            return b[0] - b[1] * x1 * jnp.exp(-b[2] * x2) - jnp.log(y)

        args = (x1, x2, y)
    else:
        model = _alias(_nist_models())[name]
        x = jnp.asarray(rows[:, 1])

        def fun(b, x, y, model=model):
            return model(b, x) - y

        args = (x, y)
    return Problem(name, fun, (np.array(starts1), np.array(starts2)), args, np.array(cert))


NIST_NAMES = ("Misra1a", "Misra1b", "Misra1c", "Misra1d", "Chwirut1", "Chwirut2", "DanWood",
              "Gauss1", "Gauss2", "Gauss3", "Lanczos1", "Lanczos2", "Lanczos3", "Kirby2",
              "Hahn1", "MGH17", "Roszman1", "ENSO", "Nelson")


def _helical(x):
    theta = jnp.arctan2(x[1], x[0]) / (2 * jnp.pi)
    theta = jnp.where(theta < 0, theta + 1.0, theta)  # the classic 0 ≤ θ < 1 branch
    return jnp.stack([10 * (x[2] - 10 * theta), 10 * (jnp.sqrt(x[0] ** 2 + x[1] ** 2) - 1), x[2]])


_BARD_Y = jnp.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96,
                     1.34, 2.10, 4.39])
_MEYER_Y = jnp.array([34780., 28610., 23650., 19630., 16370., 13720., 11540., 9744., 8261.,
                      7030., 6005., 5147., 4427., 3820., 3307., 2872.])
_KOWALIK_Y = jnp.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323,
                        0.0235, 0.0246])
_KOWALIK_U = jnp.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])
_OSBORNE_Y = jnp.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784,
                        0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522,
                        0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420,
                        0.414, 0.411, 0.406])


def _bard(x):
    u = jnp.arange(1.0, 16.0)
    v = 16.0 - u
    w = jnp.minimum(u, v)
    return _BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))


def _box3d(x):
    t = 0.1 * jnp.arange(1.0, 11.0)
    return jnp.exp(-t * x[0]) - jnp.exp(-t * x[1]) - x[2] * (jnp.exp(-t) - jnp.exp(-10 * t))


MGH = (
    Problem("Rosenbrock", lambda x: jnp.stack([10 * (x[1] - x[0] ** 2), 1 - x[0]]),
            (np.array([-1.2, 1.0]),)),
    Problem("FreudensteinRoth", lambda x: jnp.stack([
        -13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1], -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1]]),
        (np.array([0.5, -2.0]),)),
    Problem("PowellBadlyScaled", lambda x: jnp.stack([
        1e4 * x[0] * x[1] - 1, jnp.exp(-x[0]) + jnp.exp(-x[1]) - 1.0001]), (np.array([0.0, 1.0]),)),
    Problem("BrownBadlyScaled", lambda x: jnp.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2]),
            (np.array([1.0, 1.0]),)),
    Problem("Beale", lambda x: jnp.array([1.5, 2.25, 2.625])
            - x[0] * (1 - x[1] ** jnp.arange(1.0, 4.0)), (np.array([1.0, 1.0]),)),
    Problem("JennrichSampson", lambda x: 2 + 2 * jnp.arange(1.0, 11.0)
            - (jnp.exp(jnp.arange(1.0, 11.0) * x[0]) + jnp.exp(jnp.arange(1.0, 11.0) * x[1])),
            (np.array([0.3, 0.4]),)),
    Problem("HelicalValley", _helical, (np.array([-1.0, 0.0, 0.0]),)),
    Problem("Bard", _bard, (np.array([1.0, 1.0, 1.0]),)),
    Problem("Box3D", _box3d, (np.array([0.0, 10.0, 20.0]),)),
    Problem("PowellSingular", lambda x: jnp.stack([
        x[0] + 10 * x[1], jnp.sqrt(5.0) * (x[2] - x[3]), (x[1] - 2 * x[2]) ** 2,
        jnp.sqrt(10.0) * (x[0] - x[3]) ** 2]), (np.array([3.0, -1.0, 0.0, 1.0]),)),
    Problem("Meyer", lambda x: x[0] * jnp.exp(x[1] / (45 + 5 * jnp.arange(1.0, 17.0) + x[2]))
            - _MEYER_Y, (np.array([0.02, 4000.0, 250.0]),)),
    Problem("KowalikOsborne", lambda x: _KOWALIK_Y - x[0] * (_KOWALIK_U**2 + _KOWALIK_U * x[1])
            / (_KOWALIK_U**2 + _KOWALIK_U * x[2] + x[3]), (np.array([0.25, 0.39, 0.415, 0.39]),)),
    Problem("Osborne1", lambda x: _OSBORNE_Y - (x[0] + x[1] * jnp.exp(-10 * jnp.arange(33.0) * x[3])
                                                + x[2] * jnp.exp(-10 * jnp.arange(33.0) * x[4])),
            (np.array([0.5, 1.5, -1.0, 0.01, 0.02]),)),
)
