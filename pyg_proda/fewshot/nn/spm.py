r"""SPM: the semantic prototype modulation of CLIP-SPM."""
from typing import NamedTuple, Optional

import torch
from torch import Tensor
from torch.nn import Module

from pyg_proda.fewshot.nn.episode import (
    as_episodes,
    class_means,
    gather_class_text,
)
from pyg_proda.fewshot.nn.fusion import (
    SemanticFusion,
    feed_forward,
    reset_sequential,
)


class SPMOutput(NamedTuple):
    r"""Output of :class:`SPM`: fused supports ``[E, S, T, D]``, fused
    queries ``[E, Q, T, D]``, class prototypes ``[E, N, T, D]`` and the
    generated query prompts ``[E, Q, 1, D]``."""
    support: Tensor
    query: Tensor
    prototypes: Tensor
    prompt: Tensor


class PromptGenerator(Module):
    r"""Turns the episode token into one prompt per video (the authors'
    ``token_trans``): the token is scaled by one scalar per video, the mean
    of its frame features, and passed through a feed-forward network,

    .. math::
        \mathbf{z}_v = \mathrm{FFN}\Big(\bar{\mathbf{t}} \cdot
        \frac{1}{TD}\sum_{t,d} x_{v,t,d}\Big)

    Args:
        channels (int): Feature size :math:`D`.
        ff_channels (int, optional): Hidden size. (default: :obj:`2048`)
        dropout (float, optional): Dropout. (default: :obj:`0.05`)

    Example:
        >>> gen = PromptGenerator(16, ff_channels=32)
        >>> gen(torch.randn(2, 16), torch.randn(2, 3, 8, 16)).shape
        torch.Size([2, 3, 1, 16])
    """
    def __init__(self, channels: int, ff_channels: int = 2048,
                 dropout: float = 0.05):
        super().__init__()
        self.channels = channels
        self.ff_channels = ff_channels
        self.ffn = feed_forward(channels, ff_channels, dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        reset_sequential(self.ffn)

    def forward(self, token: Tensor, x: Tensor) -> Tensor:
        r"""Args:
            token (Tensor): Episode token ``[E, D]``.
            x (Tensor): Videos ``[E, V, T, D]``.

        Returns:
            Tensor: Prompts ``[E, V, 1, D]``.
        """
        scale = x.mean(dim=(-2, -1), keepdim=True)  # [E, V, 1, 1]
        return self.ffn(token[:, None, None, :] * scale)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.channels})'


class SPM(Module):
    r"""Semantic prototype modulation (CLIP-SPM §SPM; ≈ QSA of CLIP-MEI).

    The *episode token* is the mean class text feature of the episode's
    supports, :math:`\bar{\mathbf{t}} = \frac{1}{S}\sum_s
    \mathbf{t}_{y_s}`. Every support is fused (:class:`SemanticFusion`)
    with its **true** class text; every query with the prompt
    :class:`PromptGenerator` makes for it from :math:`\bar{\mathbf{t}}`;
    prototypes are the per-class means of the fused supports:

    .. math::
        \mathbf{S}'_s = \mathrm{Fuse}(\mathbf{S}_s, \mathbf{t}_{y_s}),
        \qquad \mathbf{Q}'_q = \mathrm{Fuse}(\mathbf{Q}_q, \mathbf{z}_q),
        \qquad \mathbf{P}_c = \frac{1}{K}\sum_{s : y_s = c}
        \mathbf{S}'_s

    and the classifier compares :math:`\mathbf{Q}'` with
    :math:`\mathbf{P}` by OTAM. Query labels never enter: the authors'
    code averages the query labels' text into the episode token and fuses
    queries with their true text in terms whose loss weight is zero; both
    are left out here.

    Args:
        channels (int): Feature size :math:`D` (text and frames).
        fusion (SemanticFusion, optional): The fusion shared with
            :class:`~pyg_proda.fewshot.nn.HSMR`; a new one if :obj:`None`.
            (default: :obj:`None`)
        ff_channels (int, optional): Hidden size of the prompt generator.
            (default: :obj:`2048`)
        dropout (float, optional): Its dropout. (default: :obj:`0.05`)

    Raises:
        ValueError: if the fusion's size is not :obj:`channels`.

    Example:
        >>> spm = SPM(16, SemanticFusion(16, heads=2, head_channels=8, ff_channels=32),
        ...           ff_channels=32)
        >>> support, query = torch.randn(2, 10, 8, 16), torch.randn(2, 5, 8, 16)
        >>> labels = torch.arange(5).repeat_interleave(2)
        >>> out = spm(support, labels, query, torch.randn(2, 5, 16))
        >>> out.prototypes.shape, out.query.shape
        (torch.Size([2, 5, 8, 16]), torch.Size([2, 5, 8, 16]))
    """
    def __init__(self, channels: int,
                 fusion: Optional[SemanticFusion] = None,
                 ff_channels: int = 2048, dropout: float = 0.05):
        super().__init__()
        if fusion is not None and fusion.channels != channels:
            raise ValueError(f"SPM of size {channels} got a fusion of size "
                             f"{fusion.channels}")
        self.channels = channels
        self.fusion = fusion if fusion is not None else SemanticFusion(
            channels)
        self.prompt = PromptGenerator(channels, ff_channels, dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the prompt generator (the shared fusion is reset by its
        owner)."""
        self.prompt.reset_parameters()

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor,
                class_text: Tensor) -> SPMOutput:
        r"""Modulates one batch of episodes.

        Args:
            support (Tensor): ``[E, S, T, D]``.
            support_labels (Tensor): ``[S]`` or ``[E, S]`` in ``0..N-1``.
            query (Tensor): ``[E, Q, T, D]``.
            class_text (Tensor): Text feature of every class of the
                episode, ``[E, N, D]``.

        Returns:
            SPMOutput
        """
        support, query, labels, _ = as_episodes(support, query,
                                                support_labels)
        if class_text.dim() == 2:
            class_text = class_text.unsqueeze(0)
        E, S, T, D = support.shape
        Q = query.size(1)
        N = class_text.size(1)
        text = gather_class_text(class_text, labels)  # [E, S, D]
        token = text.mean(1)  # [E, D], supports only
        prompt = self.prompt(token, query)  # [E, Q, 1, D]
        # One fusion pass over supports and queries (videos are
        # independent in it).
        frames = torch.cat([support, query], 1).reshape(-1, T, D)
        tokens = torch.cat([text.unsqueeze(2), prompt], 1).reshape(-1, 1, D)
        fused, _ = self.fusion(frames, tokens)
        fused = fused.view(E, S + Q, T, D)
        su, qu = fused[:, :S], fused[:, S:]
        return SPMOutput(su, qu, class_means(su, labels, N), prompt)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.channels})'
