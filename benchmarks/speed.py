r"""Speed and memory of the sparse :class:`~pyg_proda.nn.VGPNNConv` against
the dense padded layout of the authors (``benchmarks/dense_vgpnn.py``).

    python benchmarks/speed.py                      # full run (CPU: ~20 min)
    python benchmarks/speed.py --quick              # under a minute
    python benchmarks/speed.py --workloads sweep --sweep-hidden 16
    python benchmarks/speed.py --workloads sweep --sweep-hidden 256 \
        --sweep-max 3e4                             # at the targets' width
    python benchmarks/speed.py --json results/speed.json --device cuda
    python benchmarks/speed.py --from-json results/speed.json --plot sweep.png

Both implementations run in the same process on the same graphs (the dense
one on the padded copy, with the weights of the sparse one) and are timed
forward + backward in training mode: median of ``--repeats`` runs after a
warm-up. The sparse time includes building the edge-pair index and the
attention groups of the batch; the dense time excludes padding, which the
authors do in their data loader. Workloads:

* ``ag``: Action-Genome-shaped batches, ``T = 16`` frames, one person in
  slot 0 and up to 9 object tracks per video, on average ~3.3 nodes and ~7
  relations (attention, spatial, contacting edges) per frame, at most 10
  nodes; dense = the authors' star layout (person x object slot x relation
  type, ``P = 27``). With ``--all-pairs`` the general all-pairs layout is
  run as well (``speedup_all``, ``memory_ratio_all``).
* ``sportshhi``: SportsHHI-shaped batches (half as many videos), ``T = 16``,
  4-10 player tracks per video, ~5 present and ~6 interacting ordered
  pairs per frame; dense = all ordered slot pairs (``P = S (S - 1)``).
* ``sweep``: Action-Genome-shaped batches of growing size, ``1e3`` to
  ``1e6`` relations in total, at hidden size 8 with one head so that the
  largest point fits in memory (and the index building, packing, gathers
  and scatters weigh most; ``--sweep-hidden 16`` still fits 1e6 edges in
  24 GiB, and ``--workloads sweep`` runs the sweep alone). At the widths
  of the targets (``--sweep-hidden 256`` or ``768``, with the heads of
  ``ag``: :func:`sweep_heads`) a sparse step needs ~140 KB (H=256) to
  ~410 KB (H=768) per edge, so ``--sweep-max`` keeps the sweep to the
  sizes that fit (3e4 and 1e4 edges on a 24 GiB machine, where 1e5 at
  H=256 runs out of memory). Sparse cost per
  edge, the cost of the edges added from one point to the next, a fit
  ``fixed + marginal * edges``, the number of ATen ops one step dispatches
  (:func:`count_ops`), and the ratios where the dense layout fits in
  ``--max-dense-gb``. The step is also split into its phases
  (:func:`sparse_phases`: index building, forward pass, and the rest),
  each with its cost per edge, fit and ops, to show where the fixed and
  the per-edge cost go. The *floor*, a step on one video of two frames
  (:func:`floor_graph`, 9 edges), measures the least a call costs, in
  the same rounds as the points, with its phases, and beside it the dense
  layer's step on the same batch: the least a call of the same
  mathematics costs in the authors' layout. Every point has at
  least its nominal number of edges (:func:`sweep_graph`). The sparse
  points are timed in interleaved rounds (:func:`time_rounds`), so
  that a drift in the machine's speed does not pass for a size effect;
  each round's sample of a point is the mean of a block of consecutive
  runs lasting at least ``--min-block`` seconds (0.2), so that small
  points are measured warm, as consecutive training steps run, and over
  as much of the machine's noise as large ones. The spread of the rounds
  is reported with every point.
  The sweep runs a second time with both layers under
  :func:`torch.compile` (:func:`compiled`: ``dynamic=True``, on CPU with
  inductor's C++ wrapper and ATen's dropout masks), which removes most of
  the per-operator cost that dominates the smallest points in eager mode;
  compiling happens in the untimed warm-up. ``--no-compile`` skips it,
  ``--quick`` skips it unless ``--compile`` is given, and a compile
  failure (e.g. no C++ compiler) is reported as ``skipped`` without
  losing the eager figures.

CPU runs use one thread unless ``--threads`` says otherwise: on a shared
machine, OpenMP threads competing with other processes make timings
meaningless. They also keep freed memory in glibc's heap
(:func:`keep_freed_memory`, off with ``--no-heap-cache``), as the CUDA
caching allocator does, so that large steps do not pay page faults on
every fresh buffer.

Peak memory on CPU is the largest amount of memory allocated *during* the
step and still alive, read from the allocation events of
:mod:`torch.profiler` (``profile_memory=True``) in a separate, untimed run;
inputs and weights allocated before the step are not counted. On CUDA it is
:func:`torch.cuda.max_memory_allocated` minus the memory allocated before
the step. ``speedup`` = dense time / sparse time, ``memory_ratio`` = sparse
peak / dense peak. The end-to-end training throughput of
:class:`~pyg_proda.training.ProDAModule` on :class:`SyntheticSSG` is timed
with Lightning over training steps after a warm-up.
"""
import argparse
import json
import math
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from dense_vgpnn import DenseGraph, DenseVGPNN, pad_graph  # noqa: E402

from pyg_proda.nn import VGPNNConv, edge_pair_index, vgpnn_groups  # noqa: E402

#: Widths of the Action Genome relation groups (attention, spatial,
#: contacting) inside the 26-d homogeneous ``edge_attr``.
AG_GROUPS = (3, 6, 17)
#: Direction of each Action Genome relation type (person -> object?).
AG_OUTGOING = (True, False, True)
#: SportsHHI interaction classes.
SHHI_CLASSES = 34


# Workloads ##################################################################

