r"""ProDA with a candidate-pair head: the SportsHHI interaction classifier
(video heads of :class:`~pyg_proda.models.ProDA` kept, plus per-pair
logits from :class:`~pyg_proda.models.PairHead`)."""
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from pyg_proda.data.homogeneous import SSGView
from pyg_proda.models.pair_head import PairHead
from pyg_proda.models.proda import ProDA, ProDAOutput
from pyg_proda.utils import edge_pair_index


@dataclass
class ProDAPairOutput:
    r"""The output of :class:`ProDAPairs`: everything
    :class:`~pyg_proda.models.ProDA` computes (:attr:`video`) and the
    per-candidate logits ``[E, C]`` (:attr:`pair_logits`) of the edges of
    :attr:`ProDAOutput.view`."""
    video: ProDAOutput
    pair_logits: Tensor  # [E, C]


class ProDAPairs(nn.Module):
    r""":class:`~pyg_proda.models.ProDA` plus a :class:`PairHead` on its
    last VGPNN layer: the model of SportsHHI interaction classification
    with ground-truth boxes given.

    The pair head reads the link states of both branches
    (:attr:`ProDAOutput.edge_states`) and, as endpoint states, the fused
    node features :math:`\mathbf{F} = \delta \mathbf{F}_u + (1 - \delta)
    \mathbf{F}_s` (the features :math:`a_t` reads), so its input covers the
    specified and the unspecified actions alike. With :obj:`input_skip` it
    also reads the candidate's own inputs, :math:`\mathbf{u}_e =
    [\mathbf{x}_i \Vert \mathbf{b}_i \Vert \mathbf{x}_j \Vert \mathbf{b}_j
    \Vert \mathbf{r}_{ij}]` (features, boxes, relation features): a skip
    past the encoder, whose attention layers make the per-keyframe evidence
    slow to reach the head early in training: without it, training starts
    with a plateau of varying length (measured in ``docs/sportshhi.md``).
    The video heads :math:`a_s, a_u, a_t, a_m` are
    ProDA's.

    Args:
        in_channels (int): Node feature size.
        num_classes (int): Interaction classes :math:`C`.
        edge_dim (int): Width of the homogeneous ``edge_attr``.
        hidden_channels (int): Hidden size. (default: :obj:`768`)
        pair_branches (Sequence[str]): Branches the head reads.
            (default: :obj:`('s', 'u')`)
        pair_context (bool): See :class:`PairHead`. (default: :obj:`True`)
        pair_prior_logit (float): See :class:`PairHead`.
            (default: :obj:`-4.0`)
        input_skip (bool): Give the head the candidate's inputs (see
            above). (default: :obj:`True`)
        **kwargs (optional): Further arguments of
            :class:`~pyg_proda.models.ProDA` (``heads``, ``num_layers``,
            ``dropout``, ...); ``dropout`` is also the head's.

    Example:
        >>> import torch
        >>> from pyg_proda.data import SSGLoader
        >>> from pyg_proda.datasets import SyntheticHHI
        >>> ds = SyntheticHHI('/tmp/hhi', split='val', num_videos=4)
        >>> view = next(iter(SSGLoader(ds, batch_size=2)))
        >>> model = ProDAPairs(view.x.size(1), ds.num_classes,
        ...                    view.edge_attr.size(1), hidden_channels=16,
        ...                    heads=2, num_layers=1, max_frames=8)
        >>> spec = torch.zeros(2, ds.num_classes)
        >>> out = model(view, spec, 1 - spec)
        >>> out.pair_logits.shape == view.edge_target.shape
        True
    """
    def __init__(self, in_channels: int, num_classes: int, edge_dim: int,
                 hidden_channels: int = 768,
                 pair_branches: Sequence[str] = ('s', 'u'),
                 pair_context: bool = True, pair_prior_logit: float = -4.0,
                 input_skip: bool = True, **kwargs: Any):
        super().__init__()
        #: The constructor arguments, to rebuild the model from a checkpoint.
        self.config = dict(in_channels=in_channels, num_classes=num_classes,
                           edge_dim=edge_dim, hidden_channels=hidden_channels,
                           pair_branches=list(pair_branches),
                           pair_context=pair_context,
                           pair_prior_logit=pair_prior_logit,
                           input_skip=input_skip, **kwargs)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.edge_dim = edge_dim
        self.hidden_channels = hidden_channels
        self.input_skip = input_skip
        self.proda = ProDA(in_channels, num_classes, edge_dim,
                           hidden_channels=hidden_channels, **kwargs)
        self.pair_head = PairHead(hidden_channels, num_classes,
                                  branches=pair_branches,
                                  pair_context=pair_context,
                                  input_channels=2 * (in_channels + 4) +
                                  edge_dim if input_skip else 0,
                                  dropout=kwargs.get('dropout', 0.1),
                                  prior_logit=pair_prior_logit)

    @property
    def max_frames(self) -> int:
        r"""Frames per video the model supports."""
        return self.proda.max_frames

    def set_sync_norm(self, sync: bool) -> None:
        r"""See :meth:`ProDA.set_sync_norm`."""
        self.proda.set_sync_norm(sync)
        self.config['sync_norm'] = sync

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        def reset(module: nn.Module) -> None:
            # A module's own reset_parameters covers its children (and may
            # set their values, e.g. a classifier's prior bias).
            for child in module.children():
                if hasattr(child, 'reset_parameters'):
                    child.reset_parameters()
                else:
                    reset(child)

        reset(self)

    def forward(self, view: SSGView, sap: Tensor,
                uap: Tensor) -> ProDAPairOutput:
        r"""Args:
            view (SSGView): Homogeneous view of :math:`B` videos whose
                edges are the candidate pairs.
            sap (Tensor): ``[B, C]`` specified-action prompts.
            uap (Tensor): ``[B, C]`` unspecified-action prompts.
        """
        out = self.proda(view, sap, uap)
        v = out.view
        fused = out.fusion_gate * out.f_u + (1 - out.fusion_gate) * out.f_s
        pair = v.edge_pair if 'edge_pair' in v else edge_pair_index(
            v.edge_index, v.edge_type, v.track)
        inputs = None
        if self.input_skip:
            src, dst = v.edge_index
            xb = torch.cat([v.x, v.box], dim=-1)  # [N, F + 4]
            inputs = torch.cat([xb.index_select(0, src),
                                xb.index_select(0, dst), v.edge_attr], dim=-1)
        logits = self.pair_head(out.edge_states, fused, v.edge_index, pair,
                                inputs)
        return ProDAPairOutput(out, logits)
