"""Objectives behind one interface (`AbstractObjective`): in memory, streamed, and the
transforms that keep the interface (affine map, CV penalty, variable projection)."""

from .base import AbstractObjective
from .in_memory import InMemory
from .streamed import DEFAULT_STREAM_CHUNK_POINTS, HostData, Streamed, StreamPass
from .transforms import Affine, Penalised, Separable

__all__ = ["DEFAULT_STREAM_CHUNK_POINTS", "AbstractObjective", "Affine", "HostData",
           "InMemory", "Penalised", "Separable", "StreamPass", "Streamed"]
