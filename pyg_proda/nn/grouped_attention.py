r"""Self-attention within groups of rows of a ragged tensor.

Every "attend within a group" step of ProDA (the temporal link step of
:class:`~pyg_proda.nn.VGPNNConv` over the frames of one edge pair, the
spatial attention of :class:`~pyg_proda.nn.SpatioTemporalEncoder` within one
``(graph, frame)`` and its temporal attention along one track) is the same
primitive: multi-head scaled dot-product attention in which row :math:`i`
attends to every row :math:`j` of its own group. Groups have arbitrary sizes;
nothing is padded. The all-pairs index is built once per batch by
:func:`make_groups` (outside the hot path, so that :func:`torch.compile`
sees no data-dependent shapes) and can be reused by several layers.
"""
from typing import Callable, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Dropout, LayerNorm, Linear, Module, Parameter
from torch_geometric.utils import scatter, softmax

#: Implementations of :class:`GroupedSelfAttention`.
IMPLS = ('scatter', 'sdpa')


class AttentionGroups(NamedTuple):
    r"""The precomputed layout of a group assignment, built by
    :func:`make_groups`.

    A field is :obj:`None` where :func:`make_groups` was asked for the
    other layout only (its :obj:`impl` argument): ``impl='scatter'``
    reads :obj:`query`, :obj:`key` and :obj:`rel`, ``impl='sdpa'`` the
    ``pack_*`` fields (or :obj:`index` and :obj:`mask` without them).

    Args:
        query (Tensor, optional): Row of the query of each ordered pair of
            rows that share a group, including ``(i, i)``;
            :math:`\sum_g |g|^2` pairs sorted by query ``[P]``.
        key (Tensor, optional): Row of the key of each pair ``[P]``.
        index (Tensor, optional): Position of each row in a padded
            ``[G, L]`` layout (``group * L + rank in group``), ``L`` the
            largest group of this batch ``[n]``; used by ``impl='sdpa'``
            when there is no packed layout.
        mask (Tensor, optional): Valid positions of the padded layout
            ``[G, L]``.
        pack_index (Tensor, optional): Position of each row in a *packed*
            ``[R, L_p]`` layout, used by ``impl='sdpa'`` when given: every
            group gets a slot of the next power of two of its size, and the
            slots, largest first, are laid end to end in rows of ``L_p``
            (the largest slot) positions, so short groups share a row
            instead of each being padded to ``L`` ``[n]``. Where that
            would not save attention work (:math:`R L_p^2 \geq G L^2`, e.g.
            equal-sized groups) it is the padded layout itself.
        pack_mask (Tensor, optional): Block-diagonal attention mask of the
            packed layout ``[R, L_p, L_p]``: query position ``p`` may attend
            to key position ``q`` of the same group (and every position to
            itself, so that no softmax row is empty).
        rel (Tensor, optional): Relative position ``order[key] -
            order[query]`` of every pair ``[P]``, when :func:`make_groups`
            was given an :obj:`order` (e.g. the frame of every row).
        pack_rel (Tensor, optional): The same for every ``(query, key)``
            position of the packed layout ``[R, L_p, L_p]`` (``int32``;
            zero where :obj:`pack_mask` is :obj:`False`).
    """
    query: Optional[Tensor]
    key: Optional[Tensor]
    index: Optional[Tensor]
    mask: Optional[Tensor]
    pack_index: Optional[Tensor] = None
    pack_mask: Optional[Tensor] = None
    rel: Optional[Tensor] = None
    pack_rel: Optional[Tensor] = None

    def to(self, *args, **kwargs) -> 'AttentionGroups':
        r"""Moves every tensor, like :meth:`torch.Tensor.to`."""
        return AttentionGroups(*(None if t is None else t.to(*args, **kwargs)
                                 for t in self))


