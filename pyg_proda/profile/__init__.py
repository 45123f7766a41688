r"""Measuring what a training step costs (like
:mod:`torch_geometric.profile`): wall time in interleaved rounds, peak
memory, dispatched operators, compiled steps, and the fit of a step's time
to its size. :mod:`pyg_proda.profile.speed` is the speed benchmark of the
VGPNN layer built on them (``benchmarks/speed.py``, ``docs/speed.md``)."""
from pyg_proda.profile.compiling import compile_options, compiled
from pyg_proda.profile.memory import keep_freed_memory, peak_memory
from pyg_proda.profile.ops import count_ops
from pyg_proda.profile.timing import (
    fit_cost,
    synchronize,
    time_interleaved,
    time_rounds,
    time_step,
)

__all__ = [
    'time_rounds',
    'time_interleaved',
    'time_step',
    'synchronize',
    'fit_cost',
    'peak_memory',
    'keep_freed_memory',
    'count_ops',
    'compile_options',
    'compiled',
]
