r"""A dense, padded implementation of :class:`~pyg_proda.nn.VGPNNConv` in the
authors' layout, the baseline of ``benchmarks/speed.py``.

The authors batch a video as ``[B, T, S]`` slots (graph, frame, track slot;
slot 0 the person, design facts §2) and run the VGPNN link step as one
temporal Transformer sequence of length ``T`` per *slot pair* and direction,
``[B * 2P, T, D]`` (§5). A slot pair here is a ``(source slot, destination
slot, relation type)`` triple, since :class:`~pyg_proda.nn.VGPNNConv` keys
its link sequences by relation type as well. Two pair layouts are provided:

* :func:`star_pairs`: the authors' Action Genome layout, every object slot
  paired with the person in slot 0, in the direction of each relation type
  (``P = (S - 1) R``);
* :func:`all_pairs`: every ordered pair of distinct slots and every type
  (``P = S (S - 1) R``), needed as soon as any two slots may be related
  (e.g. the person-person pairs of SportsHHI).

Every padded slot, frame and pair takes part in the compute, as in the
authors' code (which passes no mask). Given :obj:`edge_mask`, padded frames
are left out of the attention and padded pairs send no message, so that the
real entries equal the sparse layer's output exactly; this is how the
benchmark checks both implementations agree.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyg_proda.nn import VGPNNConv


def all_pairs(num_slots: int, num_types: int = 1) -> Tensor:
    r"""Every ordered pair of distinct slots, for every relation type.

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
    r"""A batch of SSGs padded to the dense layout.

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
    graph (ascending track id). Returns ``(slot [N], S)``."""
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

    Slots are the tracks of each video in ascending track order, so the
    person must hold the lowest track id of its video for :obj:`'star'`.

    Args:
        layout (str): ``'all'`` (:func:`all_pairs`) or ``'star'``
            (:func:`star_pairs`). (default: :obj:`'all'`)
        num_slots (int, optional): Pad to this many slots instead of the
            largest video of the batch (the authors pad to 10).
        outgoing (Sequence[bool], optional): Direction of every relation
            type for ``'star'`` (see :func:`star_pairs`).

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