def make_groups(group: Tensor, num_groups: Optional[int] = None,
                order: Optional[Tensor] = None,
                impl: Optional[str] = None) -> AttentionGroups:
    r"""Builds the :class:`AttentionGroups` of a group assignment.

    Rows with the same id in :obj:`group` attend to each other. Ids need not
    be consecutive; negative ids are not allowed.

    Args:
        group (Tensor): Group id of every row ``[n]`` (long).
        num_groups (int, optional): If given, ids are taken as consecutive
            ``0..num_groups-1`` and not re-indexed. (default: :obj:`None`)
        order (Tensor, optional): Integer position of every row ``[n]``
            (e.g. its frame). If given, the relative position of every
            pair is stored (:obj:`rel`, :obj:`pack_rel`) for the
            relative-position bias of :class:`GroupedSelfAttention`.
            (default: :obj:`None`)
        impl (str, optional): Build only the layout that
            :class:`GroupedSelfAttention` with this :obj:`impl` reads:
            ``'scatter'`` the all-pairs lists (:obj:`query`, :obj:`key`,
            :obj:`rel`), ``'sdpa'`` the packed layout (:obj:`pack_index`,
            :obj:`pack_mask`, :obj:`pack_rel`; :obj:`index` and
            :obj:`mask` only where the packing falls back to them). The
            fields of the other layout are :obj:`None`, which saves their
            index building on every batch. :obj:`None` builds both.
            (default: :obj:`None`)

    Raises:
        ValueError: if :obj:`group` is not a 1-D integer tensor, holds a
            negative id or an id not below :obj:`num_groups`, if
            :obj:`order` is not an integer tensor of the same length, or if
            :obj:`impl` is unknown.

    Example:
        >>> g = make_groups(torch.tensor([0, 1, 0]))
        >>> g.query.tolist(), g.key.tolist()
        ([0, 0, 1, 2, 2], [0, 2, 1, 0, 2])
        >>> make_groups(torch.tensor([0, 1, 0]), impl='sdpa').query is None
        True
    """
    if group.dim() != 1 or group.is_floating_point():
        raise ValueError(f"make_groups: 'group' must be a 1-D integer tensor "
                         f"(got dtype {group.dtype}, shape "
                         f"{tuple(group.shape)})")
    if impl is not None and impl not in IMPLS:
        raise ValueError(f"make_groups: unknown impl '{impl}' (expected "
                         f"None or one of {list(IMPLS)})")
    pairs, packed = impl != 'sdpa', impl != 'scatter'
    n = group.numel()
    device = group.device
    if order is not None and (order.shape != group.shape
                              or order.is_floating_point()):
        raise ValueError(f"make_groups: 'order' must be an integer tensor "
                         f"of shape {tuple(group.shape)} (got dtype "
                         f"{order.dtype}, shape {tuple(order.shape)})")
    if n == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        mask = torch.zeros(0, 1, dtype=torch.bool, device=device)
        rel = pack_rel = None
        if order is not None:
            rel = empty
            pack_rel = torch.zeros(0, 1, 1, dtype=torch.int32, device=device)
        return _select(AttentionGroups(empty, empty, empty, mask, empty,
                                       mask.view(0, 1, 1), rel, pack_rel),
                       pairs, packed)
    if int(group.min()) < 0:
        raise ValueError("make_groups: group ids must be non-negative")
    if num_groups is None:
        group = torch.unique(group, return_inverse=True)[1]
        num_groups = int(group.max()) + 1
    elif int(group.max()) >= num_groups:
        raise ValueError(f"make_groups: group id {int(group.max())} is out "
                         f"of range for num_groups={num_groups}")
    # Rows sorted by group (stable, so ascending row id inside a group);
    # `ptr[g]` is the first sorted position of group g.
    perm = torch.argsort(group, stable=True)
    count = torch.bincount(group, minlength=num_groups)  # [num_groups]
    ptr = torch.cumsum(count, dim=0) - count
    if order is not None:
        order = order.long()

    query = key = rel = None
    if pairs:
        # Pairs are emitted query by query in row order, each query's keys
        # in ascending row order, i.e. already sorted by (query, key): pair
        # `p` of query block `i` has the key at sorted position
        # `ptr[group[i]] + p - block_start[i]`.
        sizes = count[group]  # [n] group size of every query
        query = torch.repeat_interleave(sizes)  # [P]
        block_start = torch.cumsum(sizes, dim=0) - sizes
        shift = (ptr[group] - block_start).repeat_interleave(sizes)
        key = perm[torch.arange(query.numel(), device=device) + shift]
        if order is not None:
            rel = order[key] - order[query]  # [P]

    index = mask = pack_index = pack_mask = pack_rel = None
    if packed:
        # Rank of every row inside its group.
        rank = torch.empty_like(group)
        rank[perm] = torch.arange(n, device=device) - ptr[group[perm]]
        L = max(int(count.max()), 1)
        pack_index, pack_mask, padded = _pack(group, count, rank, L)
        if padded or impl is None:
            index, mask = _padded(group, rank, num_groups, L)
        if padded:
            # No gain over one padded row per group: use that layout.
            pack_index = index
            eye = torch.eye(L, dtype=torch.bool, device=device)
            pack_mask = mask.unsqueeze(1) | eye
        if order is not None:
            R, L_p = pack_mask.size(0), pack_mask.size(1)
            pos = order.new_zeros(R * L_p).index_copy(0, pack_index, order)
            pos = pos.view(R, 1, L_p)
            # [R, L_p (query), L_p (key)]; zero outside the groups.
            pack_rel = ((pos - pos.transpose(1, 2)) * pack_mask).to(
                torch.int32)
    return AttentionGroups(query, key, index, mask, pack_index, pack_mask,
                           rel, pack_rel)


