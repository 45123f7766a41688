r"""Speed and memory of the sparse :class:`~pyg_proda.nn.VGPNNConv` against
the dense padded layout of the authors
(:class:`~pyg_proda.testing.DenseVGPNN`), run by ``benchmarks/speed.py``;
methodology and results in ``docs/speed.md``.

* :mod:`~pyg_proda.profile.speed.steps`: the timed steps, sparse (and its
  phases) and dense, and their comparison on one batch;
* :mod:`~pyg_proda.profile.speed.sweeps`: the cost per edge over batches of
  growing size, eager and compiled, with its floor;
* :mod:`~pyg_proda.profile.speed.train`: ProDA's training throughput;
* :mod:`~pyg_proda.profile.speed.report`,
  :mod:`~pyg_proda.profile.speed.plot`: the printed table and the figure;
* :mod:`~pyg_proda.profile.speed.cli`: the flags and the run.

The batches are those of :mod:`pyg_proda.testing.graphs`, the measurements
those of :mod:`pyg_proda.profile`.
"""
from pyg_proda.profile.speed.cli import WORKLOADS, main, parse_args
from pyg_proda.profile.speed.plot import plot_sweep
from pyg_proda.profile.speed.report import print_sweep, print_table
from pyg_proda.profile.speed.steps import (
    PHASES,
    compare,
    default_heads,
    dense_step,
    make_conv,
    sparse_phases,
    sparse_step,
    sweep_heads,
)
from pyg_proda.profile.speed.sweeps import compiled_sweep, has_phases, sweep
from pyg_proda.profile.speed.train import train_throughput

__all__ = [
    'PHASES',
    'WORKLOADS',
    'make_conv',
    'default_heads',
    'sweep_heads',
    'sparse_step',
    'sparse_phases',
    'dense_step',
    'compare',
    'sweep',
    'compiled_sweep',
    'has_phases',
    'train_throughput',
    'print_sweep',
    'print_table',
    'plot_sweep',
    'parse_args',
    'main',
]
