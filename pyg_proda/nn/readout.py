r"""Two-level (node -> frame -> video) gated readout of an SSG."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import GELU, Dropout, LayerNorm, Linear, Module, Sequential
from torch_geometric.utils import scatter

from pyg_proda.utils import frame_group


def gate_mlp(channels: int, dropout: float) -> Sequential:
    r"""The score MLP of the authors' readout: ``C -> C/2 -> C/4 -> 1``
    with GELU (dropout after the first GELU)."""
    half, quarter = max(channels // 2, 1), max(channels // 4, 1)
    return Sequential(
        Linear(channels, half),
        GELU(),
        Dropout(dropout),
        Linear(half, quarter),
        GELU(),
        Linear(quarter, 1),
    )


class PostNormFFN(Module):
    r"""Post-norm feed-forward block of the authors' code:
    :math:`\mathrm{GELU}(\mathrm{LN}(\mathbf{x} + \mathrm{Dropout}(
    \mathbf{W}_2 \mathrm{Dropout}(\mathrm{GELU}(\mathbf{W}_1 \mathbf{x})))))`.

    Args:
        channels (int): Feature size.
        ff_channels (int, optional): Hidden size.
            (default: :obj:`4 * channels`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.1`)

    Example:
        >>> PostNormFFN(8)(torch.randn(3, 8)).shape
        torch.Size([3, 8])
    """
    def __init__(self, channels: int, ff_channels: Optional[int] = None,
                 dropout: float = 0.1):
        super().__init__()
        self.lin1 = Linear(channels, ff_channels or 4 * channels)
        self.lin2 = Linear(ff_channels or 4 * channels, channels)
        self.norm = LayerNorm(channels)
        self.dropout = Dropout(dropout)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        h = self.dropout(self.lin2(self.dropout(F.gelu(self.lin1(x)))))
        return F.gelu(self.norm(x + h))


class SSGReadout(Module):
    r"""Gated two-level readout of a spatio-temporal scene graph (the
    authors' ``DynamicFlatter``). Nodes are pooled per ``(graph, frame)``,
    frames per graph, both with sigmoid gates and weighted *sums*:

    .. math::
        \alpha_i &= \sigma(\mathrm{MLP}(\mathbf{x}_i)), \qquad
        \mathbf{z}_{b,f} = \mathrm{FFN}\Big(\sum_{i \in (b, f)} \alpha_i
        \mathbf{x}_i\Big) \\
        s_{b,f} &= \sigma(\mathrm{MLP}'(\mathbf{z}_{b,f})), \qquad
        \mathbf{h}_b = \mathrm{FFN}'\Big(\sum_{f} s_{b,f} \,
        \mathbf{z}_{b,f}\Big)

    Frames of a graph without any node get :math:`s_{b,f} = 0` and are
    flagged in the returned mask; :math:`s` is the per-frame weight used
    for temporal localisation. (The authors' code also passes the node and
    frame features through an extra FFN before each gate MLP; the gates
    here read the features directly, as in the paper.)

    Args:
        channels (int): Feature size :math:`C`.
        dropout (float, optional): Dropout probability. (default: :obj:`0.1`)
        max_frames (int, optional): Frames per graph. (default: :obj:`16`)
        ff_channels (int, optional): Hidden size of the FFNs.
            (default: :obj:`4 * channels`)

    Example:
        >>> readout = SSGReadout(8, max_frames=4)
        >>> x = torch.randn(5, 8)
        >>> batch = torch.tensor([0, 0, 0, 1, 1])
        >>> frame = torch.tensor([0, 0, 1, 0, 3])
        >>> out, s, mask = readout(x, batch, frame, batch_size=2)
        >>> out.shape, s.shape, mask[1].tolist()
        (torch.Size([2, 8]), torch.Size([2, 4]), [True, False, False, True])
    """
    def __init__(self, channels: int, dropout: float = 0.1,
                 max_frames: int = 16, ff_channels: Optional[int] = None):
        super().__init__()
        self.channels = channels
        self.dropout = dropout
        self.max_frames = max_frames
        self.node_gate = gate_mlp(channels, dropout)
        self.frame_ffn = PostNormFFN(channels, ff_channels, dropout)
        self.frame_gate = gate_mlp(channels, dropout)
        self.graph_ffn = PostNormFFN(channels, ff_channels, dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for mlp in (self.node_gate, self.frame_gate):
            for module in mlp:
                if isinstance(module, Linear):
                    module.reset_parameters()
        self.frame_ffn.reset_parameters()
        self.graph_ffn.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor, frame: Tensor,
                batch_size: Optional[int] = None
                ) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Reads out one vector per graph.

        Args:
            x (Tensor): Node features ``[N, C]``.
            batch (Tensor): Graph of each node ``[N]``.
            frame (Tensor): Frame of each node ``[N]`` in
                ``0..max_frames-1``.
            batch_size (int, optional): Number of graphs :math:`B`; pass it
                to avoid a host synchronisation. (default: :obj:`None`)

        Returns:
            (Tensor, Tensor, Tensor): graph vectors ``[B, C]``, frame weights
            ``s`` ``[B, max_frames]`` and the mask of frames with nodes
            ``[B, max_frames]`` (bool).
        """
        T = self.max_frames
        if batch_size is None:
            batch_size = int(batch.max()) + 1 if batch.numel() > 0 else 1
        B = batch_size
        group = frame_group(batch, frame, T)  # [N]
        alpha = torch.sigmoid(self.node_gate(x))  # [N, 1]
        pooled = scatter(alpha * x, group, 0, dim_size=B * T, reduce='sum')
        count = scatter(x.new_ones(x.size(0)), group, 0, dim_size=B * T,
                        reduce='sum')
        mask = count > 0  # [B * T]
        z = self.frame_ffn(pooled)  # [B * T, C]
        s = torch.sigmoid(self.frame_gate(z)).squeeze(-1)
        s = torch.where(mask, s, torch.zeros_like(s))
        video = (s.view(B, T, 1) * z.view(B, T, -1)).sum(dim=1)  # [B, C]
        return self.graph_ffn(video), s.view(B, T), mask.view(B, T)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'max_frames={self.max_frames})')
