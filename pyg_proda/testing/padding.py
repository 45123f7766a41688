r"""The authors' dense padded layout of a batch of SSGs, and the one
routine that pads a homogeneous batch into it (:func:`pad_graph`).

The authors batch a video as ``[B, T, S]`` slots (graph, frame, track slot;
slot 0 the person) and relations as ``[B, T, P]`` *slot pairs*; a slot pair
here is a ``(source slot, destination slot, relation type)`` triple, since
:class:`~pyg_proda.nn.VGPNNConv` keys its link sequences by relation type
as well. Two pair layouts are provided:

* :func:`star_pairs`: the authors' Action Genome layout, every object slot
  paired with the person in slot 0, in the direction of each relation type
  (``P = (S - 1) R``);
* :func:`all_pairs`: every ordered pair of distinct slots and every type
  (``P = S (S - 1) R``), needed as soon as any two slots may be related
  (e.g. the person-person pairs of SportsHHI).
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def all_pairs(num_slots: int, num_types: int = 1) -> Tensor:
    r"""Every ordered pair of distinct slots, for every relation type.

    Args:
        num_slots (int): Slots ``S``.
        num_types (int, optional): Relation types ``R``. (default: :obj:`1`)

    Returns:
        Tensor: ``[S (S - 1) R, 3]`` rows ``(source slot, destination slot,
        type)``.

    Example:
        >>> all_pairs(2).tolist()
        [[0, 1, 0], [1, 0, 0]]
    """
    s = torch.arange(num_slots)
    src, dst, typ = torch.meshgrid(s, s, torch.arange(num_types),
                                   indexing='ij')
    keep = src != dst
    return torch.stack([src[keep], dst[keep], typ[keep]], dim=1)


def star_pairs(num_slots: int, outgoing: Sequence[bool]) -> Tensor:
    r"""The authors' star layout: the person in slot 0 paired with every
    other slot, once per relation type, in that type's direction.

    Args:
        num_slots (int): Slots ``S`` (person included).
        outgoing (Sequence[bool]): Per relation type, :obj:`True` if its
            edges go from the person to the object (Action Genome:
            attention and contacting), :obj:`False` if from the object to
            the person (spatial).

    Returns:
        Tensor: ``[(S - 1) R, 3]`` rows ``(source slot, destination slot,
        type)``.

    Example:
        >>> star_pairs(3, [True, False]).tolist()
        [[0, 1, 0], [1, 0, 1], [0, 2, 0], [2, 0, 1]]
    """
    rows = []
    for j in range(1, num_slots):
        for r, out in enumerate(outgoing):
            rows.append((0, j, r) if out else (j, 0, r))
    return torch.tensor(rows, dtype=torch.long).view(-1, 3)


@dataclass
class DenseGraph:
    r"""A batch of SSGs padded to the dense layout (:func:`pad_graph`).

    Args:
        x (Tensor): Node features ``[B, T, S, C]`` (zeros where padded).
        node_mask (Tensor): Real nodes ``[B, T, S]``.
        edge_attr (Tensor): Relation features ``[B, T, P, D_e]``.
        edge_mask (Tensor): Real relations ``[B, T, P]``.
        pairs (Tensor): The pair layout ``[P, 3]``.
        slot (Tensor): Slot of every sparse node ``[N]``.
        edge_pos (Tensor): Flat position ``(b T + t) P + p`` of every sparse
            edge ``[E]``.
    """
    x: Tensor
    node_mask: Tensor
    edge_attr: Tensor
    edge_mask: Tensor
    pairs: Tensor
    slot: Tensor
    edge_pos: Tensor

    def gather_nodes(self, dense: Tensor, batch: Tensor,
                     frame: Tensor) -> Tensor:
        r"""The rows ``[N, ...]`` of a ``[B, T, S, ...]`` tensor at the real
        nodes, in sparse node order."""
        return dense[batch, frame, self.slot]

    def gather_edges(self, dense: Tensor) -> Tensor:
        r"""The rows ``[E, ...]`` of a ``[B, T, P, ...]`` tensor at the real
        edges, in sparse edge order."""
        B, T, P = self.edge_mask.shape
        return dense.reshape(B * T * P, *dense.shape[3:])[self.edge_pos]


def track_slots(batch: Tensor, track: Tensor,
                num_graphs: int) -> Tuple[Tensor, int]:
    r"""Slot of every node: the rank of its track among the tracks of its
    graph (ascending track id).

    Args:
        batch (Tensor): Graph of every node ``[N]``.
        track (Tensor): Track of every node ``[N]``.
        num_graphs (int): Graphs ``B`` of the batch.

    Returns:
        ``(slot [N], S)``, with ``S`` the most tracks of a graph (at
        least 1).

    Example:
        >>> slot, S = track_slots(torch.tensor([0, 0, 1, 1]),
        ...                       torch.tensor([5, 2, 7, 7]), 2)
        >>> slot.tolist(), S
        ([1, 0, 0, 0], 2)
    """
    width = int(track.max()) + 1 if track.numel() > 0 else 1
    uniq, inv = torch.unique(batch * width + track, return_inverse=True)
    count = torch.bincount(uniq // width, minlength=num_graphs)
    ptr = torch.cumsum(count, dim=0) - count
    slot = inv - ptr[batch]
    return slot, max(int(count.max()) if count.numel() else 1, 1)


def pad_graph(
    x: Tensor,
    batch: Tensor,
    frame: Tensor,
    track: Tensor,
    edge_index: Tensor,
    edge_type: Tensor,
    edge_attr: Tensor,
    edge_frame: Tensor,
    num_graphs: int,
    num_frames: int,
    layout: str = 'all',
    num_slots: Optional[int] = None,
    outgoing: Optional[Sequence[bool]] = None,
) -> DenseGraph:
    r"""Pads a homogeneous batch of SSGs (the fields of
    :func:`pyg_proda.data.to_homogeneous`) into the dense layout.

    Slots are the tracks of each video in ascending track order
    (:func:`track_slots`), so the person must hold the lowest track id of
    its video for :obj:`'star'`.

    Args:
        x, batch, frame, track, edge_index, edge_type, edge_attr,
            edge_frame (Tensor): The homogeneous batch.
        num_graphs (int): Graphs ``B``.
        num_frames (int): Frames ``T``.
        layout (str, optional): ``'all'`` (:func:`all_pairs`) or ``'star'``
            (:func:`star_pairs`). (default: :obj:`'all'`)
        num_slots (int, optional): Pad to this many slots instead of the
            largest video of the batch (the authors pad to 10).
            (default: :obj:`None`)
        outgoing (Sequence[bool], optional): Direction of every relation
            type for ``'star'`` (see :func:`star_pairs`).
            (default: :obj:`None`)

    Raises:
        ValueError: for an unknown layout, too few slots, an edge the
            layout has no pair for, or two edges on the same pair and frame.
    """
    slot, S = track_slots(batch, track, num_graphs)
    if num_slots is not None:
        if num_slots < S:
            raise ValueError(f"pad_graph: a video has {S} tracks, more than "
                             f"num_slots={num_slots}")
        S = num_slots
    R = int(edge_type.max()) + 1 if edge_type.numel() > 0 else 1
    if layout == 'all':
        pairs = all_pairs(S, R)
    elif layout == 'star':
        if outgoing is None or len(outgoing) < R:
            raise ValueError("pad_graph: layout 'star' needs the direction "
                             "of every relation type ('outgoing')")
        pairs = star_pairs(S, outgoing)
        R = len(outgoing)
    else:
        raise ValueError(f"pad_graph: unknown layout '{layout}' (expected "
                         f"'all' or 'star')")
    pairs = pairs.to(x.device)
    P = pairs.size(0)
    # Pair id of every (source slot, destination slot, type); -1 = none.
    table = torch.full((S, S, R), -1, dtype=torch.long, device=x.device)
    table[pairs[:, 0], pairs[:, 1], pairs[:, 2]] = torch.arange(
        P, device=x.device)
    src, dst = edge_index
    pair = table[slot[src], slot[dst], edge_type]
    if bool((pair < 0).any()):
        e = int((pair < 0).nonzero()[0])
        raise ValueError(f"pad_graph: edge {e} (slots {int(slot[src[e]])} -> "
                         f"{int(slot[dst[e]])}, type {int(edge_type[e])}) "
                         f"has no pair in layout '{layout}'")

    B, T = num_graphs, num_frames
    dense_x = x.new_zeros(B, T, S, x.size(-1))
    node_mask = torch.zeros(B, T, S, dtype=torch.bool, device=x.device)
    dense_x[batch, frame, slot] = x
    node_mask[batch, frame, slot] = True
    edge_pos = (batch[src] * T + edge_frame) * P + pair
    attr = edge_attr.new_zeros(B * T * P, edge_attr.size(-1))
    edge_mask = torch.zeros(B * T * P, dtype=torch.bool, device=x.device)
    attr[edge_pos] = edge_attr
    edge_mask[edge_pos] = True
    if int(edge_mask.sum()) != edge_pos.numel():
        raise ValueError("pad_graph: two edges share a pair and a frame; "
                         "the dense layout holds one per pair and frame")
    return DenseGraph(dense_x, node_mask, attr.view(B, T, P, -1),
                      edge_mask.view(B, T, P), pairs, slot, edge_pos)
