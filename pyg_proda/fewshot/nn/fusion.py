r"""The transformer block and the semantic fusion shared by HSMR and SPM
(CLIP-SPM's ``Transformer_v1`` and ``se_te``)."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import (
    GELU,
    Dropout,
    LayerNorm,
    LeakyReLU,
    Linear,
    Module,
    Sequential,
    Sigmoid,
)


def feed_forward(channels: int, ff_channels: int, dropout: float
                 ) -> Sequential:
    r"""``Linear -> GELU -> Dropout -> Linear -> Dropout`` (the authors'
    ``FeedForward``)."""
    return Sequential(Linear(channels, ff_channels), GELU(), Dropout(dropout),
                      Linear(ff_channels, channels), Dropout(dropout))


def reset_sequential(seq: Sequential) -> None:
    r"""Resets every layer of :obj:`seq` that has parameters."""
    for layer in seq:
        if hasattr(layer, 'reset_parameters'):
            layer.reset_parameters()


class EpisodeTransformer(Module):
    r"""One pre-norm multi-head self-attention block followed by a
    feed-forward block *without* normalisation, as the authors'
    ``Transformer_v1`` of depth 1:

    .. math::
        \mathbf{H} &= \mathbf{X} + \mathrm{Dropout}\big(\mathbf{W}_o\,
        \mathrm{MHA}(\mathrm{LN}(\mathbf{X}))\big) \\
        \mathbf{Y} &= \mathbf{H} + \mathrm{FFN}(\mathbf{H})

    The query, key and value maps have no bias and
    :obj:`heads` :math:`\times` :obj:`head_channels` outputs (8 × 256 in
    CLIP-SPM, whatever :math:`D`).

    Args:
        channels (int): Feature size :math:`D`.
        heads (int, optional): Attention heads. (default: :obj:`8`)
        head_channels (int, optional): Size per head. (default: :obj:`256`)
        ff_channels (int, optional): Hidden size of the FFN.
            (default: :obj:`2048`)
        attn_dropout (float, optional): Dropout after the output projection
            (the authors' "attention dropout"). (default: :obj:`0.2`)
        ff_dropout (float, optional): FFN dropout. (default: :obj:`0.05`)

    Example:
        >>> block = EpisodeTransformer(16, heads=2, head_channels=8, ff_channels=32)
        >>> block(torch.randn(4, 9, 16)).shape
        torch.Size([4, 9, 16])
    """
    def __init__(self, channels: int, heads: int = 8,
                 head_channels: int = 256, ff_channels: int = 2048,
                 attn_dropout: float = 0.2, ff_dropout: float = 0.05):
        super().__init__()
        self.channels = channels
        self.heads = heads
        self.head_channels = head_channels
        self.ff_channels = ff_channels
        inner = heads * head_channels
        self.norm = LayerNorm(channels)
        self.lin_q = Linear(channels, inner, bias=False)
        self.lin_k = Linear(channels, inner, bias=False)
        self.lin_v = Linear(channels, inner, bias=False)
        self.lin_out = Linear(inner, channels)
        self.attn_dropout = Dropout(attn_dropout)
        self.ffn = feed_forward(channels, ff_channels, ff_dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for lin in (self.norm, self.lin_q, self.lin_k, self.lin_v,
                    self.lin_out):
            lin.reset_parameters()
        reset_sequential(self.ffn)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        r"""Runs the block.

        Args:
            x (Tensor): ``[B, L, D]``.
            mask (Tensor, optional): Boolean ``[L, L]``; position ``i`` may
                attend to ``j`` where ``mask[i, j]`` is :obj:`True`.
                (default: :obj:`None`, full attention)

        Returns:
            Tensor: ``[B, L, D]``.
        """
        B, L, _ = x.shape
        h = self.norm(x)

        def split(t: Tensor) -> Tensor:  # [B, L, H*C] -> [B, H, L, C]
            return t.view(B, L, self.heads, self.head_channels).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.lin_q(h)),
                                             split(self.lin_k(h)),
                                             split(self.lin_v(h)),
                                             attn_mask=mask)
        out = out.transpose(1, 2).reshape(B, L, -1)  # [B, L, H*C]
        x = x + self.attn_dropout(self.lin_out(out))
        return x + self.ffn(x)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'heads={self.heads}, head_channels={self.head_channels})')


class SemanticFusion(Module):
    r"""Gated fusion of a video's frames with one token (a class text
    feature, a generated prompt or a motion token), then one shared
    transformer over ``[token; frames]`` (CLIP-SPM's ``se_te``):

    .. math::
        \mathbf{g}^{t} &= \sigma(\mathrm{MLP}_t(\mathbf{z})), \qquad
        \mathbf{g}^{v}_i = \sigma(\mathrm{MLP}_v(\mathbf{x}_i)) \\
        \tilde{\mathbf{x}}_i &= \alpha\, \mathbf{z} \odot \mathbf{g}^{t} +
        \mathbf{x}_i \odot \mathbf{g}^{v}_i \\
        [\mathbf{z}'; \mathbf{x}'_1; \dots; \mathbf{x}'_T] &=
        \mathrm{Transformer}([\mathbf{z}; \tilde{\mathbf{x}}_1; \dots;
        \tilde{\mathbf{x}}_T])

    The MLPs are ``Linear -> LeakyReLU -> Linear`` with hidden sizes
    :obj:`text_ratio` :math:`\cdot D` and :obj:`vision_ratio`
    :math:`\cdot D`. The transformer has no positional encoding, so frame
    :math:`i` of the output stays frame :math:`i`.

    Args:
        channels (int): Feature size :math:`D`.
        alpha (float, optional): Text weight :math:`\alpha`.
            (default: :obj:`0.2`, the authors' HMDB/SSv2 setting)
        text_ratio (float, optional): Hidden size of the text gate over
            :math:`D`. (default: :obj:`1.5`)
        vision_ratio (float, optional): Hidden size of the vision gate over
            :math:`D`. (default: :obj:`0.5`)
        negative_slope (float, optional): LeakyReLU slope.
            (default: :obj:`0.0025`)
        **kwargs (optional): Arguments of :class:`EpisodeTransformer`.

    Example:
        >>> fusion = SemanticFusion(16, heads=2, head_channels=8, ff_channels=32)
        >>> frames, token = fusion(torch.randn(3, 8, 16), torch.randn(3, 1, 16))
        >>> frames.shape, token.shape
        (torch.Size([3, 8, 16]), torch.Size([3, 1, 16]))
    """
    def __init__(self, channels: int, alpha: float = 0.2,
                 text_ratio: float = 1.5, vision_ratio: float = 0.5,
                 negative_slope: float = 0.0025, **kwargs):
        super().__init__()
        self.channels = channels
        self.alpha = alpha
        self.text_ratio = text_ratio
        self.vision_ratio = vision_ratio
        self.negative_slope = negative_slope

        def gate(ratio: float) -> Sequential:
            hidden = max(1, int(channels * ratio))
            return Sequential(Linear(channels, hidden),
                              LeakyReLU(negative_slope),
                              Linear(hidden, channels), Sigmoid())

        self.gate_text = gate(text_ratio)
        self.gate_vision = gate(vision_ratio)
        self.transformer = EpisodeTransformer(channels, **kwargs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        reset_sequential(self.gate_text)
        reset_sequential(self.gate_vision)
        self.transformer.reset_parameters()

    def forward(self, frames: Tensor, token: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Fuses.

        Args:
            frames (Tensor): ``[B, T, D]``.
            token (Tensor): ``[B, 1, D]``.

        Returns:
            (Tensor, Tensor): fused frames ``[B, T, D]`` and token
            ``[B, 1, D]``.
        """
        fused = (self.alpha * token * self.gate_text(token) +
                 frames * self.gate_vision(frames))  # [B, T, D]
        out = self.transformer(torch.cat([token, fused], dim=1))
        return out[:, 1:], out[:, :1]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'alpha={self.alpha})')
