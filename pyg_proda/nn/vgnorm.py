r"""Video graph normalisation (VGNorm, paper Eq. 3-4) and a factory for
the normalisations compared in the ablations."""
from typing import Optional

import torch
from torch import Tensor
from torch.nn import LayerNorm, Module, Parameter
from torch_geometric.nn.norm import BatchNorm, GraphNorm
from torch_geometric.utils import scatter

from pyg_proda.utils import frame_group


def _distributed() -> bool:
    return (torch.distributed.is_available()
            and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def all_reduce(t: Tensor) -> Tensor:
    r"""Differentiable sum over the processes of the default group."""
    from torch.distributed.nn.functional import all_reduce as _all_reduce
    return _all_reduce(t)


def _num_graphs(batch: Tensor, batch_size: Optional[int]) -> int:
    if batch_size is not None:
        return batch_size
    return int(batch.max()) + 1 if batch.numel() > 0 else 1


class VGNorm(Module):
    r"""Video graph normalisation of ProDA (paper Eq. 3-4).

    A running *frame-wise global mean* :math:`\mu_f` (the mean over the
    batch, the nodes and the channels of frame :math:`f`) is subtracted with
    a learnable per-frame scale; the result is divided by its spread within
    each ``(graph, frame)`` group :math:`g` of :math:`M_g` nodes and
    rescaled per frame:

    .. math::
        \hat{\mathbf{x}}_i &= \mathbf{x}_i - \alpha_{f} \, \mu_{f} \\
        \sigma^2_g &= \frac{1}{M_g D - 1} \sum_{i \in g}
        \sum_{d=1}^{D} \hat{x}_{id}^2 \\
        \mathbf{y}_i &= \gamma_f \frac{\hat{\mathbf{x}}_i}
        {\sqrt{\sigma^2_g + \epsilon}} + \beta_f

    with :math:`f` the frame of node :math:`i`. In training :math:`\mu_f`
    is the statistic of the current batch, and the running buffer is updated
    with :obj:`momentum` for the frames present in the batch only; in
    evaluation the buffer is used. :math:`\alpha, \gamma, \beta \in
    \mathbb{R}^{\text{max\_frames}}` are initialised to 1, 1, 0 (one scalar
    per frame, not per channel).

    Args:
        channels (int): Feature size :math:`D`.
        max_frames (int, optional): Number of frames :math:`N`.
            (default: :obj:`16`)
        momentum (float, optional): Update rate of the running mean.
            (default: :obj:`0.1`)
        eps (float, optional): :math:`\epsilon`. (default: :obj:`1e-5`)
        detach_mean (bool, optional): If :obj:`True`, no gradient flows
            through the batch mean (as the authors' multi-GPU code).
            (default: :obj:`False`)
        sync (bool, optional): Under :mod:`torch.distributed`, compute the
            training mean :math:`\mu_f` over the nodes of **all**
            processes (their sums and counts are all-reduced, so each rank
            weighs by its number of nodes), as one process would on the
            whole batch; the all-reduce is differentiable. Without an
            initialised process group it has no effect. :obj:`False` keeps
            each process's own mean. (default: :obj:`False`)

    Example:
        >>> norm = VGNorm(8, max_frames=4)
        >>> x = torch.randn(5, 8)
        >>> batch = torch.tensor([0, 0, 0, 1, 1])
        >>> frame = torch.tensor([0, 0, 1, 0, 3])
        >>> norm(x, batch, frame, batch_size=2).shape
        torch.Size([5, 8])
    """
    def __init__(self, channels: int, max_frames: int = 16,
                 momentum: float = 0.1, eps: float = 1e-5,
                 detach_mean: bool = False, sync: bool = False):
        super().__init__()
        self.sync = sync
        self.channels = channels
        self.max_frames = max_frames
        self.momentum = momentum
        self.eps = eps
        self.detach_mean = detach_mean
        self.mean_scale = Parameter(torch.empty(max_frames))
        self.weight = Parameter(torch.empty(max_frames))
        self.bias = Parameter(torch.empty(max_frames))
        self.register_buffer('running_mean', torch.zeros(max_frames))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the parameters and the running mean."""
        torch.nn.init.ones_(self.mean_scale)
        torch.nn.init.ones_(self.weight)
        torch.nn.init.zeros_(self.bias)
        self.running_mean.zero_()

    def forward(self, x: Tensor, batch: Tensor, frame: Tensor,
                batch_size: Optional[int] = None) -> Tensor:
        r"""Normalises ``x`` ``[N, D]``.

        Args:
            x (Tensor): Node features ``[N, D]``.
            batch (Tensor): Graph of each node ``[N]``.
            frame (Tensor): Frame of each node ``[N]``, in
                ``0..max_frames-1``.
            batch_size (int, optional): Number of graphs; pass it to avoid
                a host synchronisation. (default: :obj:`None`)

        Raises:
            ValueError: if a frame index is out of range (checked outside
                :func:`torch.compile`).
        """
        T, D = self.max_frames, x.size(-1)
        if not torch.compiler.is_compiling() and frame.numel() > 0:
            if int(frame.max()) >= T or int(frame.min()) < 0:
                raise ValueError(f"VGNorm: frame indices must lie in "
                                 f"[0, {T}) (got max {int(frame.max())})")
        B = _num_graphs(batch, batch_size)
        ones = x.new_ones(x.size(0))
        if self.training:
            count_f = scatter(ones, frame, 0, dim_size=T, reduce='sum')
            sum_f = scatter(x.sum(dim=-1), frame, 0, dim_size=T,
                            reduce='sum')
            if self.sync and _distributed():
                stats = all_reduce(torch.cat([sum_f, count_f]))  # [2T]
                sum_f, count_f = stats[:T], stats[T:]
            mean = sum_f / (count_f * D).clamp(min=1)  # [T]
            if self.detach_mean:
                mean = mean.detach()
            with torch.no_grad():
                # Frames absent from the batch keep their running mean.
                new = ((1 - self.momentum) * self.running_mean +
                       self.momentum * mean.detach())
                self.running_mean.copy_(
                    torch.where(count_f > 0, new, self.running_mean))
        else:
            mean = self.running_mean.to(x.dtype)

        x_hat = x - (self.mean_scale * mean).index_select(0, frame).view(-1, 1)
        group = frame_group(batch, frame, T)
        count_g = scatter(ones, group, 0, dim_size=B * T, reduce='sum')
        sq_g = scatter(x_hat.pow(2).sum(dim=-1), group, 0, dim_size=B * T,
                       reduce='sum')
        var = sq_g / (count_g * D - 1).clamp(min=1)  # [B * T]
        std = (var + self.eps).sqrt().index_select(0, group).view(-1, 1)
        weight = self.weight.index_select(0, frame).view(-1, 1)
        bias = self.bias.index_select(0, frame).view(-1, 1)
        return weight * x_hat / std + bias

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'max_frames={self.max_frames})')


class _NormWrapper(Module):
    r"""Gives a normalisation the call signature
    ``norm(x, batch, frame, batch_size=None)``."""
    def __init__(self, kind: str, channels: int, max_frames: int):
        super().__init__()
        self.kind = kind
        self.channels = channels
        self.max_frames = max_frames
        if kind == 'layer':
            self.module: Optional[Module] = LayerNorm(channels)
        elif kind == 'batch':
            self.module = BatchNorm(channels, allow_single_element=True)
        elif kind == 'graph':
            self.module = GraphNorm(channels)
        else:
            self.module = None

    def reset_parameters(self) -> None:
        if self.module is not None:
            self.module.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor, frame: Tensor,
                batch_size: Optional[int] = None) -> Tensor:
        if self.kind == 'graph':
            # One GraphNorm group per (graph, frame).
            B = _num_graphs(batch, batch_size)
            return self.module(x, frame_group(batch, frame, self.max_frames),
                               batch_size=B * self.max_frames)
        if self.module is None:
            return x
        return self.module(x)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.kind}, {self.channels})'


NORMS = ('vgnorm', 'layer', 'batch', 'graph', 'none')


def make_norm(name: str, channels: int, max_frames: int = 16,
              sync: bool = False) -> Module:
    r"""Builds the node normalisation :obj:`name`, always callable as
    ``norm(x, batch, frame, batch_size=None)``:

    * ``'vgnorm'``: :class:`VGNorm`;
    * ``'layer'``: :class:`torch.nn.LayerNorm` over the channels of a node;
    * ``'batch'``: :class:`torch_geometric.nn.norm.BatchNorm` over all nodes;
    * ``'graph'``: :class:`torch_geometric.nn.norm.GraphNorm` with one group
      per ``(graph, frame)``, i.e. the nodes of one frame of one video;
    * ``'none'``: the identity.

    Args:
        name (str): One of the names above (case-insensitive).
        channels (int): Feature size.
        max_frames (int, optional): Frames per video. (default: :obj:`16`)
        sync (bool, optional): :class:`VGNorm`'s :obj:`sync` (the other
            norms keep per-process statistics). (default: :obj:`False`)

    Raises:
        ValueError: for an unknown name.

    Example:
        >>> norm = make_norm('graph', 8, max_frames=4)
        >>> x, batch = torch.randn(3, 8), torch.zeros(3, dtype=torch.long)
        >>> norm(x, batch, torch.tensor([0, 0, 1])).shape
        torch.Size([3, 8])
    """
    key = name.lower()
    if key not in NORMS:
        raise ValueError(f"make_norm: unknown norm '{name}' (expected one "
                         f"of {list(NORMS)})")
    if key == 'vgnorm':
        return VGNorm(channels, max_frames=max_frames, sync=sync)
    return _NormWrapper(key, channels, max_frames)
