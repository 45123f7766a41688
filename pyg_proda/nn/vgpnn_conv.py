r"""The video graph parsing layer of ProDA (VGPNN, paper App. B)."""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import (
    GELU,
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    ModuleList,
    Sequential,
)
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.norm import MessageNorm

from pyg_proda.nn.grouped_attention import (
    AttentionGroups,
    GroupedTransformerBlock,
    make_groups,
)
from pyg_proda.utils import edge_pair_index  # noqa: F401 (public here too)


def vgpnn_groups(edge_pair: Tensor, edge_frame: Optional[Tensor] = None,
                 impl: Optional[str] = None) -> AttentionGroups:
    r"""The :class:`~pyg_proda.nn.AttentionGroups` of the ``2E`` directed
    message edges of :class:`VGPNNConv` (first the ``E`` messages to the
    destinations, then the ``E`` messages to the sources): one group per
    edge pair and direction. Build it once per batch and pass it as
    :obj:`groups` to every layer to keep the forward pass free of
    data-dependent shapes. Pass :obj:`edge_frame` (``[E]``) for layers with
    a relative-position bias (``max_relative_position > 0``), and the
    layers' :obj:`attention_impl` as :obj:`impl` to build only the layout
    they read (see :func:`~pyg_proda.nn.make_groups`).

    Example:
        >>> g = vgpnn_groups(torch.tensor([0, 0]))
        >>> g.query.tolist(), g.key.tolist()
        ([0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 2, 3, 2, 3])
    """
    order = None if edge_frame is None else torch.cat([edge_frame,
                                                       edge_frame])
    if edge_pair.numel() == 0:
        return make_groups(edge_pair, order=order, impl=impl)
    # Pair ids are consecutive (edge_pair_index), so no re-indexing needed.
    num_pairs = int(edge_pair.max()) + 1
    return make_groups(torch.cat([2 * edge_pair, 2 * edge_pair + 1]),
                       num_groups=2 * num_pairs, order=order, impl=impl)


