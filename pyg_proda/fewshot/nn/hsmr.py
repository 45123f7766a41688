r"""HSMR: the motion refinement of CLIP-SPM (an auxiliary loss)."""
from typing import Optional

from torch import Tensor
from torch.nn import Conv1d, Module

from pyg_proda.fewshot.nn.fusion import SemanticFusion


class HSMR(Module):
    r"""Motion refinement (CLIP-SPM's ``mo``; ≈ MIC of CLIP-MEI).

    Two temporal convolutions :math:`\phi` (``Conv1d(D, D, 3)``, stacked)
    predict each frame's neighbour; forward and backward differences are
    averaged and pooled over time into a motion token:

    .. math::
        \mathbf{m}(\mathbf{X}) = \frac{1}{T-1}\sum_{t=1}^{T-1}
        \tfrac{1}{2}\big[(\phi(\mathbf{X})_{t+1} - \mathbf{x}_t) +
        (\phi(\mathbf{X})_t - \mathbf{x}_{t+1})\big]

    The token is fused with the frames by the shared
    :class:`SemanticFusion` (:math:`\mathbf{X}', \mathbf{z}' =
    \mathrm{Fuse}(\mathbf{X}, \mathbf{m}(\mathbf{X}))`), and the loss asks
    the motion of the fused frames to match the fused token:

    .. math::
        \mathcal{L}_{\mathrm{mo}}(\mathbf{X}) = \lVert
        \mathbf{m}(\mathbf{X}') - \mathbf{z}' \rVert_2^2

    The refined frames are *not* used by the classifier (as in the
    authors' code): HSMR only shapes the shared fusion and its
    convolutions through this auxiliary loss.

    Args:
        channels (int): Feature size :math:`D`.
        fusion (SemanticFusion, optional): The fusion shared with
            :class:`~pyg_proda.fewshot.nn.SPM`; a new one with default
            arguments if :obj:`None`. (default: :obj:`None`)

    Raises:
        ValueError: if the fusion's size is not :obj:`channels`.

    Example:
        >>> fusion = SemanticFusion(16, heads=2, head_channels=8, ff_channels=32)
        >>> hsmr = HSMR(16, fusion)
        >>> hsmr(torch.randn(5, 8, 16)).shape  # one loss per video
        torch.Size([5])
    """
    def __init__(self, channels: int,
                 fusion: Optional[SemanticFusion] = None):
        super().__init__()
        if fusion is not None and fusion.channels != channels:
            raise ValueError(f"HSMR of size {channels} got a fusion of size "
                             f"{fusion.channels}")
        self.channels = channels
        self.conv1 = Conv1d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = Conv1d(channels, channels, kernel_size=3, padding=1)
        self.fusion = fusion if fusion is not None else SemanticFusion(
            channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the convolutions (the shared fusion is reset by its
        owner)."""
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def motion(self, x: Tensor) -> Tensor:
        r"""The motion token :math:`\mathbf{m}(\mathbf{X})`.

        Args:
            x (Tensor): ``[B, T, D]`` with :math:`T \ge 2`.

        Returns:
            Tensor: ``[B, D]``.
        """
        xt = x.transpose(1, 2)  # [B, D, T]
        conv = self.conv2(self.conv1(xt))  # [B, D, T]
        fwd = conv[..., 1:] - xt[..., :-1]
        bwd = conv[..., :-1] - xt[..., 1:]
        return (0.5 * (fwd + bwd)).mean(-1)

    def forward(self, x: Tensor) -> Tensor:
        r"""The motion loss of every video.

        Args:
            x (Tensor): ``[B, T, D]`` (any leading dimensions).

        Returns:
            Tensor: ``[B]`` (the leading dimensions of :obj:`x`).
        """
        lead = x.shape[:-2]
        x = x.reshape(-1, *x.shape[-2:])
        token = self.motion(x)  # [B, D]
        fused, fused_token = self.fusion(x, token.unsqueeze(1))
        diff = self.motion(fused) - fused_token.squeeze(1)
        return diff.square().sum(-1).reshape(lead)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.channels})'


__all__ = ['HSMR']
