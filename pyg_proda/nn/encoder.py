r"""Dual-path spatio-temporal Transformer encoder over the nodes of an
SSG (the ragged counterpart of the authors' ``MixTSE``)."""
from typing import NamedTuple, Optional

import torch
from torch import Tensor
from torch.nn import Embedding, Linear, Module, ModuleList

from pyg_proda.nn.grouped_attention import (
    AttentionGroups,
    GroupedTransformerBlock,
    make_groups,
)


class EncoderGroups(NamedTuple):
    r"""The attention groups of :class:`SpatioTemporalEncoder`:
    :obj:`spatial` (same graph and frame) and :obj:`temporal` (same graph
    and track)."""
    spatial: AttentionGroups
    temporal: AttentionGroups

    def to(self, *args, **kwargs) -> 'EncoderGroups':
        r"""Moves every tensor, like :meth:`torch.Tensor.to`."""
        return EncoderGroups(self.spatial.to(*args, **kwargs),
                             self.temporal.to(*args, **kwargs))


def _combine(a: Tensor, b: Tensor) -> Tensor:
    if a.numel() == 0:
        return a
    return torch.unique(torch.stack([a, b], dim=0), dim=1,
                        return_inverse=True)[1]


def encoder_groups(batch: Tensor, frame: Tensor, track: Tensor,
                   relative: bool = True,
                   impl: Optional[str] = None) -> EncoderGroups:
    r"""Builds the :class:`EncoderGroups` of a batch of nodes once, to pass
    to every :class:`SpatioTemporalEncoder` call.

    Args:
        batch (Tensor): Graph of each node ``[N]``.
        frame (Tensor): Frame of each node ``[N]``.
        track (Tensor): Track of each node ``[N]``.
        relative (bool, optional): Store the relative frames of the
            temporal pairs, needed by an encoder with
            ``max_relative_position > 0``. (default: :obj:`True`)
        impl (str, optional): Build only the layout of this attention
            implementation (see :func:`~pyg_proda.nn.make_groups`).
            (default: :obj:`None`)

    Example:
        >>> g = encoder_groups(torch.tensor([0, 0, 0]),
        ...                    torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]))
        >>> g.temporal.query.tolist(), g.temporal.key.tolist()
        ([0, 0, 1, 2, 2], [0, 2, 1, 0, 2])
    """
    return EncoderGroups(make_groups(_combine(batch, frame), impl=impl),
                         make_groups(_combine(batch, track),
                                     order=frame if relative else None,
                                     impl=impl))


class SpatioTemporalEncoder(Module):
    r"""Dual-path spatio-temporal Transformer encoder (Dual-AI style) over
    the nodes of a batch of SSGs.

    After adding a learned frame embedding, two streams of
    :class:`~pyg_proda.nn.GroupedTransformerBlock` layers run in parallel:
    one applies spatial attention (among the nodes of the same graph and
    frame) and then temporal attention (among the nodes of the same track,
    ordered by the frame embedding), the other the same in the opposite
    order; :obj:`num_layers` such pairs are stacked per stream. The streams
    are fused by a linear map of their concatenation:

    .. math::
        \mathbf{h}^{ST} = (T_L \circ S_L \circ \dots \circ T_1 \circ S_1)
        (\mathbf{x} + \mathbf{p}_f), \quad
        \mathbf{h}^{TS} = (S'_L \circ T'_L \circ \dots \circ S'_1 \circ
        T'_1)(\mathbf{x} + \mathbf{p}_f), \quad
        \mathbf{y} = \mathbf{W}[\mathbf{h}^{ST} \Vert \mathbf{h}^{TS}] +
        \mathbf{b}

    Args:
        channels (int): Feature size.
        heads (int, optional): Attention heads. (default: :obj:`12`)
        num_layers (int, optional): Spatial/temporal pairs per stream.
            (default: :obj:`1`)
        ff_channels (int, optional): Feed-forward size.
            (default: :obj:`4 * channels`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.1`)
        max_frames (int, optional): Number of frame embeddings.
            (default: :obj:`16`)
        attention_impl (str, optional): ``'scatter'`` or ``'sdpa'`` (see
            :class:`~pyg_proda.nn.GroupedSelfAttention`).
            (default: :obj:`'scatter'`)
        max_relative_position (int, optional): If positive, the temporal
            attention also learns a bias per head and relative frame offset
            (clipped to this distance), see
            :class:`~pyg_proda.nn.GroupedSelfAttention`. (default: :obj:`0`)

    Example:
        >>> enc = SpatioTemporalEncoder(8, heads=2)
        >>> x = torch.randn(4, 8)
        >>> batch = torch.zeros(4, dtype=torch.long)
        >>> frame, track = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
        >>> enc(x, batch, frame, track).shape
        torch.Size([4, 8])
    """
    def __init__(self, channels: int, heads: int = 12, num_layers: int = 1,
                 ff_channels: Optional[int] = None, dropout: float = 0.1,
                 max_frames: int = 16, attention_impl: str = 'scatter',
                 max_relative_position: int = 0):
        super().__init__()
        self.channels = channels
        self.heads = heads
        self.num_layers = num_layers
        self.max_frames = max_frames
        self.max_relative_position = max_relative_position
        self.attention_impl = attention_impl

        def blocks(rel: int = 0) -> ModuleList:
            return ModuleList([
                GroupedTransformerBlock(channels, heads, ff_channels, dropout,
                                        impl=attention_impl,
                                        max_relative_position=rel)
                for _ in range(num_layers)
            ])

        self.frame_emb = Embedding(max_frames, channels)
        rel = max_relative_position
        self.st_spatial, self.st_temporal = blocks(), blocks(rel)
        self.ts_temporal, self.ts_spatial = blocks(rel), blocks()
        self.lin_fuse = Linear(2 * channels, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.frame_emb.reset_parameters()
        for stack in (self.st_spatial, self.st_temporal, self.ts_temporal,
                      self.ts_spatial):
            for block in stack:
                block.reset_parameters()
        self.lin_fuse.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor, frame: Tensor,
                track: Tensor,
                groups: Optional[EncoderGroups] = None) -> Tensor:
        r"""Encodes the nodes.

        Args:
            x (Tensor): Node features ``[N, C]``.
            batch (Tensor): Graph of each node ``[N]``.
            frame (Tensor): Frame of each node ``[N]`` in
                ``0..max_frames-1``.
            track (Tensor): Track of each node ``[N]``.
            groups (EncoderGroups, optional): Precomputed
                :func:`encoder_groups`. (default: :obj:`None`)

        Returns:
            Tensor: ``[N, C]``.
        """
        if groups is None:
            groups = encoder_groups(batch, frame, track,
                                    self.max_relative_position > 0,
                                    impl=self.attention_impl)
        x = x + self.frame_emb(frame)
        h_st, h_ts = x, x
        for i in range(self.num_layers):
            h_st = self.st_spatial[i](h_st, groups.spatial)
            h_st = self.st_temporal[i](h_st, groups.temporal)
            h_ts = self.ts_temporal[i](h_ts, groups.temporal)
            h_ts = self.ts_spatial[i](h_ts, groups.spatial)
        return self.lin_fuse(torch.cat([h_st, h_ts], dim=-1))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'heads={self.heads}, num_layers={self.num_layers})')
