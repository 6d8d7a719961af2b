"""Multi-process fits on JAX's distributed runtime: each process holds a share of the
(t1, t2) pairs, the data passes are combined with collectives, process 0 writes results.

    settings = settings_from_env(os.environ)        # or DistributedSettings(...)
    runtime = initialize(settings)                  # before any other JAX computation
    data = global_data(my_rows_of_c2, t, phi, q=q, L=L, sigma=...)  # rows: share_rows(n_t)
    result = xpcsfit.fit(data, config)              # the same call as on one process
    runtime.stop()
"""

from .runtime import EXIT_LOST, Runtime, initialize
from .settings import DistributedError, DistributedSettings, settings_from_env
from .shares import diagonal_corrected_share, global_data, local_share, row_sharding, share_rows

__all__ = ["EXIT_LOST", "DistributedError", "DistributedSettings", "Runtime", "diagonal_corrected_share",
           "global_data", "initialize", "local_share", "row_sharding", "settings_from_env",
           "share_rows"]
