r"""TRX: temporal-relational cross-transformers (Perrett et al., CVPR
2021), on precomputed frame features."""
import math
from itertools import combinations
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch.nn import Dropout, LayerNorm, Linear, Module, ModuleList

from pyg_proda.fewshot.nn.episode import as_episodes, num_ways


def sinusoidal_encoding(length: int, channels: int,
                        scale: float = 0.1) -> Tensor:
    r"""The fixed sinusoidal positional encoding ``[length, channels]`` of
    TRX, scaled by :obj:`scale`.

    Example:
        >>> sinusoidal_encoding(8, 4)[0].tolist()
        [0.0, 0.10000000149011612, 0.0, 0.10000000149011612]
    """
    pe = torch.zeros(length, channels)
    pos = torch.arange(length, dtype=torch.float).unsqueeze(1)
    div = torch.exp(torch.arange(0, channels, 2, dtype=torch.float) *
                    -(math.log(10000.0) / channels))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, :channels // 2]
    return pe * scale


class TemporalCrossTransformer(Module):
    r"""One TRX cross-transformer over ordered frame tuples of cardinality
    :math:`\omega`.

    Every ordered tuple :math:`p = (t_1 < \dots < t_\omega)` of a video is
    the concatenation of its (position-encoded) frames; keys and values
    are linear maps of it (keys layer-normalised). For query tuple
    :math:`p` and class :math:`c`, attention runs over all tuples of all
    :math:`K` supports of the class:

    .. math::
        a_{p,(s,p')} &= \mathrm{softmax}_{(s,p')}\Big(
        \frac{\mathbf{k}^{q}_{p} \cdot \mathbf{k}^{s}_{p'}}{\sqrt{d}}\Big),
        \qquad \mathbf{u}_{c,p} = \sum_{s : y_s = c}\sum_{p'}
        a_{p,(s,p')} \mathbf{v}^{s}_{p'} \\
        \mathrm{logit}_{q,c} &= -\frac{1}{|\Pi|}\sum_{p \in \Pi}
        \lVert \mathbf{v}^{q}_{p} - \mathbf{u}_{c,p} \rVert_2^2

    Because a tuple keeps its frames in order, two classes that differ
    only in temporal order give different tuples.

    Args:
        channels (int): Frame feature size :math:`D`.
        out_channels (int): Key/value size :math:`d`.
        cardinality (int): Tuple size :math:`\omega`.
        num_frames (int): Frames per video :math:`T`.
        dropout (float, optional): Dropout after the positional encoding.
            (default: :obj:`0.1`)

    Example:
        >>> tct = TemporalCrossTransformer(16, 32, cardinality=2, num_frames=8)
        >>> support, query = torch.randn(1, 10, 8, 16), torch.randn(1, 5, 8, 16)
        >>> tct(support, torch.arange(5).repeat_interleave(2), query).shape
        torch.Size([1, 5, 5])
    """
    def __init__(self, channels: int, out_channels: int, cardinality: int,
                 num_frames: int, dropout: float = 0.1):
        super().__init__()
        if not 1 <= cardinality <= num_frames:
            raise ValueError(f"Tuple cardinality {cardinality} must be in "
                             f"1..{num_frames}")
        self.channels = channels
        self.out_channels = out_channels
        self.cardinality = cardinality
        self.num_frames = num_frames
        self.register_buffer('pe', sinusoidal_encoding(num_frames, channels),
                             persistent=False)
        self.register_buffer(
            'tuples', torch.tensor(list(combinations(range(num_frames),
                                                     cardinality))),
            persistent=False)  # [P, w]
        self.lin_k = Linear(channels * cardinality, out_channels)
        self.lin_v = Linear(channels * cardinality, out_channels)
        self.norm_k = LayerNorm(out_channels)
        self.dropout = Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.lin_k.reset_parameters()
        self.lin_v.reset_parameters()
        self.norm_k.reset_parameters()

    def _tuples(self, x: Tensor) -> Tensor:
        # [E, V, T, D] -> [E, V, P, w * D]
        x = self.dropout(x + self.pe)
        E, V = x.shape[:2]
        return x[:, :, self.tuples].reshape(E, V, self.tuples.size(0), -1)

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor,
                num_classes: Optional[int] = None) -> Tensor:
        r"""Args:
            support (Tensor): ``[E, S, T, D]``.
            support_labels (Tensor): ``[S]`` or ``[E, S]``.
            query (Tensor): ``[E, Q, T, D]``.
            num_classes (int, optional): ``N``. (default: from the labels)

        Returns:
            Tensor: Logits ``[E, Q, N]``.
        """
        support, query, labels, _ = as_episodes(support, query,
                                                support_labels)
        if support.size(2) != self.num_frames or query.size(2) != \
                self.num_frames:
            raise ValueError(f"TRX expects {self.num_frames} frames, got "
                             f"supports {tuple(support.shape)} and queries "
                             f"{tuple(query.shape)}")
        N = num_ways(labels, num_classes)
        E, S = labels.shape
        if S % N:
            raise ValueError(f"TRX needs the same number of supports per "
                             f"class, got {S} supports for {N} classes")
        K = S // N
        # Group the supports by class: [E, N, K] indices (stable, so any
        # order of the supports gives the same prototypes).
        order = labels.argsort(dim=1, stable=True).view(E, N, K)
        if not bool((labels.gather(1, order.view(E, S)).view(E, N, K) ==
                     torch.arange(N, device=labels.device).view(1, N, 1)
                     ).all()):
            raise ValueError("TRX needs the same number of supports per "
                             "class")
        st, qt = self._tuples(support), self._tuples(query)  # [E, V, P, wD]
        P = st.size(2)
        sk, sv = self.norm_k(self.lin_k(st)), self.lin_v(st)  # [E, S, P, d]
        qk, qv = self.norm_k(self.lin_k(qt)), self.lin_v(qt)  # [E, Q, P, d]
        idx = order.view(E, S, 1, 1).expand(-1, -1, P, sk.size(-1))
        sk = sk.gather(1, idx).view(E, N, K * P, -1)  # [E, N, KP, d]
        sv = sv.gather(1, idx).view(E, N, K * P, -1)
        Q = qk.size(1)
        qk_flat = qk.reshape(E, 1, Q * P, -1)  # [E, 1, QP, d]
        scores = qk_flat @ sk.transpose(-1, -2)  # [E, N, QP, KP]
        attn = (scores / math.sqrt(self.out_channels)).softmax(-1)
        proto = attn @ sv  # [E, N, QP, d]
        diff = qv.reshape(E, 1, Q * P, -1) - proto
        dist = diff.square().view(E, N, Q, -1).sum(-1) / P  # [E, N, Q]
        return -dist.transpose(1, 2)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'{self.out_channels}, cardinality={self.cardinality})')