@dataclass
class Graph:
    r"""A batch of SSGs in homogeneous form, as :class:`VGPNNConv` reads it,
    plus the dense layout the authors would use for it."""
    x: torch.Tensor
    batch: torch.Tensor
    frame: torch.Tensor
    track: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    edge_attr: torch.Tensor
    edge_frame: torch.Tensor
    num_graphs: int
    num_frames: int
    layout: str
    outgoing: Optional[Sequence[bool]] = None

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)

    def to(self, device) -> 'Graph':
        fields = {k: (v.to(device) if torch.is_tensor(v) else v)
                  for k, v in self.__dict__.items()}
        return Graph(**fields)

    def pad(self, layout: Optional[str] = None) -> DenseGraph:
        r"""The dense padded copy (:func:`dense_vgpnn.pad_graph`)."""
        return pad_graph(self.x, self.batch, self.frame, self.track,
                         self.edge_index, self.edge_type, self.edge_attr,
                         self.edge_frame, self.num_graphs, self.num_frames,
                         layout=layout or self.layout, outgoing=self.outgoing)


def _multi_hot(num: int, width: int, offset: int, total: int,
               gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    # One or two labels per relation inside [offset, offset + width).
    attr = torch.zeros(num, total, dtype=dtype)
    rows = torch.arange(num)
    attr[rows, offset + torch.randint(width, (num, ), generator=gen)] = 1
    two = torch.rand(num, generator=gen) < 0.3
    attr[rows[two], offset + torch.randint(width, (int(two.sum()), ),
                                           generator=gen)] = 1
    return attr


def _nodes(presence: torch.Tensor):
    # presence [B, T, S] -> nodes in (graph, frame, slot) order.
    B, T, S = presence.shape
    b, t, s = presence.nonzero(as_tuple=True)
    node_id = torch.full((B, T, S), -1, dtype=torch.long)
    node_id[b, t, s] = torch.arange(b.numel())
    return b, t, b * S + s, node_id


def ag_graph(num_videos: int, channels: int, num_frames: int = 16,
             mean_objects: float = 2.3, seed: int = 0,
             dtype: torch.dtype = torch.float32) -> Graph:
    r"""Action-Genome-shaped batch: one person (slot 0, in every frame) and
    2-9 object tracks per video; each frame shows ``~mean_objects`` of them
    (at most 9, so at most 10 nodes); every present person-object pair has
    an attention (person -> object), a spatial (object -> person) and a
    contacting (person -> object) edge, ~7 edges per frame."""
    gen = torch.Generator().manual_seed(seed)
    B, T, S = num_videos, num_frames, 10
    num_obj = torch.randint(2, S, (B, ), generator=gen)  # 2..9
    valid = torch.arange(1, S).view(1, S - 1) <= num_obj.view(B, 1)
    p = (mean_objects / num_obj.float()).clamp(max=1.0).view(B, 1, 1)
    objects = (torch.rand(B, T, S - 1, generator=gen) < p) & valid[:, None]
    presence = torch.cat([torch.ones(B, T, 1, dtype=torch.bool), objects], 2)
    batch, frame, track, node_id = _nodes(presence)
    b, t, j = objects.nonzero(as_tuple=True)
    person, obj = node_id[b, t, 0], node_id[b, t, j + 1]
    n = b.numel()
    src = torch.cat([person, obj, person])
    dst = torch.cat([obj, person, obj])
    edge_type = torch.arange(3).repeat_interleave(n)
    total = sum(AG_GROUPS)
    offsets = (0, AG_GROUPS[0], AG_GROUPS[0] + AG_GROUPS[1])
    attr = torch.cat([_multi_hot(n, w, o, total, gen, dtype)
                      for w, o in zip(AG_GROUPS, offsets)])
    x = torch.randn(batch.numel(), channels, generator=gen, dtype=dtype)
    return Graph(x, batch, frame, track, torch.stack([src, dst]), edge_type,
                 attr, t.repeat(3), B, T, 'star', AG_OUTGOING)


def sportshhi_graph(num_videos: int, channels: int, num_frames: int = 16,
                    pair_prob: float = 0.25, seed: int = 0,
                    dtype: torch.dtype = torch.float32) -> Graph:
    r"""SportsHHI-shaped batch: 4-10 player tracks per video, each present
    in a frame with probability 0.8 (~6 players per frame); every ordered
    pair of present players interacts with probability :obj:`pair_prob`
    (~6 interactions per frame), one edge with a multi-hot over
    :data:`SHHI_CLASSES` classes."""
    gen = torch.Generator().manual_seed(seed)
    B, T, S = num_videos, num_frames, 10
    num_players = torch.randint(4, S + 1, (B, ), generator=gen)
    valid = torch.arange(S).view(1, S) < num_players.view(B, 1)
    presence = (torch.rand(B, T, S, generator=gen) < 0.8) & valid[:, None]
    batch, frame, track, node_id = _nodes(presence)
    pair = (presence.unsqueeze(3) & presence.unsqueeze(2) &
            ~torch.eye(S, dtype=torch.bool) &
            (torch.rand(B, T, S, S, generator=gen) < pair_prob))
    b, t, i, j = pair.nonzero(as_tuple=True)
    attr = _multi_hot(b.numel(), SHHI_CLASSES, 0, SHHI_CLASSES, gen, dtype)
    x = torch.randn(batch.numel(), channels, generator=gen, dtype=dtype)
    return Graph(x, batch, frame, track,
                 torch.stack([node_id[b, t, i], node_id[b, t, j]]),
                 torch.zeros(b.numel(), dtype=torch.long), attr, t, B, T,
                 'all')


# Steps and measurements ######################################################

def _sparse_index(conv: VGPNNConv, g: Graph):
    # The index building of a sparse step: edge pairs, attention groups.
    pair = edge_pair_index(g.edge_index, g.edge_type, g.track)
    return vgpnn_groups(pair, impl=conv.attention_impl)


def _sparse_loss(forward: Callable, g: Graph, groups) -> torch.Tensor:
    # The forward pass of a sparse step, and its loss.
    out, gates = forward(g.x, g.edge_index, g.edge_attr, g.edge_frame,
                         None, return_gates=True, groups=groups)
    return out.square().mean() + gates.mean()


def sparse_step(conv: VGPNNConv, g: Graph,
                forward: Optional[Callable] = None) -> Callable[[], None]:
    r"""One forward + backward pass of the sparse layer, index building
    included; :obj:`forward` replaces ``conv`` in the forward pass (e.g.
    :func:`compiled` ``(conv)``)."""
    forward = conv if forward is None else forward

    def step() -> None:
        _sparse_loss(forward, g, _sparse_index(conv, g)).backward()
        conv.zero_grad(set_to_none=True)
    return step


#: Phases of a sparse step, as :func:`sweep` splits it: the index
#: building, the forward pass with the loss, and the rest of the step (the
#: backward pass and ``zero_grad``).
PHASES = ('index', 'forward', 'backward')


def sparse_phases(conv: VGPNNConv, g: Graph,
                  forward: Optional[Callable] = None
                  ) -> Dict[str, Callable[[], None]]:
    r"""The first two phases of :func:`sparse_step`, to be timed apart
    from it so that a step's cost can be split into where it goes:
    ``'index'`` builds the edge-pair index and the attention groups,
    ``'forward'`` runs the forward pass and the loss on groups built once
    beforehand, without the backward pass (autograd records its graph all
    the same, which is then freed unused). The backward pass and
    ``zero_grad`` are the rest of the step."""
    forward = conv if forward is None else forward
    groups = _sparse_index(conv, g)
    return {'index': lambda: _sparse_index(conv, g),
            'forward': lambda: _sparse_loss(forward, g, groups)}


def _has_phases(sw: Dict) -> bool:
    # Sweeps saved before the phases were timed have none.
    return all('index_s' in p for p in sw['points'])


def dense_step(dense: DenseVGPNN, d: DenseGraph,
               forward: Optional[Callable] = None) -> Callable[[], None]:
    r"""One forward + backward pass of the dense layer (no masks, as in the
    authors' code); :obj:`forward` replaces ``dense`` in the forward
    pass."""
    forward = dense if forward is None else forward

    def step() -> None:
        out, gates = forward(d.x, d.edge_attr, d.pairs)
        (out.square().mean() + gates.mean()).backward()
        dense.zero_grad(set_to_none=True)
    return step


def compile_options(device: torch.device) -> Dict[str, bool]:
    r"""The inductor options of :func:`compiled`. On CPU: a C++ wrapper,
    so that launching the generated kernels costs no Python per kernel
    (``cpp_wrapper``), and ATen's random numbers for dropout
    (``fallback_random``): inductor's own generated random numbers are
    slower per element on CPU than ``bernoulli_``, and ATen's keep the
    dropout masks of eager mode."""
    if device.type == 'cpu':
        return {'cpp_wrapper': True, 'fallback_random': True}
    return {}


def compiled(module: torch.nn.Module, device: torch.device,
             backend: str = 'inductor') -> Callable:
    r""":func:`torch.compile` of :obj:`module` for graphs of every size
    (``dynamic=True``: one compiled graph serves all batch sizes, but for
    a few size classes inductor specialises on). The sparse layer compiles
    as a whole because its groups are built outside it
    (:func:`~pyg_proda.nn.vgpnn_groups`): no data-dependent shape is left
    inside the forward pass."""
    options = compile_options(device) if backend == 'inductor' else None
    return torch.compile(module, dynamic=True, backend=backend,
                         options=options)


def keep_freed_memory() -> bool:
    r"""Makes glibc serve every allocation from its heap and never give
    freed memory back to the OS (``mallopt(M_MMAP_MAX, 0)``,
    ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)``), the way PyTorch's CUDA
    caching allocator keeps freed blocks. Otherwise every tensor above 32 MB
    is a fresh ``mmap`` whose pages fault in on first touch, which doubles
    the cost of memory-bound ops in every step of a large graph for the
    sparse and the dense layer alike. Returns :obj:`False` where not
    available (no glibc)."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        return bool(libc.mallopt(-4, 0)) and bool(libc.mallopt(
            -1, 2**31 - 1))
    except (OSError, AttributeError):
        return False


#: The timer of :func:`time_rounds` (replaceable in tests).
_clock = time.perf_counter


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_rounds(steps: Sequence[Callable[[], None]], device: torch.device,
                repeats: int = 5, warmup: int = 1, budget_s: float = 60.0,
                rewarm: bool = True,
                min_block_s: float = 0.0) -> List[List[float]]:
    r"""Wall time per run of every step of :obj:`steps` in seconds, one
    sample per round (:obj:`repeats` rounds after :obj:`warmup`), timed in
    rounds so that a machine whose speed drifts (a shared VM, frequency
    scaling) shifts every step alike instead of the ones timed in its slow
    minutes.

    In every round a step first runs once untimed (:obj:`rewarm`): a small
    step timed right after a large one would otherwise pay for caches and
    heap the large one left cold, which consecutive training steps of one
    size do not. It is then timed over a *block* of consecutive runs, the
    sample being their mean: as many runs as take :obj:`min_block_s` in
    the first round (at least one), the same number in every later round.
    A millisecond step then averages over as much of the machine's noise
    as a step of a second does, and is measured warm as in a training
    loop, instead of one run right after another size. A step stops taking
    part (after at least one timed round) once its timed runs have used
    :obj:`budget_s`."""
    for _ in range(warmup):
        for step in steps:
            step()
    _sync(device)
    times: List[List[float]] = [[] for _ in steps]
    blocks: List[Optional[int]] = [None for _ in steps]
    spent = [0.0 for _ in steps]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            if times[i] and spent[i] > budget_s:
                continue
            if rewarm:
                step()
                _sync(device)
            runs = 0
            t0 = _clock()
            while True:
                step()
                _sync(device)
                runs += 1
                elapsed = _clock() - t0
                if (runs == blocks[i] or
                        (blocks[i] is None and elapsed >= min_block_s)):
                    break
            blocks[i] = runs
            spent[i] += elapsed
            times[i].append(elapsed / runs)
    return times


def time_interleaved(steps: Sequence[Callable[[], None]],
                     device: torch.device, repeats: int = 5,
                     warmup: int = 1, budget_s: float = 60.0,
                     rewarm: bool = True,
                     min_block_s: float = 0.0) -> List[float]:
    r"""Median over the rounds of :func:`time_rounds` of every step."""
    return [statistics.median(t) for t in time_rounds(
        steps, device, repeats, warmup, budget_s, rewarm, min_block_s)]


def time_step(step: Callable[[], None], device: torch.device,
              repeats: int = 5, warmup: int = 1,
              budget_s: float = 60.0) -> float:
    r"""Median wall time of :obj:`step` in seconds over :obj:`repeats` runs
    after :obj:`warmup` runs; stops early (at least one run) once
    :obj:`budget_s` is spent."""
    return time_interleaved([step], device, repeats, warmup, budget_s,
                            rewarm=False)[0]


def count_ops(step: Callable[[], None]) -> int:
    r"""Number of ATen operators that one run of :obj:`step` dispatches
    (forward and backward, views included): what a step costs whatever the
    size of its tensors, at a few microseconds of dispatch each."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.count += 1
            return func(*args, **(kwargs or {}))

    with Counter() as counter:
        step()
    return counter.count


def peak_memory(step: Callable[[], None], device: torch.device) -> int:
    r"""Peak bytes allocated during one run of :obj:`step` and still alive
    at that moment (allocations made before the step are not counted)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        step()
    events = [e for e in p.profiler.kineto_results.events()
              if e.name() == '[memory]' and e.device_type().name == 'CPU']
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()
        peak = max(peak, current)
    return peak


def default_heads(hidden: int) -> int:
    r"""Attention heads at :obj:`hidden`: 12, 8 or 4, the first that
    divides it (12 at 768, 8 at 256), for every workload but the sweep."""
    return 12 if hidden % 12 == 0 else 8 if hidden % 8 == 0 else 4


def sweep_heads(hidden: int) -> int:
    r"""Attention heads of the sweep at :obj:`hidden`: one at the toy widths
    that let its largest point fit in memory (below 64, e.g. the default
    8), where several heads would leave each a channel or two; else
    :func:`default_heads`, as the ``ag`` workload of the same width."""
    return 1 if hidden < 64 else default_heads(hidden)


def make_conv(channels: int, edge_dim: int, heads: int, impl: str,
              device: torch.device, seed: int = 0) -> VGPNNConv:
    torch.manual_seed(seed)
    return VGPNNConv(channels, channels, edge_dim, heads=heads,
                     num_temporal_layers=2, max_frames=16,
                     attention_impl=impl).to(device).train()


def compare(g: Graph, channels: int, heads: int, device: torch.device,
            repeats: int, impls: Sequence[str] = ('sdpa', ),
            layouts: Sequence[str] = (), budget_s: float = 60.0,
            max_dense_bytes: Optional[float] = None) -> Dict:
    r"""Times and measures the sparse layer (each of :obj:`impls`) and the
    dense layer (the graph's own layout, then each of :obj:`layouts`) on
    :obj:`g`."""
    g = g.to(device)
    res: Dict = {'videos': g.num_graphs, 'nodes': g.x.size(0),
                 'edges': g.num_edges, 'hidden': channels}
    first = None
    for impl in impls:
        conv = make_conv(channels, g.edge_attr.size(1), heads, impl, device)
        first = first or conv
        step = sparse_step(conv, g)
        res[f'sparse_{impl}_s'] = time_step(step, device, repeats,
                                            budget_s=budget_s)
        res[f'sparse_{impl}_bytes'] = peak_memory(step, device)
    for i, layout in enumerate([g.layout, *layouts]):
        suffix = '' if i == 0 else f'_{layout}'
        d = g.pad(layout)
        res[f'dense_pairs{suffix}'] = d.pairs.size(0)
        res[f'dense_rows{suffix}'] = rows = 2 * d.edge_mask.numel()
        # Rough activation size: ~30 hidden-wide and 8 feed-forward-wide
        # float rows per link row (forward + backward).
        estimate = rows * (30 * channels + 8 * first.ff_channels) * 4
        if (i > 0 and max_dense_bytes is not None and
                estimate > max_dense_bytes):
            print(f'  skipped dense layout {layout!r}: ~{estimate / 2**30:.1f}'
                  f' GB estimated', flush=True)
            del res[f'dense_pairs{suffix}'], res[f'dense_rows{suffix}']
            continue
        dense = DenseVGPNN.from_sparse(first)
        step = dense_step(dense, d)
        res[f'dense_bytes{suffix}'] = peak_memory(step, device)
        res[f'dense_s{suffix}'] = time_step(step, device, repeats,
                                            budget_s=budget_s)
        impl = impls[0]
        res[f'speedup{suffix}'] = res[f'dense_s{suffix}'] / \
            res[f'sparse_{impl}_s']
        res[f'memory_ratio{suffix}'] = res[f'sparse_{impl}_bytes'] / \
            res[f'dense_bytes{suffix}']
        del d, dense, step
    res['sparse_rows'] = 2 * g.num_edges
    print(f"  {g.layout}: speedup {res['speedup']:.2f}x, memory ratio "
          f"{res['memory_ratio']:.3f}", flush=True)
    return res


def fit_cost(points: Sequence[Dict], key: str = 'sparse_s'
             ) -> Sequence[float]:
    r"""Least-squares fit ``time = fixed + marginal * edges`` of the times
    :obj:`key` of :obj:`points` with relative residuals (every point weighs
    the same); returns ``(fixed [s], marginal [s per edge])``."""
    t = torch.tensor([p[key] for p in points], dtype=torch.float64)
    e = torch.tensor([p['edges'] for p in points], dtype=torch.float64)
    A = torch.stack([1 / t, e / t], dim=1)
    sol = torch.linalg.lstsq(A, torch.ones_like(t).unsqueeze(1)).solution
    return float(sol[0]), float(sol[1])


def sweep_graph(target: float, channels: int, seed: int = 1) -> Graph:
    r"""An :func:`ag_graph` batch with at least :obj:`target` edges, and
    about as few videos as that takes (the count is estimated from the
    batch's mean edges per video), so that a sweep point "at 1e3 edges"
    does not fall short of its range."""
    per_video = 7.0 * 16  # relations per video, a little over the mean
    videos = max(1, math.ceil(target / per_video))
    g = ag_graph(videos, channels, seed=seed)
    while g.num_edges < target:
        mean = g.num_edges / videos
        videos += max(1, math.ceil((target - g.num_edges) / mean))
        g = ag_graph(videos, channels, seed=seed)
    return g


#: Frames of the batch of :func:`floor_graph`.
FLOOR_FRAMES = 2


def floor_graph(channels: int, seed: int = 1) -> Graph:
    r"""The smallest Action-Genome-shaped batch that still has sequences of
    frames to attend over: one video of :data:`FLOOR_FRAMES` frames (9
    edges at the default seed). A step on it costs what every call costs
    whatever the size of its graph: the *floor* of :func:`sweep`."""
    return ag_graph(1, channels, num_frames=FLOOR_FRAMES, seed=seed)


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
    size, timed in interleaved rounds (:func:`time_rounds`); the dense
    layer is run while its extrapolated peak memory (it grows linearly with
    the batch) stays under :obj:`max_dense_bytes`. With a :obj:`backend`,
    both layers run :func:`compiled` with it (one compiled module serves
    every point; it compiles in the warm-up runs, which are not timed).
    The *floor*, a step on :func:`floor_graph` (9 edges), runs in the same
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
    r""":func:`sweep` with both layers :func:`compiled`, or
    ``{'skipped': reason}`` where compiling fails (no C++ compiler for
    inductor on CPU, an unknown backend), so that the eager figures of the
    run are not lost."""
    try:
        return sweep(targets, channels, heads, device, repeats,
                     max_dense_bytes, budget_s, backend=backend,
                     min_block_s=min_block_s)
    except Exception as e:  # reported, and in the JSON
        reason = f'{type(e).__name__}: {str(e).strip()[:500]}'
        print(f'  compiled sweep skipped: {reason}', flush=True)
        return {'skipped': reason}


# Training throughput #########################################################

def train_throughput(hidden: int, heads: int, batch_size: int, steps: int,
                     warmup: int, num_videos: int, device: torch.device,
                     root: str) -> Dict:
    r"""Videos per second of :class:`~pyg_proda.training.ProDAModule`
    training steps (forward, losses, backward, AdamW) on
    :class:`~pyg_proda.datasets.SyntheticSSG`, after :obj:`warmup` steps."""
    import lightning as L

    from pyg_proda.training import ProDAModule, SSGDataModule

    data = SSGDataModule('synthetic', root=root, batch_size=batch_size,
                         dataset_kwargs={'num_videos': num_videos,
                                         'log': False})
    module = ProDAModule(data.in_channels, data.num_classes, data.edge_dim,
                         hidden_channels=hidden, heads=heads,
                         max_frames=data.max_frames)

    class Clock(L.Callback):
        def __init__(self):
            self.videos, self.start, self.end = 0, None, None

        def on_train_batch_start(self, trainer, pl_module, batch, idx):
            if trainer.global_step == warmup:
                _sync(device)
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, out, batch, idx):
            if self.start is not None:
                self.videos += int(batch.num_graphs)
                _sync(device)
                self.end = time.perf_counter()

    clock = Clock()
    trainer = L.Trainer(
        max_steps=warmup + steps, accelerator=device.type, devices=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=0, gradient_clip_val=5.0, callbacks=[clock],
        default_root_dir=root)
    trainer.fit(module, datamodule=data)
    elapsed = clock.end - clock.start
    return {'hidden': hidden, 'batch_size': batch_size, 'steps': steps,
            'videos_per_s': clock.videos / elapsed,
            's_per_step': elapsed / steps}


# Report ######################################################################

def _mb(b: Optional[float]) -> str:
    return '-' if b is None else f'{b / 2**20:,.1f}'


def _x(v: Optional[float]) -> str:
    return '-' if v is None else f'{v:.2f}x'


def _us(v: float) -> str:
    # A per-edge phase cost in its column: one decimal from 100 us on, so
    # that wide layers (ms per edge) keep a space between the columns.
    return f"{v:>8.{3 if abs(v) < 100 else 1}f}"


def _print_sweep(sw: Dict) -> None:
    mode = 'eager'
    if sw['compiled']:
        mode = ', '.join(['torch.compile', sw['backend'],
                          *(sw['compile_options'] or ())])
    heads = sw.get('heads', 1)  # sweeps saved before it was kept had 1
    layer = f"H={sw['hidden']}" + (f', {heads} heads' if heads > 1 else '')
    print(f"\nsweep ({layer}, {mode}): sparse cost per edge")
    split = _has_phases(sw)
    print(f"{'edges':>10}{'sparse ms':>11}{'spread':>8}{'us/edge':>9}"
          f"{'added':>9}"
          + (f"{'index':>8}{'fwd':>8}{'bwd':>8}" if split else '') +
          f"{'sparse MB':>11}{'speedup':>9}{'mem ratio':>10}")
    for p in sw['points']:
        mr = p['memory_ratio']
        added = p.get('marginal_us_per_edge')
        parts = ''.join(_us(p[f'{name}_s'] / p['edges'] * 1e6)
                        for name in PHASES) if split else ''
        print(f"{p['edges']:>10,d}{p['sparse_s'] * 1e3:>11.1f}"
              f"{100 * p['spread']:>7.1f}%{p['us_per_edge']:>9.3f}"
              f"{'-' if added is None else f'{added:.3f}':>9}{parts}"
              f"{_mb(p['sparse_bytes']):>11}"
              f"{_x(p['speedup']):>9}"
              f"{'-' if mr is None else f'{mr:.3f}':>10}")
    print(f"median {sw['us_per_edge_median']:.3f} us/edge, largest "
          f"deviation {100 * sw['per_edge_max_deviation']:.1f} %; fit: "
          f"{sw['fixed_ms']:.2f} ms per call + "
          f"{sw['marginal_us_per_edge']:.3f} us per edge; 'added': cost "
          f"per edge of the edges added since the previous point; "
          f"'spread': (slowest - fastest round) / median, rounds of "
          f">= {sw['min_block_s']:g} s of consecutive runs")
    floor = sw.get('floor')  # sweeps saved before it was timed lack it
    if floor:
        first = sw['points'][0]
        ops = dense = ''
        if floor.get('ops') is not None:
            ops = f"; {floor['ops']} ATen ops"
        if floor.get('dense_s') is not None:  # older JSONs lack it
            dense_ops = floor.get('dense_ops')
            dense = (f"; the dense layer's on the same batch "
                     f"{floor['dense_s'] * 1e3:.2f} ms" +
                     ('' if dense_ops is None else f' ({dense_ops} ops)'))
        # What a call may cost whatever its size for the smallest point to
        # stay in the band, if its per-edge work were the median's.
        room = 0.2 * sw['us_per_edge_median'] * first['edges'] / 1e3
        print(f"floor: a step on 1 video of {floor['frames']} frames "
              f"({floor['edges']} edges) takes "
              f"{floor['sparse_s'] * 1e3:.2f} ms (index "
              f"{floor['index_s'] * 1e3:.2f}, fwd "
              f"{floor['forward_s'] * 1e3:.2f}, bwd "
              f"{floor['backward_s'] * 1e3:.2f}; spread "
              f"{100 * floor['spread']:.0f} %{ops}){dense}")
        print(f"  over the {first['edges']:,d}-edge point: "
              f"{floor['sparse_s'] / first['edges'] * 1e6:.3f} us per edge, "
              f"whose cost is "
              f"{first['us_per_edge'] - sw['us_per_edge_median']:+.3f} "
              f"us/edge from the median; the +-20 % band leaves "
              f"{room:.2f} ms there for what every call costs (0.2 x "
              f"median x edges)")
    if split:
        ph = sw['phases']
        print("phases (us/edge columns 'index', 'fwd', 'bwd'): index "
              "building; forward pass and loss on built groups; the rest "
              "of the step (backward, zero_grad). Fits: " + '; '.join(
                  f"{name} {ph[name]['fixed_ms']:.2f} ms + "
                  f"{ph[name]['marginal_us_per_edge']:.3f} us/edge"
                  for name in PHASES))
    if sw['ops_per_step'] is not None:
        ops = ''
        if split:
            ops = ' (' + ', '.join(f"{sw['phases'][name]['ops']} {name}"
                                   for name in PHASES) + ')'
        # At wide layers the fixed cost is lost in the points' noise, and
        # the fit's intercept can come out negative: no cost per op then.
        per_op = (f"the fitted fixed cost is "
                  f"{1e3 * sw['fixed_ms'] / sw['ops_per_step']:.1f} us per op"
                  if sw['fixed_ms'] > 0 else
                  "the fit finds no fixed cost above the points' noise")
        print(f"one sparse step dispatches {sw['ops_per_step']} ATen ops"
              f"{ops} whatever its size; {per_op}")


def print_table(results: Dict) -> None:
    print(f"\ndevice: {results['device']}, threads: {results['threads']}, "
          f"heap cache: {results['heap_cache']}")
    head = (f"{'workload':<22}{'edges':>8}{'rows s/d':>14}{'sparse ms':>11}"
            f"{'dense ms':>11}{'speedup':>9}{'sparse MB':>11}{'dense MB':>11}"
            f"{'mem ratio':>10}")
    if results.get('ag') or results.get('sportshhi'):  # not --workloads sweep
        print(head)
        print('-' * len(head))
    for name in ('ag', 'sportshhi'):
        for r in results.get(name, []):
            label = f"{name} H={r['hidden']} B={r['videos']}"
            layouts = [('', results['layouts'][name])]
            layouts += [(f'_{lay}', lay) for lay in ('all', )
                        if f'speedup_{lay}' in r]
            for suffix, lay in layouts:
                print(f"{label + ' ' + lay:<22}{r['edges']:>8}"
                      f"{r['sparse_rows']:>6}/{r['dense_rows' + suffix]:<7}"
                      f"{r['sparse_sdpa_s'] * 1e3:>11.1f}"
                      f"{r['dense_s' + suffix] * 1e3:>11.1f}"
                      f"{_x(r['speedup' + suffix]):>9}"
                      f"{_mb(r['sparse_sdpa_bytes']):>11}"
                      f"{_mb(r['dense_bytes' + suffix]):>11}"
                      f"{r['memory_ratio' + suffix]:>10.3f}")
            if 'sparse_scatter_s' in r:
                print(f"{'  (scatter attention)':<22}{'':>22}"
                      f"{r['sparse_scatter_s'] * 1e3:>11.1f}{'':>20}"
                      f"{_mb(r['sparse_scatter_bytes']):>11}")
    for key in ('sweep', 'sweep_compiled'):
        sw = results.get(key)
        if sw and 'skipped' in sw:
            print(f"\n{key}: skipped ({sw['skipped']})")
        elif sw:
            _print_sweep(sw)
    tr = results.get('train')
    if tr:
        for t in tr:
            print(f"\nProDA training on SyntheticSSG (H={t['hidden']}, batch "
                  f"{t['batch_size']}): {t['videos_per_s']:.1f} videos/s "
                  f"({1e3 * t['s_per_step']:.0f} ms/step)")


def plot_sweep(results: Dict, path: Optional[str] = None):
    r"""Figure of the sweeps of :obj:`results` (eager and, if run,
    compiled): left the cost per edge of a whole step (bars: fastest to
    slowest round; band: median +- 20 %) and of the edges added since the
    previous point (dashed), in the middle the sparse and dense step times
    and their floors (dash-dotted, dotted), right (where the sweep has
    them) the cost per edge of its phases (:data:`PHASES`). Written as a
    PNG to :obj:`path` if given; returns the
    :class:`~matplotlib.figure.Figure`.

    Raises:
        ValueError: if :obj:`results` holds no sweep.
    """
    from matplotlib.figure import Figure
    sweeps = [results[key] for key in ('sweep', 'sweep_compiled')
              if results.get(key) and 'points' in results[key]]
    if not sweeps:
        raise ValueError('plot_sweep: the results hold no sweep')
    split = all(_has_phases(sw) for sw in sweeps)
    fig = Figure(figsize=(16 if split else 11, 4.2), dpi=100)
    cost, times, *rest = fig.subplots(1, 3 if split else 2)
    for sw, color in zip(sweeps, ('tab:blue', 'tab:orange')):
        label = 'compiled' if sw['compiled'] else 'eager'
        pts = sw['points']
        e = [p['edges'] for p in pts]
        us = [p['us_per_edge'] for p in pts]
        yerr = None  # fastest to slowest round (older JSONs lack samples)
        if all('sparse_samples_s' in p for p in pts):
            yerr = [[u - min(p['sparse_samples_s']) / p['edges'] * 1e6
                     for u, p in zip(us, pts)],
                    [max(p['sparse_samples_s']) / p['edges'] * 1e6 - u
                     for u, p in zip(us, pts)]]
        mid = sw['us_per_edge_median']
        cost.axhspan(0.8 * mid, 1.2 * mid, color=color, alpha=0.12)
        cost.errorbar(e, us, yerr=yerr,
                      marker='o', color=color, capsize=3,
                      label=f'{label}: whole step')
        added = [(p['edges'], p['marginal_us_per_edge']) for p in pts
                 if 'marginal_us_per_edge' in p]
        if added:
            cost.plot(*zip(*added), ls='--', marker='x', color=color,
                      label=f'{label}: added edges')
        times.plot(e, [p['sparse_s'] * 1e3 for p in pts], marker='o',
                   color=color, label=f'sparse, {label}')
        dense = [(p['edges'], p['dense_s'] * 1e3) for p in pts
                 if p.get('dense_s') is not None]
        if dense:
            times.plot(*zip(*dense), marker='s', ls=':', color=color,
                       label=f'dense, {label}')
        floor = sw.get('floor')
        if floor:
            times.axhline(floor['sparse_s'] * 1e3, ls='-.', lw=1,
                          color=color, label=f"floor ({floor['edges']}"
                                             f" edges), {label}")
            if floor.get('dense_s') is not None:
                times.axhline(floor['dense_s'] * 1e3, ls=(0, (1, 3)), lw=1,
                              color=color, label=f'dense floor, {label}')
        if split:
            for name, ls, marker in zip(PHASES, (':', '-', '--'),
                                        ('v', '^', 'D')):
                rest[0].plot(e, [p[f'{name}_s'] / p['edges'] * 1e6
                                 for p in pts], ls=ls, marker=marker,
                             color=color, label=f'{label}: {name}')
    cost.set(xscale='log', xlabel='edges', ylabel='µs per edge',
             title=f"VGPNNConv cost per edge (H={sweeps[0]['hidden']}; "
                   f"band: median ± 20 %)")
    cost.set_ylim(bottom=0)
    cost.legend(fontsize=8)
    times.set(xscale='log', yscale='log', xlabel='edges',
              ylabel='forward + backward (ms)', title='step time')
    times.legend(fontsize=8)
    if split:
        rest[0].set(xscale='log', xlabel='edges', ylabel='µs per edge',
                    title='where a step goes (backward: the rest)')
        rest[0].set_ylim(bottom=0)
        rest[0].legend(fontsize=8, ncol=2)
    fig.suptitle(f"{results['device']}, {results['threads']} thread(s), "
                 f"torch {results.get('torch', '?')}", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=fig.dpi, format='png')
    return fig


#: The workloads of a run, in the order they run (``--workloads``).
WORKLOADS = ('ag', 'sportshhi', 'sweep', 'train')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true',
                   help='Small sizes; finishes in under a minute')
    p.add_argument('--workloads', nargs='+', choices=WORKLOADS,
                   default=list(WORKLOADS), metavar='NAME',
                   help='Run only these of ' + ', '.join(WORKLOADS) +
                   ' (default: all), e.g. "--workloads sweep" for the '
                   'sweep alone')
    p.add_argument('--json', default=None, help='Write the figures here')
    p.add_argument('--plot', default=None,
                   help='Draw the sweeps into this PNG (plot_sweep)')
    p.add_argument('--from-json', default=None, metavar='PATH',
                   help='Measure nothing: print the table of a saved run '
                   '(and draw it with --plot)')
    p.add_argument('--device', default=None,
                   help='cpu or cuda (default: cuda if available)')
    p.add_argument('--hidden', type=int, nargs='+', default=None,
                   help='Hidden sizes of ag/sportshhi (default: 256 768)')
    p.add_argument('--videos', type=int, default=None,
                   help='Videos per ag batch; sportshhi uses half '
                   '(default: 8)')
    p.add_argument('--repeats', type=int, default=None)
    p.add_argument('--sweep-hidden', type=int, default=None)
    p.add_argument('--sweep-max', type=float, default=None,
                   help='Largest sweep point in edges (default: 1e6)')
    p.add_argument('--min-block', type=float, default=None,
                   help='Seconds of consecutive runs per timed sample of a '
                   'sweep point (default: 0.2, 0.05 with --quick)')
    p.add_argument('--compile', action=argparse.BooleanOptionalAction,
                   default=None,
                   help='Also run the sweep with both layers under '
                   'torch.compile (default: on, off with --quick)')
    p.add_argument('--compile-backend', default='inductor',
                   help='torch.compile backend of the compiled sweep')
    p.add_argument('--max-dense-gb', type=float, default=6.0,
                   help='Skip dense runs (sweep points, --all-pairs) whose '
                   'peak would exceed this')
    p.add_argument('--all-pairs', action='store_true',
                   help='Also run the all-pairs dense layout on ag')
    p.add_argument('--scatter', action='store_true',
                   help="Also time attention_impl='scatter'")
    p.add_argument('--train-hidden', type=int, nargs='*', default=None,
                   help='Hidden sizes of the training throughput run '
                   '(none: skip)')
    p.add_argument('--no-heap-cache', action='store_true',
                   help='Leave glibc malloc as it is (see keep_freed_memory)')
    p.add_argument('--data-root', default=None,
                   help='Where SyntheticSSG is generated (default: temp)')
    p.add_argument('--threads', type=int, default=None,
                   help='CPU threads (default: 1, for stable figures on a '
                   'shared machine)')
    args = p.parse_args(argv)
    if args.plot and not args.from_json and 'sweep' not in args.workloads:
        p.error('--plot draws the sweep: add sweep to --workloads')
    return args


def _report(results: Dict, plot: Optional[str]) -> None:
    print_table(results)
    if plot:
        plot_sweep(results, plot)
        print(f'\nwrote {plot}')


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        _report(results, args.plot)
        return results
    device = torch.device(args.device or
                          ('cuda' if torch.cuda.is_available() else 'cpu'))
    if args.threads or device.type == 'cpu':
        torch.set_num_threads(args.threads or 1)
    heap = (device.type == 'cpu' and not args.no_heap_cache and
            keep_freed_memory())
    q = args.quick
    hiddens = args.hidden or ([32] if q else [256, 768])
    videos = args.videos or (4 if q else 8)
    shhi_videos = max(1, videos // 2)  # ~3x the dense rows of `ag`
    repeats = args.repeats or (2 if q else 5)
    budget = 5.0 if q else 60.0
    sweep_hidden = args.sweep_hidden or 8
    sweep_max = args.sweep_max or (1e4 if q else 1e6)
    min_block = (args.min_block if args.min_block is not None else
                 0.05 if q else 0.2)
    train_hidden = (args.train_hidden if args.train_hidden is not None else
                    ([32] if q else [256]))

    results: Dict = {'device': str(device), 'threads':
                     torch.get_num_threads(), 'quick': q,
                     'torch': torch.__version__, 'heap_cache': heap,
                     'workloads': list(args.workloads),
                     'layouts': {'ag': 'star', 'sportshhi': 'all'},
                     'ag': [], 'sportshhi': []}
    run = set(args.workloads)
    for hidden in hiddens:
        heads = default_heads(hidden)
        impls = ('sdpa', 'scatter') if args.scatter else ('sdpa', )
        if 'ag' in run:
            print(f'ag, hidden {hidden} ...', flush=True)
            results['ag'].append(compare(
                ag_graph(videos, hidden), hidden, heads, device, repeats,
                impls, layouts=('all', ) if args.all_pairs else (),
                budget_s=budget, max_dense_bytes=args.max_dense_gb * 2**30))
        if 'sportshhi' in run:
            print(f'sportshhi, hidden {hidden} ...', flush=True)
            results['sportshhi'].append(compare(
                sportshhi_graph(shhi_videos, hidden), hidden, heads, device,
                repeats, impls, budget_s=budget))
    targets = [t for t in (1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6)
               if t <= sweep_max]
    if 'sweep' in run:
        heads = sweep_heads(sweep_hidden)
        print(f'sweep, hidden {sweep_hidden}, {heads} head(s) ...',
              flush=True)
        results['sweep'] = sweep(targets, sweep_hidden, heads, device,
                                 repeats, args.max_dense_gb * 2**30, budget,
                                 min_block_s=min_block)
        if args.compile if args.compile is not None else not q:
            print(f'sweep, hidden {sweep_hidden}, torch.compile ...',
                  flush=True)
            results['sweep_compiled'] = compiled_sweep(
                targets, sweep_hidden, heads, device, repeats,
                args.max_dense_gb * 2**30, budget, args.compile_backend,
                min_block_s=min_block)
    if train_hidden and 'train' in run:
        root = args.data_root or tempfile.mkdtemp(prefix='pyg_proda_speed_')
        results['train'] = []
        for hidden in train_hidden:
            heads = default_heads(hidden)
            print(f'training throughput, hidden {hidden} ...', flush=True)
            results['train'].append(train_throughput(
                hidden, heads, batch_size=8 if q else 32,
                steps=3 if q else 6, warmup=1,
                num_videos=32 if q else 384, device=device,
                root=root))
    if args.json:  # before the report, so that a failing plot loses nothing
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    _report(results, args.plot)
    if args.json:
        print(f'\nwrote {args.json}')
    return results


if __name__ == '__main__':
    main()
