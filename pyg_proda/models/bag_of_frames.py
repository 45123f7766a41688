r"""A non-temporal baseline: a bag of frames over the same scene graphs."""
import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from pyg_proda.utils import frame_group


class BagOfFrames(nn.Module):
    r"""Classifies a video from an orderless bag of its frames.

    Every node is embedded from the same inputs ProDA sees (features, box,
    object class, node type); every relation from its two endpoints and its
    relation multi-hot. Nodes and relations are pooled per frame (mean and
    max), an MLP scores each frame, and frames are pooled by mean and max.
    Frame order is never used, so two videos that are time reversals of
    each other receive the same scores. This is the baseline
    ``benchmarks/charades.py`` compares ProDA against.

    Args:
        in_channels (int): Node feature size.
        num_classes (int): Number of action classes.
        edge_dim (int): Width of the homogeneous ``edge_attr``.
        hidden_channels (int): Hidden size. (default: :obj:`128`)
        num_node_classes (int): Object vocabulary size. (default: :obj:`36`)
        dropout (float): Dropout. (default: :obj:`0.1`)
        max_frames (int): Frames per video. (default: :obj:`16`)

    Example:
        >>> model = BagOfFrames(41, 10, 26, hidden_channels=16)
    """
    def __init__(self, in_channels: int, num_classes: int, edge_dim: int,
                 hidden_channels: int = 128, num_node_classes: int = 36,
                 dropout: float = 0.1, max_frames: int = 16):
        super().__init__()
        #: The constructor arguments, to rebuild the model from a checkpoint.
        self.config = {k: v for k, v in locals().items()
                       if k not in ('self', '__class__')}
        self.max_frames = max_frames
        H = hidden_channels
        self.node = nn.Sequential(nn.Linear(in_channels + 4, H), nn.GELU(),
                                  nn.Linear(H, H))
        self.cls_emb = nn.Embedding(num_node_classes, H)
        self.type_emb = nn.Embedding(2, H)
        self.edge = nn.Sequential(nn.Linear(2 * H + edge_dim, H), nn.GELU(),
                                  nn.Linear(H, H))
        self.frame = nn.Sequential(nn.Linear(4 * H, 2 * H), nn.GELU(),
                                   nn.Dropout(dropout), nn.Linear(2 * H, H),
                                   nn.GELU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * H, H),
                                  nn.GELU(), nn.Linear(H, num_classes))
        # Same low prior as ProDA's classifiers.
        nn.init.constant_(self.head[-1].bias, -2.0)

    def forward(self, view: Data) -> Tensor:
        r"""Class logits ``[B, C]`` of the videos of :obj:`view` (an
        :class:`~pyg_proda.data.SSGView`)."""
        max_frames = self.max_frames
        B = view.num_frames.numel()
        h = self.node(torch.cat([view.x, view.box], dim=-1))
        h = h + self.cls_emb(view.cls) + self.type_emb(view.node_type)
        src, dst = view.edge_index
        e = self.edge(torch.cat([h[src], h[dst], view.edge_attr], dim=-1))
        node_group = frame_group(view.batch, view.frame, max_frames)
        edge_group = frame_group(view.batch[src], view.edge_frame, max_frames)
        G = B * max_frames
        f = torch.cat([
            scatter(h, node_group, 0, G, 'mean'),
            scatter(h, node_group, 0, G, 'max'),
            scatter(e, edge_group, 0, G, 'mean'),
            scatter(e, edge_group, 0, G, 'max'),
        ], dim=-1)
        present = scatter(torch.ones_like(view.frame), node_group, 0, G,
                          'sum') > 0  # [B * T]
        z = self.frame(f)  # [B * T, H]
        frame_batch = torch.arange(B, device=z.device).repeat_interleave(
            max_frames)
        z, frame_batch = z[present], frame_batch[present]
        g = torch.cat([scatter(z, frame_batch, 0, B, 'mean'),
                       scatter(z, frame_batch, 0, B, 'max')], dim=-1)
        return self.head(g)
