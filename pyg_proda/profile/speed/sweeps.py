r"""The sweep: the sparse layer's cost per edge over Action-Genome-shaped
batches of growing size, its phases, its fixed cost (the *floor*) and the
dense layer beside it where it fits (see ``docs/speed.md``)."""
import statistics
from typing import Dict, List, Optional, Sequence

import torch

from pyg_proda.profile import (
    compile_options,
    compiled,
    count_ops,
    fit_cost,
    peak_memory,
    time_rounds,
    time_step,
)
from pyg_proda.profile.speed.steps import (
    PHASES,
    dense_step,
    make_conv,
    sparse_phases,
    sparse_step,
)
from pyg_proda.testing import (
    AG_GROUPS,
    FLOOR_FRAMES,
    DenseVGPNN,
    floor_graph,
    sweep_graph,
)


def has_phases(sw: Dict) -> bool:
    r"""Whether the points of the sweep :obj:`sw` have their phases timed
    (sweeps saved before the phases were timed have none)."""
    return all('index_s' in p for p in sw['points'])


def _set_times(point: Dict, samples: List[float],
               phase_samples: Sequence[List[float]]) -> None:
    # A point's step time (median of its rounds), the spread of its rounds
    # and its phases, the last one as the rest of the step.
    t = statistics.median(samples)
    point['sparse_s'] = t
    point['sparse_samples_s'] = samples
    # Spread of the rounds: what this machine's noise alone moves.
    point['spread'] = (max(samples) - min(samples)) / t
    point['us_per_edge'] = t / point['edges'] * 1e6
    for name, s in zip(PHASES[:2], phase_samples):
        point[f'{name}_s'] = statistics.median(s)
    point['backward_s'] = t - point['index_s'] - point['forward_s']


