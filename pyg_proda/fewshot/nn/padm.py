r"""PADM: the prototype-anchor dual modulation of CLIP-SPM."""
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module

from pyg_proda.fewshot.nn.episode import as_episodes, class_means, num_ways
from pyg_proda.fewshot.nn.fusion import EpisodeTransformer


class PADMOutput(NamedTuple):
    r"""Output of :class:`PADM`: modulated supports ``[E, S, T, D]``,
    queries ``[E, Q, T, D]``, class tokens ``[E, N, T, D]`` and the global
    anchor ``[E, 1, T, D]``."""
    support: Tensor
    query: Tensor
    class_tokens: Tensor
    anchor: Tensor


def inductive_mask(num_queries: int, device=None) -> Tensor:
    r"""Attention mask ``[1 + Q, 1 + Q]`` of the inductive query sequence
    ``[anchor; queries]``: every query sees itself and the anchor, the
    anchor only itself.

    Example:
        >>> inductive_mask(2).int().tolist()
        [[1, 0, 0], [1, 1, 0], [1, 0, 1]]
    """
    mask = torch.eye(num_queries + 1, dtype=torch.bool, device=device)
    mask[:, 0] = True
    return mask


class PADM(Module):
    r"""Prototype-anchor dual modulation (CLIP-SPM §PADM; ≈ TFE of
    CLIP-MEI).

    Per class a *class token* (the per-frame mean of the class's supports),
    and a *global anchor*, the mean of the class tokens:

    .. math::
        \mathbf{C}_c = \frac{1}{K}\sum_{s : y_s = c} \mathbf{S}_s, \qquad
        \mathbf{A} = \frac{1}{N}\sum_c \mathbf{C}_c

    One :class:`~pyg_proda.fewshot.nn.EpisodeTransformer` then attends
    *across videos at each frame position*: over ``[C_1..C_N; S_1..S_S]``
    for the supports and over ``[A; Q_q]`` for every query. This is
    **inductive**: a query's output depends on the supports and on itself
    only.

    With :obj:`transductive=True` it is the authors' form: the class tokens
    also average *all queries* of the episode,
    :math:`\mathbf{C}_c = (\sum_{s : y_s = c} \mathbf{S}_s + \sum_q
    \mathbf{Q}_q) / (K + Q)`, and the queries attend to each other and to
    the anchor, so a query's logits depend on the other queries.

    Args:
        channels (int): Feature size :math:`D`.
        transductive (bool, optional): The authors' transductive form.
            (default: :obj:`False`)
        **kwargs (optional): Arguments of
            :class:`~pyg_proda.fewshot.nn.EpisodeTransformer`.

    Example:
        >>> padm = PADM(16, heads=2, head_channels=8, ff_channels=32)
        >>> support, query = torch.randn(2, 10, 8, 16), torch.randn(2, 5, 8, 16)
        >>> out = padm(support, torch.arange(5).repeat_interleave(2), query)
        >>> out.class_tokens.shape, out.anchor.shape
        (torch.Size([2, 5, 8, 16]), torch.Size([2, 1, 8, 16]))
    """
    def __init__(self, channels: int, transductive: bool = False, **kwargs):
        super().__init__()
        self.channels = channels
        self.transductive = transductive
        self.transformer = EpisodeTransformer(channels, **kwargs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.transformer.reset_parameters()

    def _across_videos(self, seq: Tensor,
                       mask: Optional[Tensor] = None) -> Tensor:
        # [E, V, T, D] -> attention over the V videos at each (E, T).
        E, V, T, D = seq.shape
        flat = seq.permute(0, 2, 1, 3).reshape(E * T, V, D)
        out = self.transformer(flat, mask)
        return out.view(E, T, V, D).permute(0, 2, 1, 3)

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor,
                num_classes: Optional[int] = None) -> PADMOutput:
        r"""Modulates one batch of episodes.

        Args:
            support (Tensor): ``[E, S, T, D]``.
            support_labels (Tensor): ``[S]`` or ``[E, S]``.
            query (Tensor): ``[E, Q, T, D]``.
            num_classes (int, optional): ``N``. (default: from the labels)

        Returns:
            PADMOutput
        """
        support, query, labels, _ = as_episodes(support, query,
                                                support_labels)
        N = num_ways(labels, num_classes)
        if self.transductive:
            onehot = F.one_hot(labels, N).to(support.dtype)  # [E, S, N]
            sums = torch.einsum('esn,estd->entd', onehot, support)
            sums = sums + query.sum(1, keepdim=True)
            count = onehot.sum(1) + query.size(1)  # [E, N]
            tokens = sums / count[..., None, None]
        else:
            tokens = class_means(support, labels, N)  # [E, N, T, D]
        anchor = tokens.mean(1, keepdim=True)  # [E, 1, T, D]
        su = self._across_videos(torch.cat([tokens, support], 1))
        mask = None if self.transductive else inductive_mask(
            query.size(1), query.device)
        qu = self._across_videos(torch.cat([anchor, query], 1), mask)
        return PADMOutput(su[:, N:], qu[:, 1:], su[:, :N], qu[:, :1])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'transductive={self.transductive})')