class VGPNNConv(MessagePassing):
    r"""The video graph parsing layer of ProDA (App. B, Eq. 9-12), with
    the receiver-state messages of the authors' code.

    Every edge :math:`(j, k)` of frame :math:`t` is used in both
    directions: it sends one message to its destination :math:`k` and one
    to its source :math:`j`. The direction is known to the link function
    because its input is ordered ``[receiver, sender, relation]`` (in the
    authors' star graph :math:`A_j = E([h, e_j, o_j])` goes to the person,
    :math:`B_j = E([o_j, e_j, h])` to object :math:`j`). For the message
    to receiver :math:`i` from sender :math:`s`:

    .. math::
        \mathbf{F}^{(t)}_{is} &= \mathrm{TransformerBlocks}_{L}\big(
        \mathrm{EdgeMLP}([\mathbf{x}_i \Vert \mathbf{x}_s \Vert
        \mathbf{r}_{is}]) + \mathbf{p}_t\big) \\
        a^{(t)}_{is} &= \sigma(\mathbf{w}^{\top} \mathbf{F}^{(t)}_{is} + b) \\
        \mathbf{m}_i &= \sum_{s \in \mathcal{N}(i)} a_{is} \,
        \mathrm{GELU}(\mathbf{W}_m [\mathbf{x}_i \Vert \mathbf{F}_{is}] +
        \mathbf{b}_m) \\
        \mathbf{x}'_i &= \mathrm{GELU}(\mathbf{W}_u (\mathbf{W}_r
        \mathbf{x}_i + \mathbf{m}_i) + \mathbf{b}_u)

    The :math:`L` Transformer blocks (Eq. 9) attend over the frames of one
    *edge pair* (same source track, destination track and relation type,
    see :func:`edge_pair_index`) and one direction, ordered by the learned
    frame embedding :math:`\mathbf{p}_t`; frames where the pair is absent
    are simply missing from the sequence. Nodes without edges receive
    :math:`\mathbf{m}_i = 0`. Normalisation (e.g.
    :class:`~pyg_proda.nn.VGNorm`) is left to the caller.

    Args:
        in_channels (int): Size of each input node feature.
        out_channels (int): Size of each output node feature (and of the
            link states :math:`\mathbf{F}`).
        edge_dim (int): Size of the relation features
            :math:`\mathbf{r}`.
        heads (int, optional): Heads of the temporal attention; must divide
            :obj:`out_channels`. (default: :obj:`12`)
        num_temporal_layers (int, optional): Number :math:`L` of temporal
            Transformer blocks. (default: :obj:`2`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.1`)
        max_frames (int, optional): Number of frame embeddings.
            (default: :obj:`16`)
        ff_channels (int, optional): Feed-forward size of the temporal
            blocks. (default: :obj:`4 * out_channels`)
        message_norm (bool, optional): If :obj:`True`, rescale the
            aggregated message with :class:`~torch_geometric.nn.norm.MessageNorm`
            (``learn_scale=True``) before the residual add, as the authors'
            code does. (default: :obj:`False`)
        attention_impl (str, optional): Implementation of the temporal
            attention, ``'scatter'`` or ``'sdpa'`` (see
            :class:`~pyg_proda.nn.GroupedSelfAttention`).
            (default: :obj:`'scatter'`)
        max_relative_position (int, optional): If positive, the temporal
            blocks also learn a bias per head and relative frame offset
            (clipped to this distance); the groups must then be built with
            the edge frames (:func:`vgpnn_groups`). (default: :obj:`0`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge
          indices :math:`(2, |\mathcal{E}|)`, edge features
          :math:`(|\mathcal{E}|, D)`, edge frames and edge pairs
          :math:`(|\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})` or
          :math:`((|\mathcal{V}|, F_{out}), (|\mathcal{E}|, 2))` with
          :obj:`return_gates=True` (column 0: gate of the message to the
          destination, column 1: to the source), plus the link states
          :math:`(|\mathcal{E}|, 2, F_{out})` with :obj:`return_links=True`

    Example:
        >>> conv = VGPNNConv(8, 16, edge_dim=3, heads=2)
        >>> x = torch.randn(4, 8)
        >>> edge_index = torch.tensor([[0, 2], [1, 3]])  # one pair, 2 frames
        >>> edge_attr = torch.rand(2, 3)
        >>> edge_frame = torch.tensor([0, 1])
        >>> edge_pair = torch.tensor([0, 0])
        >>> out, gates = conv(x, edge_index, edge_attr, edge_frame, edge_pair,
        ...                   return_gates=True)
        >>> out.shape, gates.shape
        (torch.Size([4, 16]), torch.Size([2, 2]))
    """
    def __init__(self, in_channels: int, out_channels: int, edge_dim: int,
                 heads: int = 12, num_temporal_layers: int = 2,
                 dropout: float = 0.1, max_frames: int = 16,
                 ff_channels: Optional[int] = None,
                 message_norm: bool = False,
                 attention_impl: str = 'scatter',
                 max_relative_position: int = 0, **kwargs):
        kwargs.setdefault('aggr', 'add')
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.edge_dim = edge_dim
        self.heads = heads
        self.num_temporal_layers = num_temporal_layers
        self.dropout = dropout
        self.max_frames = max_frames
        self.max_relative_position = max_relative_position
        self.attention_impl = attention_impl
        self.ff_channels = ff_channels or 4 * out_channels

        # Link function E (Eq. 9, before the temporal blocks).
        self.edge_mlp = Sequential(
            Linear(2 * in_channels + edge_dim, out_channels),
            GELU(),
            Dropout(dropout),
            Linear(out_channels, out_channels),
            LayerNorm(out_channels),
            GELU(),
        )
        self.frame_emb = Embedding(max_frames, out_channels)
        self.temporal = ModuleList([
            GroupedTransformerBlock(
                out_channels, heads, self.ff_channels, dropout,
                impl=attention_impl,
                max_relative_position=max_relative_position)
            for _ in range(num_temporal_layers)
        ])
        self.lin_gate = Linear(out_channels, 1)  # Eq. 10
        self.lin_msg = Linear(in_channels + out_channels, out_channels)
        self.lin_res = Linear(in_channels, out_channels, bias=False)
        self.lin_update = Linear(out_channels, out_channels)  # Eq. 12
        if message_norm:
            if in_channels != out_channels:
                raise ValueError("VGPNNConv: 'message_norm' needs "
                                 "in_channels == out_channels")
            self.msg_norm: Optional[MessageNorm] = MessageNorm(True)
        else:
            self.msg_norm = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        super().reset_parameters()
        for module in self.edge_mlp:
            if hasattr(module, 'reset_parameters'):
                module.reset_parameters()
        self.frame_emb.reset_parameters()
        for block in self.temporal:
            block.reset_parameters()
        for lin in (self.lin_gate, self.lin_msg, self.lin_res,
                    self.lin_update):
            lin.reset_parameters()
        if self.msg_norm is not None:
            self.msg_norm.reset_parameters()

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor,
        edge_frame: Tensor,
        edge_pair: Optional[Tensor],
        return_gates: bool = False,
        groups: Optional[AttentionGroups] = None,
        return_links: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, Tensor], Tuple[Tensor, Tensor, Tensor]]:
        r"""Runs the layer.

        Args:
            x (Tensor): Node features ``[N, in_channels]``.
            edge_index (Tensor): ``[2, E]``.
            edge_attr (Tensor): Relation features ``[E, edge_dim]``.
            edge_frame (Tensor): Frame of each edge ``[E]``, in
                ``0..max_frames-1``.
            edge_pair (Tensor, optional): Edge pair of each edge ``[E]``
                (:func:`edge_pair_index`); only used when :obj:`groups` is
                :obj:`None`.
            return_gates (bool, optional): Also return the gates ``[E, 2]``.
                (default: :obj:`False`)
            groups (AttentionGroups, optional): Precomputed
                :func:`vgpnn_groups` of :obj:`edge_pair`, to keep the pass
                free of graph breaks. (default: :obj:`None`)
            return_links (bool, optional): Also return the link states
                :math:`\mathbf{F}` of every edge ``[E, 2, out_channels]``
                (index 1 = 0: the message to the destination, 1: to the
                source), after the gates. (default: :obj:`False`)

        Raises:
            ValueError: if neither :obj:`edge_pair` nor :obj:`groups` is
                given.
        """
        if groups is None:
            if edge_pair is None:
                raise ValueError("VGPNNConv: pass 'edge_pair' or 'groups'")
            groups = vgpnn_groups(
                edge_pair, edge_frame if self.max_relative_position else None,
                impl=self.attention_impl)
        num_edges = edge_index.size(1)
        # Directed message edges: first the messages to the destinations,
        # then the messages to the sources. Row 0 = sender, row 1 = receiver.
        message_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        sender, receiver = message_index[0], message_index[1]  # [2E]
        attr = torch.cat([edge_attr, edge_attr], dim=0)
        frame = torch.cat([edge_frame, edge_frame], dim=0)

        x_recv = x.index_select(0, receiver)  # [2E, in]
        link_in = torch.cat([x_recv, x.index_select(0, sender), attr], dim=-1)
        # The frame embedding as a gather: its backward is an index_add,
        # several times cheaper on CPU than Embedding's sorting backward.
        link = (self.edge_mlp(link_in) +
                self.frame_emb.weight.index_select(0, frame))  # [2E, out]
        for block in self.temporal:
            link = block(link, groups)
        gate = torch.sigmoid(self.lin_gate(link))  # [2E, 1]

        # The receiver states are already gathered for the link function:
        # hand them to `message` as edge-level input instead of `x_i`.
        N = x.size(0)
        m = self.propagate(message_index, x_recv=x_recv, link=link,
                           gate=gate, size=(N, N))  # [N, out]
        if self.msg_norm is not None:
            m = self.msg_norm(x, m)
        out = F.gelu(self.lin_update(self.lin_res(x) + m))
        if return_links:
            return (out, gate.view(2, num_edges).t(),
                    link.view(2, num_edges, -1).transpose(0, 1))
        if return_gates:
            return out, gate.view(2, num_edges).t()
        return out

    def message(self, x_recv: Tensor, link: Tensor, gate: Tensor) -> Tensor:
        # Receiver-state message (authors' code): [x_receiver, F].
        msg = F.dropout(torch.cat([x_recv, link], dim=-1), p=self.dropout,
                        training=self.training)
        return gate * F.gelu(self.lin_msg(msg))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.out_channels}, edge_dim={self.edge_dim}, '
                f'heads={self.heads}, '
                f'num_temporal_layers={self.num_temporal_layers})')
