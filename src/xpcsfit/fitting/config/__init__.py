"""Fit configuration: the key table, its typed sections and `FitConfig`."""

from .fitconfig import SHORT_NAMES, FitConfig, unused_summary
from .keys import KEYS, Key, key_table_markdown
from .options import MONITOR_RESPONSES, PER_ANGLE_MODES, STRATEGIES

__all__ = ["KEYS", "MONITOR_RESPONSES", "PER_ANGLE_MODES", "SHORT_NAMES", "STRATEGIES",
           "FitConfig", "Key", "key_table_markdown", "unused_summary"]
