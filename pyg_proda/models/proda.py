r"""The ProDA model: encoder, prompt-guided VGPNN branches, readouts, heads,
fusion and reconstruction (paper Sec. 3, Fig. 2)."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from pyg_proda.data.homogeneous import (
    SSGView,
    check_max_frames,
    select_videos,
)
from pyg_proda.nn import (
    DynamicPrompt,
    SimplePrompt,
    SpatioTemporalEncoder,
    SSGReadout,
    VGPNNConv,
    encoder_groups,
    make_norm,
    vgpnn_groups,
)
from pyg_proda.utils import edge_pair_index


@dataclass
class ProDAOutput:
    r"""Everything :class:`ProDA` computes for a batch of ``B`` videos with
    ``N`` nodes and ``E`` relations (``C`` action classes)."""
    a_s: Tensor  # [B, C + 1] specified-action (SAP) branch logits
    a_u: Tensor  # [B, C + 1] unspecified-action (UAP) branch logits
    a_t: Tensor  # [B, C] fused (total) logits
    a_m: Tensor  # [B, C] logits from the features before disentanglement
    frame_weights: Dict[str, Tensor]  # head -> [B, T] readout weights s
    frame_mask: Tensor  # [B, T] frames that hold nodes
    f_o: Tensor  # [N, H] encoder features (reconstruction target)
    f_s: Tensor  # [N, H] SAP-branch node features
    f_u: Tensor  # [N, H] UAP-branch node features
    f_r: Tensor  # [N, H] reconstruction of f_o from the fused features
    g_s: Tensor  # [B, H] SAP-branch graph vectors
    g_u: Tensor  # [B, H] UAP-branch graph vectors
    fusion_gate: Tensor  # [N, 1] delta of Eq. 6
    edge_gates: List[Tensor] = field(default_factory=list)  # per layer [E, 2]
    # Last VGPNN layer's link states per branch ('s', 'u'): [E, 2, H]
    # (index 1: message to the destination, to the source).
    edge_states: Dict[str, Tensor] = field(default_factory=dict)
    view: Optional[SSGView] = None  # the view the rows above refer to


class ClassifierHead(nn.Sequential):
    r"""Dropout, Linear, LayerNorm, GELU, then the classifier (design facts
    §7). The classifier's bias starts at :obj:`prior_logit`: multi-label
    targets are mostly negative, and starting from a low prior spares the
    first steps of training from learning just that."""
    def __init__(self, channels: int, out_channels: int, dropout: float,
                 prior_logit: float = -2.0):
        super().__init__(nn.Dropout(dropout), nn.Linear(channels, channels),
                         nn.LayerNorm(channels), nn.GELU(),
                         nn.Linear(channels, out_channels))
        self.prior_logit = prior_logit
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self:
            if hasattr(m, 'reset_parameters'):
                m.reset_parameters()
        nn.init.constant_(self[-1].bias, self.prior_logit)


class ProDA(nn.Module):
    r"""Prompt-guided disentangled representation for multi-label action
    recognition on spatio-temporal scene graphs.

    The homogeneous view of a batch (:func:`pyg_proda.data.to_homogeneous`)
    is embedded (node features, box, object class, node type and the
    multi-hot relations each node takes part in), encoded by a
    :class:`~pyg_proda.nn.SpatioTemporalEncoder` into :math:`F_o`, then
    parsed twice by the same stack of :class:`~pyg_proda.nn.VGPNNConv`
    layers: once guided by the specified-action prompt (SAP) and once by the
    unspecified-action prompt (UAP), each prompt module applied before every
    layer and the normalisation after it. Readouts give :math:`a_s` and
    :math:`a_u` over :math:`C + 1` classes (the last is "no action"). A gate
    :math:`\delta = \sigma(\mathrm{Net}_2([F_u, F_s]))` fuses the branches,
    :math:`F = \delta F_u + (1 - \delta) F_s`, which gives :math:`a_t`
    and the reconstruction :math:`F_r = \mathrm{Net}_1(F)` of :math:`F_o`.
    :math:`a_m` reads :math:`F_o` directly.

    Args:
        in_channels (int): Node feature size ``F``.
        num_classes (int): Number of action classes ``C``.
        edge_dim (int): Width of the homogeneous ``edge_attr``.
        hidden_channels (int): Hidden size. (default: :obj:`768`)
        heads (int): Attention heads. (default: :obj:`12`)
        num_encoder_layers (int): Encoder blocks. (default: :obj:`1`)
        num_layers (int): VGPNN layers. (default: :obj:`3`)
        num_temporal_layers (int): Temporal blocks in each VGPNN link step.
            (default: :obj:`2`)
        num_prompts (int): Candidate prompts of the DPM. (default: :obj:`10`)
        num_node_classes (int): Object vocabulary size for the class
            embedding. (default: :obj:`36`)
        max_frames (int): Maximum frames per video. (default: :obj:`16`)
        dropout (float): Dropout. (default: :obj:`0.1`)
        prompt (str): ``'dynamic'`` (DPM) or ``'simple'``.
            (default: :obj:`'dynamic'`)
        norm (str): ``'vgnorm'``, ``'layer'``, ``'batch'``, ``'graph'`` or
            ``'none'``. (default: :obj:`'vgnorm'`)
        attention_impl (str): Backend of the grouped attention,
            ``'sdpa'`` (groups padded to the batch's largest group, fused
            kernel) or ``'scatter'`` (all pairs, PyG softmax); both compute
            the same function. (default: :obj:`'sdpa'`)
        detach_probe (bool): Read :math:`a_m` from detached encoder
            features, so that it is a probe of :math:`F_o` that never
            shapes the encoder (the "a_m probe" variant). The default trains
            the encoder through :math:`a_m` as well, like the auxiliary
            heads on the trunk of the authors' code: the encoder then learns
            from the first step, not only through the branches.
            (default: :obj:`False`)
        residual (bool): Identity skip around every VGPNN layer,
            :math:`F \leftarrow \mathrm{Norm}(F + \mathrm{VGPNN}(
            \mathrm{Prompt}(F)))`, so that each branch starts from
            :math:`F_o` and training does not have to rediscover it through
            the layers. (default: :obj:`True`)
        relative_time (bool): Give the temporal attention of the encoder
            and of the VGPNN link step a learned bias per head and relative
            frame offset (:obj:`max_relative_position` = ``max_frames - 1``
            of :class:`~pyg_proda.nn.GroupedSelfAttention`). With absolute
            frame embeddings alone, "before/after" has to be learned from
            products of embeddings; the bias makes it one parameter per
            head and offset, and half the heads start looking back, half
            forward. :obj:`False` is the paper's formulation.
            (default: :obj:`True`)
        sync_norm (bool): Synchronise :class:`~pyg_proda.nn.VGNorm`'s
            training mean over the processes of a distributed run
            (:class:`~pyg_proda.training.ProDAModule` turns it on under
            DDP). (default: :obj:`False`)

    Example:
        >>> from pyg_proda.data import SSGLoader, unspecified_prompt
        >>> from pyg_proda.datasets import SyntheticSSG
        >>> ds = SyntheticSSG('/tmp/ssg', num_videos=8)
        >>> view = next(iter(SSGLoader(ds, batch_size=4)))
        >>> model = ProDA(view.x.size(1), ds.num_classes,
        ...               view.edge_attr.size(1), hidden_channels=32, heads=2)
        >>> sap = torch.zeros(4, ds.num_classes)
        >>> out = model(view, sap, unspecified_prompt(sap))
        >>> out.a_t.shape == (4, ds.num_classes)
        True
    """
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        edge_dim: int,
        hidden_channels: int = 768,
        heads: int = 12,
        num_encoder_layers: int = 1,
        num_layers: int = 3,
        num_temporal_layers: int = 2,
        num_prompts: int = 10,
        num_node_classes: int = 36,
        max_frames: int = 16,
        dropout: float = 0.1,
        prompt: str = 'dynamic',
        norm: str = 'vgnorm',
        attention_impl: str = 'sdpa',
        detach_probe: bool = False,
        residual: bool = True,
        relative_time: bool = True,
        sync_norm: bool = False,
    ):
        super().__init__()
        #: The constructor arguments, to rebuild the model from a checkpoint.
        self.config = {k: v for k, v in locals().items()
                       if k not in ('self', '__class__')}
        self.relative_time = relative_time
        self.attention_impl = attention_impl
        rel = max_frames - 1 if relative_time else 0
        self.detach_probe = detach_probe
        self.residual = residual
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.edge_dim = edge_dim
        self.hidden_channels = H = hidden_channels
        self.max_frames = max_frames
        self.prompt_type = prompt
        self.norm_type = norm

        # Trunk: features, box, object class and node type (design facts §3).
        self.lin_x = nn.Sequential(nn.Linear(in_channels, H), nn.GELU(),
                                   nn.Dropout(dropout), nn.Linear(H, H))
        self.lin_box = nn.Sequential(nn.Linear(4, H), nn.LayerNorm(H),
                                     nn.GELU())
        self.cls_emb = nn.Embedding(num_node_classes, H)
        self.type_emb = nn.Embedding(2, H)
        # Relations a node takes part in, as source and as destination.
        self.lin_rel = nn.Linear(2 * edge_dim, H)
        self.encoder = SpatioTemporalEncoder(H, heads=heads,
                                             num_layers=num_encoder_layers,
                                             dropout=dropout,
                                             max_frames=max_frames,
                                             attention_impl=attention_impl,
                                             max_relative_position=rel)

        if prompt == 'dynamic':
            self.prompt_s = DynamicPrompt(num_classes, H, num_prompts)
            self.prompt_u = DynamicPrompt(num_classes, H, num_prompts)
        elif prompt == 'simple':
            self.prompt_s = SimplePrompt(num_classes, H)
            self.prompt_u = SimplePrompt(num_classes, H)
        else:
            raise ValueError(f"Unknown prompt type '{prompt}' (expected "
                             f"'dynamic' or 'simple')")
        # One VGPNN stack shared by both branches.
        self.convs = nn.ModuleList([
            VGPNNConv(H, H, edge_dim, heads=heads,
                      num_temporal_layers=num_temporal_layers,
                      dropout=dropout, max_frames=max_frames,
                      attention_impl=attention_impl,
                      max_relative_position=rel)
            for _ in range(num_layers)
        ])
        self.norms = nn.ModuleList(
            [make_norm(norm, H, max_frames, sync=sync_norm)
             for _ in range(num_layers)])

        self.readout_s = SSGReadout(H, dropout, max_frames)
        self.readout_u = SSGReadout(H, dropout, max_frames)
        self.readout_t = SSGReadout(H, dropout, max_frames)
        self.readout_m = SSGReadout(H, dropout, max_frames)
        self.head_s = ClassifierHead(H, num_classes + 1, dropout)
        self.head_u = ClassifierHead(H, num_classes + 1, dropout)
        self.head_t = ClassifierHead(H, num_classes, dropout)
        self.head_m = ClassifierHead(H, num_classes, dropout)

        # Net2 (fusion gate) and Net1 (reconstruction), Eq. 6-7.
        self.gate = nn.Sequential(nn.Linear(2 * H, H), nn.GELU(),
                                  nn.Dropout(dropout), nn.Linear(H, H // 2),
                                  nn.LayerNorm(H // 2), nn.GELU(),
                                  nn.Linear(H // 2, 1))
        self.reconstruct = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(H, H), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(H, H), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(H, H), nn.LayerNorm(H), nn.GELU())

    def set_sync_norm(self, sync: bool) -> None:
        r"""Turns the cross-process statistics of the VGNorm layers on or
        off (see :obj:`sync_norm`)."""
        self.config['sync_norm'] = sync
        for norm in self.norms:
            if hasattr(norm, 'sync'):
                norm.sync = sync

    def classifier_heads(self) -> Dict[str, nn.Module]:
        r"""The modules that stage 2 re-initialises and trains."""
        return {'head_t': self.head_t, 'head_m': self.head_m}

    def encode(self, view: SSGView) -> Tensor:
        r"""Embeds and encodes the nodes of :obj:`view` into :math:`F_o`.

        Raises:
            ValueError: naming a video with more than :obj:`max_frames`
                frames (checked outside :func:`torch.compile`).
        """
        if not torch.compiler.is_compiling():
            check_max_frames(view, self.max_frames)
        N = view.x.size(0)
        src, dst = view.edge_index
        # [N, 2 * edge_dim]: multi-hot relations of each node's frame, split
        # by direction, so the encoder's temporal attention sees how a
        # track's relations evolve.
        rel = torch.cat([
            scatter(view.edge_attr, src, 0, N, 'sum'),
            scatter(view.edge_attr, dst, 0, N, 'sum'),
        ], dim=-1)
        h = (self.lin_x(view.x) + self.lin_box(view.box) +
             self.cls_emb(view.cls) + self.type_emb(view.node_type) +
             self.lin_rel(rel))
        groups = encoder_groups(view.batch, view.frame, view.track,
                                self.relative_time, self.attention_impl)
        return self.encoder(h, view.batch, view.frame, view.track, groups)

    def branch(self, f: Tensor, view: SSGView, spec: Tensor,
               prompt: nn.Module, groups, batch_size: int):
        r"""Runs the shared VGPNN stack guided by one prompt; returns the
        node features, the gates of every layer and the last layer's link
        states."""
        gates = []
        links = f.new_zeros(0, 2, f.size(-1))
        for conv, norm in zip(self.convs, self.norms):
            h, gate, links = conv(prompt(f, spec, view.batch),
                                  view.edge_index, view.edge_attr,
                                  view.edge_frame, None, groups=groups,
                                  return_links=True)
            f = norm(f + h if self.residual else h, view.batch, view.frame,
                     batch_size)
            gates.append(gate)
        return f, gates, links

    def forward(self, view: SSGView, sap: Tensor, uap: Tensor,
                video: Optional[Tensor] = None) -> ProDAOutput:
        r"""Args:
            view (SSGView): Homogeneous view of a batch of :math:`B` videos
                (:class:`~pyg_proda.data.SSGLoader`).
            sap (Tensor): ``[M, C]`` multi-hot specified-action prompts.
            uap (Tensor): ``[M, C]`` multi-hot unspecified-action prompts.
            video (Tensor, optional): The video of :obj:`view` that each
                prompt row belongs to ``[M]``. The encoder then runs once
                per video and the branches once per row, so that several
                specifications of one video share the encoder pass; every
                output refers to the rows (:attr:`ProDAOutput.view`).
                (default: :obj:`None`, one row per video, :math:`M = B`)

        Raises:
            ValueError: if the number of prompt rows does not match.
        """
        f_o = self.encode(view)
        if video is not None:
            view, node_map = select_videos(view, video)
            f_o = f_o.index_select(0, node_map)
        B = view.num_graphs
        if sap.size(0) != B or uap.size(0) != B:
            raise ValueError(f"ProDA: {B} videos (rows) but prompts of "
                             f"{sap.size(0)} and {uap.size(0)} rows")
        pair = view.edge_pair if 'edge_pair' in view else edge_pair_index(
            view.edge_index, view.edge_type, view.track)
        # Attention groups are built once and shared by every layer.
        groups = vgpnn_groups(
            pair, view.edge_frame if self.relative_time else None,
            self.attention_impl)
        f_s, gates_s, link_s = self.branch(f_o, view, sap, self.prompt_s,
                                           groups, B)
        f_u, _, link_u = self.branch(f_o, view, uap, self.prompt_u, groups,
                                     B)

        delta = torch.sigmoid(self.gate(torch.cat([f_u, f_s], dim=-1)))
        fused = delta * f_u + (1 - delta) * f_s  # [N, H]
        f_r = self.reconstruct(fused)

        weights = {}
        g_s, weights['s'], mask = self.readout_s(f_s, view.batch, view.frame, B)
        g_u, weights['u'], _ = self.readout_u(f_u, view.batch, view.frame, B)
        g_t, weights['t'], _ = self.readout_t(fused, view.batch, view.frame, B)
        # As a probe, a_m reads the encoder features without shaping them.
        f_m = f_o.detach() if self.detach_probe else f_o
        g_m, weights['m'], _ = self.readout_m(f_m, view.batch, view.frame, B)
        return ProDAOutput(
            a_s=self.head_s(g_s), a_u=self.head_u(g_u),
            a_t=self.head_t(g_t), a_m=self.head_m(g_m),
            frame_weights=weights, frame_mask=mask, f_o=f_o, f_s=f_s,
            f_u=f_u, f_r=f_r, g_s=g_s, g_u=g_u, fusion_gate=delta,
            edge_gates=gates_s, edge_states={'s': link_s, 'u': link_u},
            view=view)
