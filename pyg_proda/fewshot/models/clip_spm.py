r"""CLIP-SPM (Li et al., 2025) on precomputed frame features."""
from typing import NamedTuple, Optional

import torch
from torch import Tensor
from torch.nn import Linear, Module

from pyg_proda.fewshot.nn.episode import as_episodes, class_means
from pyg_proda.fewshot.nn.fusion import SemanticFusion
from pyg_proda.fewshot.nn.hsmr import HSMR
from pyg_proda.fewshot.nn.otam import otam_distance
from pyg_proda.fewshot.nn.padm import PADM
from pyg_proda.fewshot.nn.spm import SPM


class CLIPSPMOutput(NamedTuple):
    r"""Output of :class:`CLIPSPM`: logits ``[E, Q, N]`` and the HSMR motion
    loss (a scalar; 0 without HSMR or when not computed)."""
    logits: Tensor
    motion_loss: Tensor


class CLIPSPM(Module):
    r"""The CLIP-SPM few-shot head: :class:`~pyg_proda.fewshot.nn.HSMR`
    (auxiliary motion loss), :class:`~pyg_proda.fewshot.nn.SPM` (semantic
    prototypes) and :class:`~pyg_proda.fewshot.nn.PADM` (class tokens and
    anchor) over frozen frame features, scored by OTAM:

    .. math::
        \mathrm{logit}_{q,c} = -\Big(\tfrac{1}{2}\,\mathrm{OTAM}
        (\mathbf{Q}'_q, \mathbf{P}_c) + \mathrm{OTAM}(\mathbf{Q}''_q,
        \bar{\mathbf{S}}''_c) + \mathrm{OTAM}(\mathbf{A}'',
        \mathbf{C}''_c)\Big)

    where :math:`\mathbf{Q}', \mathbf{P}` come from SPM, the double primes
    from PADM run on SPM's fused supports and queries
    (:math:`\bar{\mathbf{S}}''_c` is the class mean of the modulated
    supports), and the last term (anchor to class tokens) adds the same
    class bias to every query. HSMR and SPM share one
    :class:`~pyg_proda.fewshot.nn.SemanticFusion`.

    Ablations drop terms: without SPM, PADM runs on the raw features and
    the first term goes; without PADM only :math:`-\frac{1}{2}`
    OTAM(SPM) remains; without both, :math:`-` OTAM of the raw features
    to the per-frame class means.

    Args:
        channels (int): Feature size :math:`D` (frames and text).
        heads (int, optional): Attention heads. (default: :obj:`8`)
        head_channels (int, optional): Size per head. (default: :obj:`256`)
        ff_channels (int, optional): FFN and prompt-generator hidden size.
            (default: :obj:`2048`)
        attn_dropout (float, optional): (default: :obj:`0.2`)
        ff_dropout (float, optional): (default: :obj:`0.05`)
        alpha (float, optional): Text weight of the fusion.
            (default: :obj:`0.2`)
        text_ratio (float, optional): (default: :obj:`1.5`)
        vision_ratio (float, optional): (default: :obj:`0.5`)
        negative_slope (float, optional): (default: :obj:`0.0025`)
        lbda (float, optional): OTAM softness. (default: :obj:`0.5`)
        use_hsmr (bool, optional): (default: :obj:`True`)
        use_spm (bool, optional): (default: :obj:`True`)
        use_padm (bool, optional): (default: :obj:`True`)
        transductive (bool, optional): The authors' transductive PADM.
            (default: :obj:`False`)
        anchor_term (bool, optional): Add the anchor-to-class-token OTAM
            term to the distance. Inductively it is a bias computed from the
            supports alone. (default: :obj:`True`)
        adapter (bool, optional): A learned linear map of the frames before
            everything else (not in the paper; a stand-in for fine-tuning
            the backbone's last layer). (default: :obj:`False`)

    Example:
        >>> model = CLIPSPM(16, heads=2, head_channels=8, ff_channels=32)
        >>> support, query = torch.randn(2, 10, 8, 16), torch.randn(2, 5, 8, 16)
        >>> labels = torch.arange(5).repeat_interleave(2)
        >>> out = model(support, labels, query, torch.randn(2, 5, 16))
        >>> out.logits.shape, out.motion_loss.dim()
        (torch.Size([2, 5, 5]), 0)
    """
    def __init__(self, channels: int, heads: int = 8,
                 head_channels: int = 256, ff_channels: int = 2048,
                 attn_dropout: float = 0.2, ff_dropout: float = 0.05,
                 alpha: float = 0.2, text_ratio: float = 1.5,
                 vision_ratio: float = 0.5, negative_slope: float = 0.0025,
                 lbda: float = 0.5, use_hsmr: bool = True,
                 use_spm: bool = True, use_padm: bool = True,
                 transductive: bool = False, anchor_term: bool = True,
                 adapter: bool = False):
        super().__init__()
        self.channels = channels
        self.lbda = lbda
        self.use_hsmr = use_hsmr
        self.use_spm = use_spm
        self.use_padm = use_padm
        self.transductive = transductive
        self.anchor_term = anchor_term
        self.adapter = Linear(channels, channels) if adapter else None
        block = dict(heads=heads, head_channels=head_channels,
                     ff_channels=ff_channels, attn_dropout=attn_dropout,
                     ff_dropout=ff_dropout)
        self.fusion = None
        if use_hsmr or use_spm:
            self.fusion = SemanticFusion(channels, alpha, text_ratio,
                                         vision_ratio, negative_slope, **block)
        self.hsmr = HSMR(channels, self.fusion) if use_hsmr else None
        self.spm = (SPM(channels, self.fusion, ff_channels, ff_dropout)
                    if use_spm else None)
        self.padm = (PADM(channels, transductive, **block)
                     if use_padm else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for module in (self.adapter, self.fusion, self.hsmr, self.spm,
                       self.padm):
            if module is not None:
                module.reset_parameters()

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor,
                class_text: Tensor,
                motion: Optional[bool] = None) -> CLIPSPMOutput:
        r"""Classifies the queries of a batch of episodes.

        Args:
            support (Tensor): ``[E, S, T, D]`` (or one episode ``[S, T, D]``).
            support_labels (Tensor): ``[S]`` or ``[E, S]`` in ``0..N-1``.
            query (Tensor): ``[E, Q, T, D]`` (or ``[Q, T, D]``).
            class_text (Tensor): Text feature of each of the episode's
                classes ``[E, N, D]`` (or ``[N, D]``).
            motion (bool, optional): Compute the HSMR loss; it never
                changes the logits, so by default only in training mode.
                (default: :obj:`None`)

        Returns:
            CLIPSPMOutput: logits ``[E, Q, N]`` (``[Q, N]`` for one
            episode) and the motion loss.
        """
        support, query, labels, squeezed = as_episodes(support, query,
                                                       support_labels)
        if class_text.dim() == 2:
            class_text = class_text.unsqueeze(0)
        N = class_text.size(1)
        if self.adapter is not None:
            support, query = self.adapter(support), self.adapter(query)
        if motion is None:
            motion = self.training
        motion_loss = support.new_zeros(())
        if self.hsmr is not None and motion:
            # Mean over supports plus mean over queries, as the authors.
            per_video = self.hsmr(torch.cat([support, query], 1))
            S = support.size(1)
            motion_loss = per_video[:, :S].mean() + per_video[:, S:].mean()
        dist = support.new_zeros(())
        su, qu = support, query
        if self.spm is not None:
            out = self.spm(support, labels, query, class_text)
            su, qu = out.support, out.query
            dist = dist + 0.5 * otam_distance(qu, out.prototypes, self.lbda)
        if self.padm is not None:
            out = self.padm(su, labels, qu, N)
            protos = class_means(out.support, labels, N)
            dist = dist + otam_distance(out.query, protos, self.lbda)
            if self.anchor_term:
                dist = dist + otam_distance(out.anchor, out.class_tokens,
                                            self.lbda)  # [E, 1, N]
        if self.spm is None and self.padm is None:
            dist = otam_distance(query, class_means(support, labels, N),
                                 self.lbda)
        logits = -dist
        return CLIPSPMOutput(logits.squeeze(0) if squeezed else logits,
                             motion_loss)

    def __repr__(self) -> str:
        parts = [n for n, on in (('hsmr', self.use_hsmr),
                                 ('spm', self.use_spm),
                                 ('padm', self.use_padm)) if on]
        mode = 'transductive' if self.transductive else 'inductive'
        return (f'{self.__class__.__name__}({self.channels}, '
                f'{"+".join(parts) or "otam"}, {mode})')
