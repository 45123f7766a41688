r"""Index helpers shared by every stage of the pipeline (data views,
layers, models and metrics). Each rule has its one owner here."""
from typing import Optional

import torch
from torch import Tensor


def frame_group(batch: Tensor, frame: Tensor,
                max_frames: Optional[int] = None) -> Tensor:
    r"""Id of the ``(graph, frame)`` group of every node or edge,
    ``batch * max_frames + frame``: the row of a dense ``[B, max_frames]``
    layout, used by the readout, the normalisations, the baselines and the
    metrics alike.

    Args:
        batch (Tensor): Graph of every row ``[N]``.
        frame (Tensor): Frame of every row ``[N]``, in
            ``0..max_frames-1``.
        max_frames (int, optional): Frames per graph. (default: one more
            than the largest frame, which costs a host synchronisation)

    Example:
        >>> frame_group(torch.tensor([0, 1, 1]), torch.tensor([2, 0, 3]), 4)
        tensor([2, 4, 7])
    """
    if max_frames is None:
        max_frames = int(frame.max()) + 1 if frame.numel() else 1
    return batch * max_frames + frame


def edge_pair_index(edge_index: Tensor, edge_type: Tensor, track: Tensor,
                    batch: Optional[Tensor] = None) -> Tensor:
    r"""Consecutive id of the *edge pair* of every edge: edges with the same
    source track, destination track and relation type (in any frame) share
    one pair, whose frames form one sequence of the VGPNN link step.

    Tracks are unique over a batch of :class:`~pyg_proda.data.VideoSceneGraph`
    objects, so the ids never mix videos; :obj:`batch` (the graph of each
    node) is added to the key for inputs whose tracks restart per video.

    Args:
        edge_index (Tensor): ``[2, E]``.
        edge_type (Tensor): Relation type of each edge ``[E]``.
        track (Tensor): Track of each node ``[N]``.
        batch (Tensor, optional): Graph of each node ``[N]``.
            (default: :obj:`None`)

    Returns:
        Tensor: ``[E]`` long, values ``0..num_pairs-1``, numbered in the
        lexicographic order of ``(batch, source track, destination track,
        type)``.

    Example:
        >>> edge_index = torch.tensor([[0, 2, 0], [1, 3, 3]])
        >>> track = torch.tensor([0, 1, 0, 1])  # nodes 2, 3 = frame 1
        >>> edge_pair_index(edge_index, torch.tensor([0, 0, 1]), track)
        tensor([0, 0, 1])
    """
    src, dst = edge_index
    if src.numel() == 0:
        return src.new_zeros(0)
    keys = [track[src], track[dst], edge_type]
    if batch is not None:
        keys.insert(0, batch[src])
    stacked = torch.stack(keys, dim=0)  # [K, E]
    # One mixed-radix key per edge keeps the lexicographic order of the
    # columns, and a 1-D `unique` is far cheaper than `unique(dim=1)`.
    lo, hi = stacked.amin(dim=1).tolist(), stacked.amax(dim=1).tolist()
    radix = [h + 1 for h in hi]
    total = 1
    for r in radix:
        total *= r
    if min(lo) < 0 or total >= 2**62:
        return torch.unique(stacked, dim=1, return_inverse=True)[1]
    key = stacked[0]
    for row, r in zip(stacked[1:], radix[1:]):
        key = key * r + row
    return torch.unique(key, return_inverse=True)[1]