def sweep(targets: Sequence[float], channels: int, heads: int,
          device: torch.device, repeats: int, max_dense_bytes: float,
          budget_s: float, backend: Optional[str] = None,
          min_block_s: float = 0.2) -> Dict:
    r"""Sparse cost per edge over Action-Genome-shaped batches of growing
    size (:func:`~pyg_proda.testing.sweep_graph`), timed in interleaved
    rounds (:func:`~pyg_proda.profile.time_rounds`); the dense layer is run
    while its extrapolated peak memory (it grows linearly with the batch)
    stays under :obj:`max_dense_bytes`. With a :obj:`backend`, both layers
    run :func:`~pyg_proda.profile.compiled` with it (one compiled module
    serves every point; it compiles in the warm-up runs, which are not
    timed). The *floor*, a step on
    :func:`~pyg_proda.testing.floor_graph` (9 edges), runs in the same
    rounds: the least a call costs, against which the excess of the
    smallest point can be read; the dense layer's step on the same batch
    runs beside it (``floor['dense_s']``, and eager the ATen ops of both,
    ``floor['ops']`` and ``floor['dense_ops']``)."""
    points, steps, graphs, phases = [], [], [], []
    # One layer for all points (the same weights as one per point, and one
    # compiled module whose few size classes are compiled once).
    conv = make_conv(channels, sum(AG_GROUPS), heads, 'sdpa', device)
    forward = compiled(conv, device, backend) if backend else None
    dense = DenseVGPNN.from_sparse(conv)
    dense_forward = compiled(dense, device, backend) if backend else None
    for target in targets:
        g = sweep_graph(target, channels).to(device)
        graphs.append(g)
        steps.append(sparse_step(conv, g, forward))
        phases.append(sparse_phases(conv, g, forward))
        points.append({'target_edges': int(target), 'videos': g.num_graphs,
                       'edges': g.num_edges})
    print(f'  timing {len(steps)} sweep points, their phases and the '
          f'floor in {repeats} interleaved rounds'
          f'{" (compiling in the warm-up)" if backend else ""} ...',
          flush=True)
    # The phases run in the same rounds as the steps, so that the split of
    # a point's time is measured under the same drift as the time itself.
    parts = [ph[name] for name in PHASES[:2] for ph in phases]
    # The floor, in the same rounds: what a call costs whatever its size.
    g0 = floor_graph(channels).to(device)
    floor_phases = sparse_phases(conv, g0, forward)
    floor_step = sparse_step(conv, g0, forward)
    # The dense layer's floor on the same batch: whether the fixed cost of
    # a call is the sparse design's or the mathematics' own.
    dense_floor_step = dense_step(dense, g0.pad(), dense_forward)
    floor_steps = [floor_step, *(floor_phases[name] for name in PHASES[:2]),
                   dense_floor_step]
    rounds = time_rounds(steps + parts + floor_steps, device, repeats,
                         budget_s=budget_s, min_block_s=min_block_s)
    n, k = len(points), len(steps) + len(parts)
    for i, point in enumerate(points):
        _set_times(point, rounds[i], rounds[n + i:k:n])
    floor_samples, *floor_phase_samples, dense_floor_samples = rounds[k:]
    floor = {'videos': 1, 'frames': FLOOR_FRAMES, 'edges': g0.num_edges}
    _set_times(floor, floor_samples, floor_phase_samples)
    floor['dense_s'] = statistics.median(dense_floor_samples)
    floor['dense_samples_s'] = dense_floor_samples
    dense_bytes_per_video = None
    for point, g, step in zip(points, graphs, steps):
        videos = point['videos']
        point['sparse_bytes'] = peak_memory(step, device)
        run_dense = (dense_bytes_per_video is None or
                     dense_bytes_per_video * videos <= max_dense_bytes)
        if run_dense:
            d = g.pad()
            dstep = dense_step(dense, d, dense_forward)
            # Timed first, as the sparse step: its warm-up run compiles, if
            # it does, before the memory is measured.
            point['dense_s'] = time_step(dstep, device, repeats,
                                         budget_s=budget_s)
            point['dense_bytes'] = peak_memory(dstep, device)
            dense_bytes_per_video = point['dense_bytes'] / videos
            point['speedup'] = point['dense_s'] / point['sparse_s']
            point['memory_ratio'] = (point['sparse_bytes'] /
                                     point['dense_bytes'])
            del d, dstep
        else:
            point.update(dense_s=None, dense_bytes=None, speedup=None,
                         memory_ratio=None)
        print(f"  sweep {g.num_edges:>9,d} edges: "
              f"{point['us_per_edge']:.3f} us/edge", flush=True)
    # Compiled steps run generated kernels, not ATen ops one by one.
    ops = phase_ops = None
    floor['ops'] = floor['dense_ops'] = None
    if not backend:
        ops = count_ops(steps[0])
        phase_ops = {name: count_ops(phases[0][name])
                     for name in PHASES[:2]}
        phase_ops['backward'] = ops - sum(phase_ops.values())
        floor['ops'] = count_ops(floor_step)
        floor['dense_ops'] = count_ops(dense_floor_step)
    del steps, graphs, phases, parts, g0, floor_phases, floor_steps
    del floor_step, dense_floor_step
    # Cost of the edges added from one point to the next: flat where the
    # implementation scales linearly, whatever the fixed cost per call.
    for prev, point in zip(points, points[1:]):
        point['marginal_us_per_edge'] = (
            (point['sparse_s'] - prev['sparse_s']) /
            (point['edges'] - prev['edges']) * 1e6)
    costs = [p['us_per_edge'] for p in points]
    mid = statistics.median(costs)
    fixed, marginal = fit_cost(points)
    # Where the fixed and the per-edge cost go. The last phase is measured
    # as the rest of the step, and so is its fit.
    fits = {name: fit_cost(points, f'{name}_s') for name in PHASES[:2]}
    fits['backward'] = (fixed - sum(f[0] for f in fits.values()),
                        marginal - sum(f[1] for f in fits.values()))
    ratios = [p['speedup'] for p in points if p['speedup'] is not None]
    mems = [p['memory_ratio'] for p in points if p['memory_ratio'] is not None]
    return {
        'hidden': channels, 'heads': heads, 'points': points,
        'min_block_s': min_block_s,
        'compiled': bool(backend), 'backend': backend or 'eager',
        'compile_options': (compile_options(device)
                            if backend == 'inductor' else None),
        'us_per_edge_median': mid,
        'per_edge_max_deviation': max(abs(c / mid - 1) for c in costs),
        'fixed_ms': fixed * 1e3, 'marginal_us_per_edge': marginal * 1e6,
        'ops_per_step': ops, 'floor': floor,
        'phases': {name: {'fixed_ms': fits[name][0] * 1e3,
                          'marginal_us_per_edge': fits[name][1] * 1e6,
                          'ops': None if phase_ops is None
                          else phase_ops[name]}
                   for name in PHASES},
        'speedup': statistics.median(ratios) if ratios else None,
        'memory_ratio': statistics.median(mems) if mems else None,
    }


def compiled_sweep(targets: Sequence[float], channels: int, heads: int,
                   device: torch.device, repeats: int, max_dense_bytes: float,
                   budget_s: float, backend: str = 'inductor',
                   min_block_s: float = 0.2) -> Dict:
    r""":func:`sweep` with both layers compiled, or ``{'skipped': reason}``
    where compiling fails (no C++ compiler for inductor on CPU, an unknown
    backend), so that the eager figures of the run are not lost."""
    try:
        return sweep(targets, channels, heads, device, repeats,
                     max_dense_bytes, budget_s, backend=backend,
                     min_block_s=min_block_s)
    except Exception as e:  # reported, and in the JSON
        reason = f'{type(e).__name__}: {str(e).strip()[:500]}'
        print(f'  compiled sweep skipped: {reason}', flush=True)
        return {'skipped': reason}