class TRX(Module):
    r"""The TRX few-shot head: the logits of one
    :class:`TemporalCrossTransformer` per tuple cardinality, averaged.

    .. math::
        \mathrm{logit}_{q,c} = \frac{1}{|\Omega|}\sum_{\omega \in \Omega}
        \mathrm{logit}^{(\omega)}_{q,c}

    Args:
        channels (int): Frame feature size :math:`D`.
        out_channels (int, optional): Key/value size.
            (default: :obj:`1152`, TRX's)
        cardinalities (list of int, optional): :math:`\Omega`.
            (default: :obj:`(2, 3)`)
        num_frames (int, optional): Frames per video. (default: :obj:`8`)
        dropout (float, optional): Positional-encoding dropout.
            (default: :obj:`0.1`)

    Example:
        >>> head = TRX(16, out_channels=32)
        >>> support, query = torch.randn(10, 8, 16), torch.randn(5, 8, 16)
        >>> head(support, torch.arange(5).repeat_interleave(2), query).shape
        torch.Size([5, 5])
    """
    def __init__(self, channels: int, out_channels: int = 1152,
                 cardinalities: Sequence[int] = (2, 3), num_frames: int = 8,
                 dropout: float = 0.1):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels
        self.cardinalities = tuple(int(c) for c in cardinalities)
        self.num_frames = num_frames
        self.transformers = ModuleList([
            TemporalCrossTransformer(channels, out_channels, c, num_frames,
                                     dropout) for c in self.cardinalities])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for t in self.transformers:
            t.reset_parameters()

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor,
                class_text: Optional[Tensor] = None,
                num_classes: Optional[int] = None) -> Tensor:
        r"""Computes the logits ``[E, Q, N]`` (``[Q, N]`` for one episode);
        :obj:`class_text` is ignored."""
        squeezed = support.dim() == 3
        if class_text is not None:
            num_classes = class_text.size(-2)
        logits = torch.stack([t(support, support_labels, query, num_classes)
                              for t in self.transformers], 0).mean(0)
        return logits.squeeze(0) if squeezed else logits

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'{self.out_channels}, cardinalities={self.cardinalities})')
