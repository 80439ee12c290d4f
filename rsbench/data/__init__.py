"""Tail-risk datasets: build locally, relabel Minari datasets, load, sample, normalise, inspect.

Minari is imported only inside the functions that need it.
"""

from rsbench.data.normalize import Normalizer
from rsbench.data.offline import OfflineData
from rsbench.data.samplers import SequenceSampler, TransitionSampler

__all__ = ["Normalizer", "OfflineData", "SequenceSampler", "TransitionSampler"]
