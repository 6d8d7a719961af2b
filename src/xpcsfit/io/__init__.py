"""Files and people: YAML configs, APS HDF5 data, result files, figures, simulated files.

Optional extras: `io` (h5py, pyyaml) and `plot` (matplotlib). They are imported lazily,
inside the functions that need them, with a clear error naming the extra; the core
package (`import xpcsfit`) never imports this subpackage.
"""

from .dataset import load_dataset, load_raw
from .hdf5 import read_hdf5
from .plots import plot_results
from .results import write_results
from .simulated import simulate_files, write_aps_u
from .template import config_template
from .yaml_config import DataSettings, LoadedConfig, config_from_dict, load_config

__all__ = [
    "DataSettings",
    "LoadedConfig",
    "config_from_dict",
    "config_template",
    "load_config",
    "load_dataset",
    "load_raw",
    "plot_results",
    "read_hdf5",
    "simulate_files",
    "write_aps_u",
    "write_results",
]
