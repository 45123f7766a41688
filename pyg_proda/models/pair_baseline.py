r"""A non-temporal candidate-pair baseline: every candidate scored from its
own keyframe only."""
import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from pyg_proda.data.homogeneous import SSGView
from pyg_proda.utils import frame_group


class PairBaseline(nn.Module):
    r"""Scores every candidate pair :math:`(i \to j)` of a keyframe from
    that keyframe alone: no frame order, no track, no other keyframe.

    Nodes are embedded from the inputs ProDA sees (features and box);
    :obj:`num_layers` rounds of message passing run over the candidate
    edges, which join persons of the same keyframe only, so each person
    learns about the others in its keyframe; a keyframe context vector is
    the mean and max of its persons. Each candidate is then scored from its
    ordered endpoints, its relation features and the context:

    .. math::
        \mathbf{h}_i &\leftarrow \mathrm{LN}\Big(\mathbf{h}_i +
        \frac{1}{|\mathcal{N}(i)|} \sum_{j \in \mathcal{N}(i)}
        \mathrm{MLP}([\mathbf{h}_i \Vert \mathbf{h}_j \Vert
        \mathbf{r}_{ji}])\Big) \\
        \mathbf{a}_{ij} &= \mathrm{MLP}([\mathbf{h}_i \Vert \mathbf{h}_j
        \Vert \mathbf{r}_{ij} \Vert \mathbf{c}_{t}])

    with :math:`\mathcal{N}(i)` the persons with a candidate to :math:`i`.
    Two keyframes with the same persons and boxes receive the same scores
    whatever the rest of the video, so two interactions that differ only
    in temporal order are indistinguishable to it: the non-temporal
    reference of ``benchmarks/sportshhi.py``.

    Args:
        in_channels (int): Node feature size.
        num_classes (int): Interaction classes :math:`C`.
        edge_dim (int): Width of the homogeneous ``edge_attr``.
        hidden_channels (int): Hidden size. (default: :obj:`128`)
        num_layers (int): Rounds of in-keyframe message passing.
            (default: :obj:`1`)
        dropout (float): Dropout. (default: :obj:`0.1`)
        prior_logit (float): Initial bias of the classifier.
            (default: :obj:`-4.0`)

    Shapes:
        - **input:** an :class:`~pyg_proda.data.SSGView`
        - **output:** ``[E, C]``

    Example:
        >>> import torch
        >>> from pyg_proda.data import SSGLoader
        >>> from pyg_proda.datasets import SyntheticHHI
        >>> ds = SyntheticHHI('/tmp/hhi', split='val', num_videos=4)
        >>> view = next(iter(SSGLoader(ds, batch_size=2)))
        >>> model = PairBaseline(view.x.size(1), ds.num_classes,
        ...                      view.edge_attr.size(1), hidden_channels=16)
        >>> model(view).shape == view.edge_target.shape
        True
    """
    def __init__(self, in_channels: int, num_classes: int, edge_dim: int,
                 hidden_channels: int = 128, num_layers: int = 1,
                 dropout: float = 0.1, prior_logit: float = -4.0):
        super().__init__()
        #: The constructor arguments, to rebuild the model from a checkpoint.
        self.config = {k: v for k, v in locals().items()
                       if k not in ('self', '__class__')}
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.edge_dim = edge_dim
        self.hidden_channels = H = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.prior_logit = prior_logit
        self.node = nn.Sequential(nn.Linear(in_channels + 4, H), nn.GELU(),
                                  nn.Linear(H, H))
        self.messages = nn.ModuleList([
            nn.Sequential(nn.Linear(2 * H + edge_dim, H), nn.GELU(),
                          nn.Linear(H, H)) for _ in range(num_layers)
        ])
        self.norms = nn.ModuleList([nn.LayerNorm(H)
                                    for _ in range(num_layers)])
        self.pair = nn.Sequential(nn.Linear(4 * H + edge_dim, 2 * H),
                                  nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(2 * H, H), nn.GELU(),
                                  nn.Linear(H, num_classes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for m in self.modules():
            if m is not self and isinstance(m, (nn.Linear, nn.LayerNorm)):
                m.reset_parameters()
        nn.init.constant_(self.pair[-1].bias, self.prior_logit)

    def forward(self, view: SSGView) -> Tensor:
        r"""Args:
            view (SSGView): Homogeneous view whose edges are the candidate
                pairs (each joins two persons of one keyframe).
        """
        N = view.x.size(0)
        src, dst = view.edge_index
        h = self.node(torch.cat([view.x, view.box], dim=-1))  # [N, H]
        for mlp, norm in zip(self.messages, self.norms):
            # The message of every candidate to its second person.
            m = mlp(torch.cat([h[dst], h[src], view.edge_attr], dim=-1))
            h = norm(h + scatter(m, dst, 0, N, 'mean'))
        # Keyframe context: mean and max over the persons of the keyframe.
        group = frame_group(view.batch, view.frame)
        G = int(group.max()) + 1 if group.numel() else 0
        ctx = torch.cat([scatter(h, group, 0, G, 'mean'),
                         scatter(h, group, 0, G, 'max')], dim=-1)[group[src]]
        return self.pair(torch.cat([h[src], h[dst], view.edge_attr, ctx],
                                   dim=-1))  # [E, C]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'num_classes={self.num_classes}, '
                f'hidden_channels={self.hidden_channels}, '
                f'num_layers={self.num_layers})')

