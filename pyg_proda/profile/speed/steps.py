r"""The steps the speed benchmark times: one forward + backward pass of the
sparse :class:`~pyg_proda.nn.VGPNNConv` (and its phases) and of the dense
:class:`~pyg_proda.testing.DenseVGPNN` on the padded copy of the same
batch, and their comparison on one batch (:func:`compare`)."""
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import Tensor

from pyg_proda.nn import AttentionGroups, VGPNNConv, edge_pair_index, vgpnn_groups
from pyg_proda.profile import peak_memory, time_step
from pyg_proda.testing import SSG, DenseGraph, DenseVGPNN

#: Phases of a sparse step, as the sweep splits it: the index building,
#: the forward pass with the loss, and the rest of the step (the backward
#: pass and ``zero_grad``).
PHASES = ('index', 'forward', 'backward')


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
    r"""The benchmark's layer: two temporal layers over up to 16 frames,
    seeded, in training mode."""
    torch.manual_seed(seed)
    return VGPNNConv(channels, channels, edge_dim, heads=heads,
                     num_temporal_layers=2, max_frames=16,
                     attention_impl=impl).to(device).train()


def _sparse_index(conv: VGPNNConv, g: SSG) -> AttentionGroups:
    # The index building of a sparse step: edge pairs, attention groups.
    pair = edge_pair_index(g.edge_index, g.edge_type, g.track)
    return vgpnn_groups(pair, impl=conv.attention_impl)


def _sparse_loss(forward: Callable, g: SSG,
                 groups: AttentionGroups) -> Tensor:
    # The forward pass of a sparse step, and its loss.
    out, gates = forward(g.x, g.edge_index, g.edge_attr, g.edge_frame,
                         None, return_gates=True, groups=groups)
    return out.square().mean() + gates.mean()


def sparse_step(conv: VGPNNConv, g: SSG,
                forward: Optional[Callable] = None) -> Callable[[], None]:
    r"""One forward + backward pass of the sparse layer, index building
    included; :obj:`forward` replaces ``conv`` in the forward pass (e.g.
    :func:`~pyg_proda.profile.compiled` ``(conv)``)."""
    forward = conv if forward is None else forward

    def step() -> None:
        _sparse_loss(forward, g, _sparse_index(conv, g)).backward()
        conv.zero_grad(set_to_none=True)
    return step


def sparse_phases(conv: VGPNNConv, g: SSG,
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


def compare(g: SSG, channels: int, heads: int, device: torch.device,
            repeats: int, impls: Sequence[str] = ('sdpa', ),
            layouts: Sequence[str] = (), budget_s: float = 60.0,
            max_dense_bytes: Optional[float] = None) -> Dict:
    r"""Times and measures the sparse layer (each of :obj:`impls`) and the
    dense layer (the graph's own layout, then each of :obj:`layouts`) on
    :obj:`g`: ``speedup`` = dense time / sparse time, ``memory_ratio`` =
    sparse peak / dense peak, both against the first of :obj:`impls`."""
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