def _select(groups: AttentionGroups, pairs: bool,
            packed: bool) -> AttentionGroups:
    # Drops the layout that was not asked for.
    if not pairs:
        groups = groups._replace(query=None, key=None, rel=None)
    if not packed:
        groups = groups._replace(index=None, mask=None, pack_index=None,
                                 pack_mask=None, pack_rel=None)
    return groups


def _padded(group: Tensor, rank: Tensor, num_groups: int,
            L: int) -> Tuple[Tensor, Tensor]:
    # One row of L positions per group, rows in rank order.
    index = group * L + rank  # [n]
    mask = torch.zeros(num_groups * L, dtype=torch.bool, device=group.device)
    mask[index] = True
    mask = mask.view(num_groups, L)
    # An empty group (possible with explicit `num_groups`) keeps one valid
    # key so that its padded rows never see an all-masked softmax.
    mask[:, 0] = True
    return index, mask  # [n], [G, L]


def _pack(group: Tensor, count: Tensor, rank: Tensor,
          L_pad: int) -> Tuple[Optional[Tensor], Optional[Tensor], bool]:
    # Slot of 2^ceil(log2(size)) positions per non-empty group. Laid out
    # largest first, every slot starts at a multiple of its own size, so
    # no slot straddles a row of `L` (the largest slot) positions. Returns
    # `(None, None, True)` where that saves no attention work over the
    # padded layout (R L^2 >= G L_pad^2, e.g. equal-sized groups).
    device = group.device
    size = count.clamp(min=1).to(torch.float64)
    slot = torch.where(count > 0, torch.exp2(torch.log2(size).ceil()),
                       torch.zeros_like(size)).long()  # [G]
    L = int(slot.max())
    rows = (int(slot.sum()) + L - 1) // L
    if rows * L * L >= count.numel() * L_pad * L_pad:
        return None, None, True
    order = torch.argsort(slot, descending=True, stable=True)
    start = torch.empty_like(slot)
    start[order] = torch.cumsum(slot[order], dim=0) - slot[order]
    pack_index = start[group] + rank  # [n]
    owner = torch.full((rows * L, ), -1, dtype=torch.long, device=device)
    owner[pack_index] = group
    owner = owner.view(rows, L)
    pack_mask = ((owner.unsqueeze(2) == owner.unsqueeze(1)) &
                 (owner.unsqueeze(1) >= 0))
    pack_mask |= torch.eye(L, dtype=torch.bool, device=device)
    return pack_index, pack_mask, False  # [n], [R, L, L]