class DenseVGPNN(nn.Module):
    r"""The mathematics of :class:`~pyg_proda.nn.VGPNNConv` on the dense
    ``[B, T, S]`` slot layout, the way the authors' code computes it:
    batched :class:`torch.nn.Linear` layers over every slot pair and frame,
    and one :class:`torch.nn.TransformerEncoder` sequence of ``T`` frames
    per pair and direction.

    Args:
        in_channels, out_channels, edge_dim, heads, num_temporal_layers,
            dropout, max_frames, ff_channels, message_norm: As in
            :class:`~pyg_proda.nn.VGPNNConv`.

    Example:
        >>> conv = VGPNNConv(8, 8, edge_dim=3, heads=2)
        >>> dense = DenseVGPNN.from_sparse(conv)
        >>> x = torch.randn(2, 4, 3, 8)  # [B, T, S, C]
        >>> pairs = all_pairs(3)  # 6 pairs
        >>> out, gates = dense(x, torch.rand(2, 4, 6, 3), pairs)
        >>> out.shape, gates.shape
        (torch.Size([2, 4, 3, 8]), torch.Size([2, 4, 6, 2]))
    """
    def __init__(self, in_channels: int, out_channels: int, edge_dim: int,
                 heads: int = 12, num_temporal_layers: int = 2,
                 dropout: float = 0.1, max_frames: int = 16,
                 ff_channels: Optional[int] = None,
                 message_norm: bool = False):
        super().__init__()
        ff_channels = ff_channels or 4 * out_channels
        self.dropout = dropout
        self.edge_mlp = nn.Sequential(
            nn.Linear(2 * in_channels + edge_dim, out_channels), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(out_channels, out_channels),
            nn.LayerNorm(out_channels), nn.GELU())
        self.frame_emb = nn.Embedding(max_frames, out_channels)
        layer = nn.TransformerEncoderLayer(
            out_channels, heads, ff_channels, dropout, activation='gelu',
            batch_first=True, norm_first=False)
        self.temporal = nn.TransformerEncoder(layer, num_temporal_layers,
                                              enable_nested_tensor=False)
        self.lin_gate = nn.Linear(out_channels, 1)
        self.lin_msg = nn.Linear(in_channels + out_channels, out_channels)
        self.lin_res = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_update = nn.Linear(out_channels, out_channels)
        self.msg_scale = (nn.Parameter(torch.ones(1)) if message_norm else
                          None)

    @classmethod
    def from_sparse(cls, conv: VGPNNConv) -> 'DenseVGPNN':
        r"""A :class:`DenseVGPNN` holding copies of the weights of
        :obj:`conv` (same dtype and device, same training mode)."""
        dense = cls(conv.in_channels, conv.out_channels, conv.edge_dim,
                    conv.heads, conv.num_temporal_layers, conv.dropout,
                    conv.max_frames, conv.ff_channels,
                    conv.msg_norm is not None)
        ref = conv.lin_gate.weight
        dense = dense.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for name in ('edge_mlp', 'frame_emb', 'lin_gate', 'lin_msg',
                         'lin_res', 'lin_update'):
                getattr(dense, name).load_state_dict(
                    getattr(conv, name).state_dict())
            for block, layer in zip(conv.temporal, dense.temporal.layers):
                attn = layer.self_attn
                attn.in_proj_weight.copy_(block.attn.lin_qkv.weight)
                attn.in_proj_bias.copy_(block.attn.lin_qkv.bias)
                attn.out_proj.load_state_dict(block.attn.lin_out.state_dict())
                layer.linear1.load_state_dict(block.lin1.state_dict())
                layer.linear2.load_state_dict(block.lin2.state_dict())
                layer.norm1.load_state_dict(block.norm1.state_dict())
                layer.norm2.load_state_dict(block.norm2.state_dict())
            if dense.msg_scale is not None:
                dense.msg_scale.copy_(conv.msg_norm.scale)
        return dense.train(conv.training)

    def forward(self, x: Tensor, edge_attr: Tensor, pairs: Tensor,
                edge_mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        r"""Runs the layer.

        Args:
            x (Tensor): Slot features ``[B, T, S, C]``.
            edge_attr (Tensor): Relation features ``[B, T, P, D_e]``.
            pairs (Tensor): Pair layout ``[P, 3]`` (:func:`all_pairs`,
                :func:`star_pairs`).
            edge_mask (Tensor, optional): Real relations ``[B, T, P]``. If
                :obj:`None` (the authors' default), padded entries take part
                everywhere. (default: :obj:`None`)

        Returns:
            ``(out [B, T, S, D], gates [B, T, P, 2])``; gate column 0 is the
            message to the destination slot, column 1 to the source slot.
        """
        B, T, S, _ = x.shape
        P = pairs.size(0)
        src, dst = pairs[:, 0], pairs[:, 1]
        x_src = x.index_select(2, src)  # [B, T, P, C]
        x_dst = x.index_select(2, dst)
        # Both directions side by side: rows 0..P-1 go to the destination
        # slot, rows P..2P-1 to the source slot.
        recv = torch.cat([x_dst, x_src], dim=2)  # [B, T, 2P, C]
        send = torch.cat([x_src, x_dst], dim=2)
        attr = torch.cat([edge_attr, edge_attr], dim=2)
        link = self.edge_mlp(torch.cat([recv, send, attr], dim=-1))
        link = link + self.frame_emb.weight[:T].view(1, T, 1, -1)
        D = link.size(-1)

        seq = link.transpose(1, 2).reshape(B * 2 * P, T, D)  # [B 2P, T, D]
        pad = None
        if edge_mask is not None:
            pad = ~torch.cat([edge_mask, edge_mask], dim=2)
            pad = pad.transpose(1, 2).reshape(B * 2 * P, T)
            # Fully padded sequences attend to everything (their output is
            # masked out below) instead of producing NaN.
            pad = pad & ~pad.all(dim=1, keepdim=True)
        seq = self.temporal(seq, src_key_padding_mask=pad)
        link = seq.view(B, 2 * P, T, D).transpose(1, 2)  # [B, T, 2P, D]

        gate = torch.sigmoid(self.lin_gate(link))  # [B, T, 2P, 1]
        msg = F.dropout(torch.cat([recv, link], dim=-1), p=self.dropout,
                        training=self.training)
        msg = gate * F.gelu(self.lin_msg(msg))
        if edge_mask is not None:
            keep = torch.cat([edge_mask, edge_mask], dim=2)
            msg = msg * keep.unsqueeze(-1).to(msg.dtype)
        receiver = torch.cat([dst, src])
        m = msg.new_zeros(B, T, S, D).index_add_(2, receiver, msg)
        if self.msg_scale is not None:
            m = (F.normalize(m, dim=-1) * x.norm(dim=-1, keepdim=True) *
                 self.msg_scale)
        out = F.gelu(self.lin_update(self.lin_res(x) + m))
        gates = gate.view(B, T, 2, P).permute(0, 1, 3, 2)
        return out, gates
