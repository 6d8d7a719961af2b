"""`--device cpu|gpu`: choose the JAX platform before JAX starts, or fail in one line.

`cpu` sets JAX_PLATFORMS=cpu (inherited by case subprocesses). `gpu` leaves the platform
choice to JAX (which prefers a GPU) and checks that one is there. Call `select_device`
before anything imports jax.
"""

from __future__ import annotations

import os

from benchmarks.environment import DEVICE_ENV

DEVICES = ("cpu", "gpu")


class DeviceError(RuntimeError):
    """The requested device is not available (message: one line)."""


def select_device(device: str | None) -> None:
    """Force (cpu) or check (gpu) the device; record the choice for the environment block."""
    if device is None:
        return
    if device not in DEVICES:
        raise DeviceError(f"--device {device!r}: choose from {', '.join(DEVICES)}")
    os.environ[DEVICE_ENV] = device
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
        return
    if os.environ.get("JAX_PLATFORMS", "") == "cpu":
        raise DeviceError("--device gpu: JAX_PLATFORMS=cpu is set in the environment")
    import jax

    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if not gpus:
        platforms = sorted({d.platform for d in jax.devices()})
        raise DeviceError(f"--device gpu: no GPU visible to JAX {jax.__version__} "
                          f"(platforms present: {', '.join(platforms)}); install jax[cuda12] "
                          "or run with --device cpu")