class GroupedSelfAttention(Module):
    r"""Multi-head scaled dot-product self-attention within groups.

    .. math::
        \mathbf{y}_i = \mathbf{W}_o \, \Big\Vert_{h=1}^{H} \sum_{j \in
        \mathcal{G}(i)} \alpha^h_{ij} \mathbf{W}^h_v \mathbf{x}_j, \qquad
        \alpha^h_{ij} = \mathrm{softmax}_{j \in \mathcal{G}(i)} \left(
        \frac{(\mathbf{W}^h_q \mathbf{x}_i)^{\top}
        \mathbf{W}^h_k \mathbf{x}_j}{\sqrt{C / H}} + b^h_{\mathrm{clip}(
        o_j - o_i, -k, k)} \right)

    where :math:`\mathcal{G}(i)` is the group of row :math:`i`. Without the
    relative-position bias :math:`b` (:obj:`max_relative_position` = 0, the
    default) the layer is permutation-equivariant and order inside a group
    (e.g. frames) must be encoded in :obj:`x` (positional embeddings) by the
    caller. With :math:`k > 0`, every head learns one bias per clipped
    relative position :math:`o_j - o_i` of the rows' :obj:`order` given to
    :func:`make_groups` (Shaw et al., 2018; T5), so that a head can attend
    to earlier or later frames from the first step instead of having to
    learn it from the absolute embeddings. Parameters mirror
    :class:`torch.nn.MultiheadAttention` (``lin_qkv`` is its ``in_proj``,
    ``lin_out`` its ``out_proj``).

    Args:
        channels (int): Size :math:`C` of each row.
        heads (int, optional): Number of heads :math:`H`; must divide
            :obj:`channels`. (default: :obj:`1`)
        dropout (float, optional): Dropout on the attention weights.
            (default: :obj:`0.0`)
        bias (bool, optional): Biases in the projections.
            (default: :obj:`True`)
        impl (str, optional): ``'scatter'`` computes the attention edge-wise
            over the :math:`\sum_g |g|^2` pairs with
            :func:`torch_geometric.utils.softmax` and
            :func:`torch_geometric.utils.scatter`; ``'sdpa'`` packs the
            groups into rows (the ``pack_*`` layout of
            :class:`AttentionGroups`, or one row per group padded to the
            largest group of the batch without it) and calls
            :func:`torch.nn.functional.scaled_dot_product_attention` with a
            block-diagonal mask (less memory and fused kernels on GPU; same
            result).
            (default: :obj:`'scatter'`)
        max_relative_position (int, optional): Clipping distance :math:`k`
            of the learned relative-position bias; :obj:`0` disables it.
            The bias starts directional: the first half of the heads
            attends to the past (offsets :math:`\leq 0`), the second half
            to the future, the other side damped by :math:`-4`. Needs
            groups built with an :obj:`order`.
            (default: :obj:`0`)

    Raises:
        ValueError: if :obj:`heads` does not divide :obj:`channels`,
            :obj:`impl` is unknown or :obj:`max_relative_position` is
            negative; at call time if the bias is enabled and the groups
            carry no relative positions, or if the groups lack the layout
            of :obj:`impl` (built by :func:`make_groups` for the other
            one).

    Example:
        >>> attn = GroupedSelfAttention(8, heads=2)
        >>> x = torch.randn(5, 8)
        >>> groups = make_groups(torch.tensor([0, 0, 1, 1, 1]))
        >>> attn(x, groups).shape
        torch.Size([5, 8])
    """
    def __init__(self, channels: int, heads: int = 1, dropout: float = 0.0,
                 bias: bool = True, impl: str = 'scatter',
                 max_relative_position: int = 0):
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"GroupedSelfAttention: heads ({heads}) must "
                             f"divide channels ({channels})")
        if impl not in IMPLS:
            raise ValueError(f"GroupedSelfAttention: unknown impl '{impl}' "
                             f"(expected one of {list(IMPLS)})")
        if max_relative_position < 0:
            raise ValueError(f"GroupedSelfAttention: 'max_relative_position' "
                             f"must be >= 0, got {max_relative_position}")
        self.impl = impl
        self.channels = channels
        self.heads = heads
        self.dropout = dropout
        self.max_relative_position = max_relative_position
        self.lin_qkv = Linear(channels, 3 * channels, bias=bias)
        self.lin_out = Linear(channels, channels, bias=bias)
        if max_relative_position > 0:
            self.rel_bias: Optional[Parameter] = Parameter(
                torch.empty(heads, 2 * max_relative_position + 1))
        else:
            self.register_parameter('rel_bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        # Same initialisation as torch.nn.MultiheadAttention.
        torch.nn.init.xavier_uniform_(self.lin_qkv.weight)
        if self.lin_qkv.bias is not None:
            torch.nn.init.zeros_(self.lin_qkv.bias)
        self.lin_out.reset_parameters()
        if self.lin_out.bias is not None:
            torch.nn.init.zeros_(self.lin_out.bias)
        if self.rel_bias is not None:
            # Directional start: the first half of the heads attends to
            # earlier rows (and itself), the second half to later ones, the
            # other side damped by a bias of -4; a single head starts flat.
            torch.nn.init.zeros_(self.rel_bias)
            H, k = self.heads, self.max_relative_position
            if H > 1:
                with torch.no_grad():
                    self.rel_bias[:H // 2, k + 1:] = -4.0
                    self.rel_bias[H // 2:, :k] = -4.0

    def _bias(self, rel: Optional[Tensor]) -> Tensor:
        # [H, *rel.shape]: the learned bias of every clipped offset.
        if rel is None:
            raise ValueError(
                "GroupedSelfAttention: 'max_relative_position' > 0 needs "
                "groups with relative positions (make_groups(..., order=))")
        k = self.max_relative_position
        return self.rel_bias[:, rel.clamp(-k, k).long() + k]

    def forward(self, x: Tensor, groups: AttentionGroups) -> Tensor:
        r"""Runs the layer.

        Args:
            x (Tensor): Rows ``[n, C]``.
            groups (AttentionGroups): From :func:`make_groups` on the group
                id of each row.

        Returns:
            Tensor: ``[n, C]``.
        """
        n = x.size(0)
        H, D = self.heads, self.channels // self.heads
        if self.impl == 'sdpa':
            return self.lin_out(self._sdpa(x, groups))
        query, key = groups.query, groups.key
        if query is None or key is None:
            raise ValueError(
                "GroupedSelfAttention: impl='scatter' needs the all-pairs "
                "layout, but these groups were built with "
                "make_groups(..., impl='sdpa')")
        q, k, v = self.lin_qkv(x).view(n, 3, H, D).unbind(dim=1)  # [n, H, D]
        alpha = (q.index_select(0, query) * k.index_select(0, key)).sum(-1)
        alpha = alpha * (D**-0.5)  # [P, H]
        if self.rel_bias is not None:
            alpha = alpha + self._bias(groups.rel).t()
        alpha = softmax(alpha, query, num_nodes=n)
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        msg = v.index_select(0, key) * alpha.unsqueeze(-1)  # [P, H, D]
        out = scatter(msg, query, dim=0, dim_size=n, reduce='sum')
        return self.lin_out(out.reshape(n, H * D))

    def _sdpa(self, x: Tensor, groups: AttentionGroups) -> Tensor:
        n = x.size(0)
        H, D = self.heads, self.channels // self.heads
        if groups.pack_index is not None and groups.pack_mask is not None:
            # Packed rows with a block-diagonal mask: far less padding than
            # one row per group when most groups are short.
            index = groups.pack_index
            G, L = groups.pack_mask.size(0), groups.pack_mask.size(1)
            attn_mask = groups.pack_mask.view(G, 1, L, L)
            if self.rel_bias is not None:
                # Float mask: the bias inside a group, -inf across groups.
                bias = self._bias(groups.pack_rel).transpose(0, 1)
                attn_mask = bias.masked_fill(~attn_mask, float('-inf'))
        elif self.rel_bias is not None:
            raise ValueError("GroupedSelfAttention: the relative-position "
                             "bias needs the packed layout of make_groups")
        elif groups.index is not None and groups.mask is not None:
            index = groups.index
            G, L = groups.mask.size(0), groups.mask.size(1)
            attn_mask = groups.mask.view(G, 1, 1, L)
        else:
            raise ValueError(
                "GroupedSelfAttention: impl='sdpa' needs the packed or "
                "padded layout, but these groups were built with "
                "make_groups(..., impl='scatter')")
        qkv = self.lin_qkv(x)  # [n, 3 * C]
        # In place into fresh zeros: the out-of-place index_copy would copy
        # the zeros once more. Padding stays zero (finite for masked keys).
        padded = qkv.new_zeros(G * L, 3 * H * D).index_copy_(0, index, qkv)
        # [3, G, H, L, D]
        q, k, v = padded.view(G, L, 3, H, D).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0)  # [G, H, L, D]
        out = out.transpose(1, 2).reshape(G * L, H * D)
        return out.index_select(0, index).view(n, H * D)

    def __repr__(self) -> str:
        rel = (f', max_relative_position={self.max_relative_position}'
               if self.max_relative_position else '')
        return (f'{self.__class__.__name__}({self.channels}, '
                f'heads={self.heads}, impl={self.impl}{rel})')


class GroupedTransformerBlock(Module):
    r"""A post-norm Transformer encoder layer whose self-attention is
    :class:`GroupedSelfAttention`, i.e. the ragged counterpart of
    :class:`torch.nn.TransformerEncoderLayer` (``norm_first=False``):

    .. math::
        \mathbf{h} &= \mathrm{LN}_1(\mathbf{x} +
        \mathrm{Dropout}(\mathrm{Attn}(\mathbf{x}))) \\
        \mathbf{y} &= \mathrm{LN}_2(\mathbf{h} + \mathrm{Dropout}(
        \mathbf{W}_2 \, \mathrm{Dropout}(\sigma(\mathbf{W}_1 \mathbf{h}))))

    Args:
        channels (int): Size of each row.
        heads (int, optional): Number of attention heads. (default: :obj:`1`)
        ff_channels (int, optional): Hidden size of the feed-forward network.
            (default: :obj:`4 * channels`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.1`)
        activation (str or callable, optional): ``'gelu'``, ``'relu'`` or a
            callable. (default: :obj:`'gelu'`)
        impl (str, optional): Attention implementation, see
            :class:`GroupedSelfAttention`. (default: :obj:`'scatter'`)
        max_relative_position (int, optional): Relative-position bias of
            the attention, see :class:`GroupedSelfAttention`.
            (default: :obj:`0`)

    Example:
        >>> block = GroupedTransformerBlock(8, heads=2)
        >>> groups = make_groups(torch.tensor([0, 0, 1]))
        >>> block(torch.randn(3, 8), groups).shape
        torch.Size([3, 8])
    """
    def __init__(self, channels: int, heads: int = 1,
                 ff_channels: Optional[int] = None, dropout: float = 0.1,
                 activation: Union[str, Callable[[Tensor], Tensor]] = 'gelu',
                 impl: str = 'scatter', max_relative_position: int = 0):
        super().__init__()
        self.channels = channels
        self.heads = heads
        self.ff_channels = ff_channels or 4 * channels
        if isinstance(activation, str):
            if activation not in ('gelu', 'relu'):
                raise ValueError(f"GroupedTransformerBlock: unknown "
                                 f"activation '{activation}'")
            activation = F.gelu if activation == 'gelu' else F.relu
        self.activation = activation
        self.attn = GroupedSelfAttention(
            channels, heads, dropout=dropout, impl=impl,
            max_relative_position=max_relative_position)
        self.lin1 = Linear(channels, self.ff_channels)
        self.lin2 = Linear(self.ff_channels, channels)
        self.norm1 = LayerNorm(channels)
        self.norm2 = LayerNorm(channels)
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for module in (self.attn, self.lin1, self.lin2, self.norm1,
                       self.norm2):
            module.reset_parameters()

    def forward(self, x: Tensor, groups: AttentionGroups) -> Tensor:
        r"""Runs the block on rows ``x`` ``[n, C]``; returns ``[n, C]``."""
        x = self.norm1(x + self.dropout1(self.attn(x, groups)))
        h = self.lin2(self.dropout(self.activation(self.lin1(x))))
        return self.norm2(x + self.dropout2(h))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'heads={self.heads}, ff_channels={self.ff_channels})')
