r"""OTAM: ordered temporal alignment of two frame sequences (Cao et al.,
CVPR 2020), in the form used by CLIP-FSAR and CLIP-SPM."""
from typing import Optional

import torch
from torch import Tensor
from torch.nn import Linear, Module

from pyg_proda.fewshot.nn.episode import as_episodes, class_means, num_ways


def frame_distance(query: Tensor, support: Tensor,
                   eps: float = 0.01) -> Tensor:
    r"""Frame-to-frame distance :math:`1 - \cos` with the authors'
    :math:`\epsilon` in the denominator,

    .. math::
        d(\mathbf{q}_i, \mathbf{s}_j) = 1 - \frac{\mathbf{q}_i^{\top}
        \mathbf{s}_j}{\lVert \mathbf{q}_i \rVert \lVert \mathbf{s}_j
        \rVert + \epsilon}

    Args:
        query (Tensor): ``[..., Q, T, D]``.
        support (Tensor): ``[..., P, T', D]`` (same leading dimensions).
        eps (float, optional): :math:`\epsilon`. (default: :obj:`0.01`)

    Returns:
        Tensor: ``[..., Q, P, T, T']``.

    Example:
        >>> q = torch.tensor([[[1., 0.], [0., 1.]]])
        >>> frame_distance(q, q, eps=0.0)[0, 0].tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    num = torch.einsum('...qtd,...psd->...qpts', query, support)
    qn = query.norm(dim=-1)  # [..., Q, T]
    sn = support.norm(dim=-1)  # [..., P, T']
    den = qn.unsqueeze(-2).unsqueeze(-1) * sn.unsqueeze(-3).unsqueeze(-2)
    return 1.0 - num / (den + eps)


def otam_cumulative(dist: Tensor, lbda: float = 0.5) -> Tensor:
    r"""The OTAM soft dynamic programme over one frame-distance matrix
    (rows: frames of the sequence being aligned, columns: frames it is
    aligned to), exactly as ``OTAM_cum_dist_v2`` of the authors' code.

    The columns are padded with a zero column on both sides; with
    :math:`\mathrm{softmin}_\lambda(a_1, \dots) = -\lambda \log \sum_k
    e^{-a_k / \lambda}` and :math:`D` the padded distances:

    .. math::
        C_{0,m} &= \sum_{m' \le m} D_{0,m'} \quad
        \text{(top row: a hard cumulative sum)} \\
        C_{l,1} &= D_{l,1} + \mathrm{softmin}_\lambda(C_{l-1,0},
        C_{l-1,1}, C_{l,0}) \\
        C_{l,m} &= D_{l,m} + \mathrm{softmin}_\lambda(C_{l-1,m-1},
        C_{l,m-1}) \qquad 2 \le m \le M \\
        C_{l,M+1} &= \mathrm{softmin}_\lambda(C_{l-1,M}, C_{l-1,M+1},
        C_{l,M})

    with :math:`C_{l,0} = 0`, and returns :math:`C_{L-1,M+1}`. Inside the
    real columns a path moves diagonally or to the right, so every column
    is matched to exactly one row in order; the zero padding lets it start
    and end at any row. Columns depend only on the previous column (or on
    the row above inside the padded ones), so it runs in :math:`O(L + M)`
    vectorised steps.

    Args:
        dist (Tensor): ``[..., L, M]``.
        lbda (float, optional): Softness :math:`\lambda`.
            (default: :obj:`0.5`)

    Returns:
        Tensor: ``[...]``.

    Example:
        >>> d = torch.tensor([[0.1, 0.9], [0.8, 0.2]])
        >>> round(float(otam_cumulative(d, lbda=1e-4)), 4)  # hard minimum
        0.3
    """
    L, M = dist.shape[-2:]
    zero = dist.new_zeros(dist.shape[:-2])

    def softmin(*xs: Tensor) -> Tensor:
        return -lbda * torch.logsumexp(torch.stack(xs, 0) / -lbda, dim=0)

    # First real column: the padded column 0 is 0 in every row.
    col = [dist[..., 0, 0]]
    for row in range(1, L):
        col.append(dist[..., row, 0] + softmin(zero, col[-1], zero))
    prev = torch.stack(col, -1)  # [..., L]
    for m in range(1, M):
        top = prev[..., :1] + dist[..., :1, m]
        rest = dist[..., 1:, m] + softmin(prev[..., :-1], prev[..., 1:])
        prev = torch.cat([top, rest], -1)
    # Padded last column (distance 0): may move down.
    last = prev[..., 0]
    for row in range(1, L):
        last = softmin(prev[..., row - 1], last, prev[..., row])
    return last


def otam_distance(query: Tensor, support: Tensor, lbda: float = 0.5,
                  eps: float = 0.01, bidirectional: bool = True) -> Tensor:
    r"""OTAM distance between every query and every support sequence,

    .. math::
        \mathrm{OTAM}(\mathbf{q}, \mathbf{s}) = C_\lambda\big(d(\mathbf{q},
        \mathbf{s})\big) + C_\lambda\big(d(\mathbf{q}, \mathbf{s})^{\top}
        \big)

    where :math:`d` is :func:`frame_distance` and :math:`C_\lambda`
    :func:`otam_cumulative`; the second term (support aligned to query)
    is dropped with :obj:`bidirectional=False`. No temperature is applied.

    Args:
        query (Tensor): ``[..., Q, T, D]``.
        support (Tensor): ``[..., P, T', D]``.
        lbda (float, optional): Softness :math:`\lambda`.
            (default: :obj:`0.5`)
        eps (float, optional): Cosine :math:`\epsilon`.
            (default: :obj:`0.01`)
        bidirectional (bool, optional): Sum both directions.
            (default: :obj:`True`)

    Returns:
        Tensor: ``[..., Q, P]``.

    Example:
        >>> x = torch.randn(3, 8, 16)
        >>> d = otam_distance(x, x)
        >>> d.shape, bool((d.diagonal() < d.mean()).all())
        (torch.Size([3, 3]), True)
    """
    dist = frame_distance(query, support, eps)  # [..., Q, P, T, T']
    out = otam_cumulative(dist, lbda)
    if bidirectional:
        out = out + otam_cumulative(dist.transpose(-1, -2), lbda)
    return out


class OTAM(Module):
    r"""The OTAM few-shot head: an optional frame-wise linear embedding,
    per-frame class prototypes (the mean of each class's supports at every
    frame position, as CLIP-SPM builds them) and logits :math:`-`
    :func:`otam_distance`:

    .. math::
        \mathbf{p}_{c,t} = \frac{1}{K}\sum_{s : y_s = c} \mathbf{W}
        \mathbf{x}_{s,t}, \qquad
        \mathrm{logit}_{q,c} = -\mathrm{OTAM}(\mathbf{W}\mathbf{x}_q,
        \mathbf{p}_c)

    Args:
        channels (int): Feature size :math:`D`.
        project (bool, optional): Learn the frame embedding
            :math:`\mathbf{W}` (otherwise the identity).
            (default: :obj:`True`)
        lbda (float, optional): OTAM softness. (default: :obj:`0.5`)
        bidirectional (bool, optional): Both alignment directions.
            (default: :obj:`True`)

    Example:
        >>> head = OTAM(16)
        >>> support, query = torch.randn(2, 10, 8, 16), torch.randn(2, 5, 8, 16)
        >>> labels = torch.arange(5).repeat_interleave(2)
        >>> head(support, labels, query).shape
        torch.Size([2, 5, 5])
    """
    def __init__(self, channels: int, project: bool = True, lbda: float = 0.5,
                 bidirectional: bool = True):
        super().__init__()
        self.channels = channels
        self.project = project
        self.lbda = lbda
        self.bidirectional = bidirectional
        self.lin = Linear(channels, channels) if project else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        if self.lin is not None:
            self.lin.reset_parameters()

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor,
                class_text: Optional[Tensor] = None,
                num_classes: Optional[int] = None) -> Tensor:
        r"""Computes the logits.

        Args:
            support (Tensor): ``[E, S, T, D]`` (or one episode ``[S, T, D]``).
            support_labels (Tensor): ``[S]`` or ``[E, S]``.
            query (Tensor): ``[E, Q, T, D]`` (or ``[Q, T, D]``).
            class_text (Tensor, optional): Ignored (text-free head).
            num_classes (int, optional): ``N``. (default: from the labels)

        Returns:
            Tensor: ``[E, Q, N]`` (``[Q, N]`` for one episode).
        """
        support, query, labels, squeezed = as_episodes(support, query,
                                                       support_labels)
        N = num_ways(labels, num_classes if class_text is None
                     else class_text.size(-2))
        if self.lin is not None:
            support, query = self.lin(support), self.lin(query)
        protos = class_means(support, labels, N)  # [E, N, T, D]
        logits = -otam_distance(query, protos, self.lbda,
                                bidirectional=self.bidirectional)
        return logits.squeeze(0) if squeezed else logits

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'project={self.project})')
