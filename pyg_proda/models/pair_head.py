r"""The candidate-pair head of ProDA for SportsHHI interaction
classification: per-pair logits from the last VGPNN layer's link states."""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter


class PairHead(nn.Module):
    r"""Scores every candidate edge :math:`(i \to j)` of a keyframe from
    what ProDA's last :class:`~pyg_proda.nn.VGPNNConv` layer computed for
    it.

    For a branch :math:`b` (``'s'``: specified-action prompt, ``'u'``:
    unspecified), :math:`\mathbf{F}^{b}_{e,\to}` and
    :math:`\mathbf{F}^{b}_{e,\leftarrow}` are the link states of edge
    :math:`e` in its two message directions (to :math:`j` from input
    :math:`[\mathbf{x}_j \Vert \mathbf{x}_i \Vert \mathbf{r}_{ij}]`, to
    :math:`i` from :math:`[\mathbf{x}_i \Vert \mathbf{x}_j \Vert
    \mathbf{r}_{ij}]`), each already the output of the temporal attention
    over the keyframes of the edge pair :math:`(i \to j)` in that
    direction. The head concatenates, in this order (which keeps the pair's
    direction), the link states of every branch, optionally their mean over
    the pair's keyframes :math:`\bar{\mathbf{F}}^{b}_{p(e)}` (the pair's
    whole temporal context), the endpoint node states
    :math:`\mathbf{h}_i, \mathbf{h}_j` and, optionally, per-candidate
    input features :math:`\mathbf{u}_e` (e.g. the endpoints' input features
    and the pair's relation features, a skip past the encoder):

    .. math::
        \mathbf{z}_e &= \big\Vert_{b} \big[\mathbf{F}^{b}_{e,\to} \Vert
        \mathbf{F}^{b}_{e,\leftarrow} \Vert
        \bar{\mathbf{F}}^{b}_{p(e),\to} \Vert
        \bar{\mathbf{F}}^{b}_{p(e),\leftarrow}\big] \Vert \mathbf{h}_i
        \Vert \mathbf{h}_j \Vert \mathbf{u}_e \\
        \mathbf{a}_e &= \mathbf{W}_2\, \mathrm{GELU}(\mathbf{W}_1\,
        \mathrm{Dropout}(\mathrm{GELU}(\mathrm{LN}(\mathbf{W}_0
        \mathbf{z}_e)))) + \mathbf{b}_2 \in \mathbb{R}^C

    The logits :math:`\mathbf{a}_e` are multi-label (one sigmoid per
    class). The last bias starts at :obj:`prior_logit`: nearly every
    (candidate, class) is negative.

    Args:
        hidden_channels (int): Size :math:`H` of the link and node states.
        num_classes (int): Interaction classes :math:`C`.
        branches (Sequence[str], optional): The branches whose link states
            are read. (default: :obj:`('s', 'u')`)
        pair_context (bool, optional): Add the per-pair means
            :math:`\bar{\mathbf{F}}`. (default: :obj:`True`)
        input_channels (int, optional): Size of the per-candidate input
            features :math:`\mathbf{u}_e` (0: none). (default: :obj:`0`)
        dropout (float, optional): Dropout. (default: :obj:`0.1`)
        prior_logit (float, optional): Initial bias of the classifier.
            (default: :obj:`-4.0`)

    Shapes:
        - **input:** link states ``{b: [E, 2, H]}``, node states
          ``[N, H]``, ``edge_index`` ``[2, E]``, ``edge_pair`` ``[E]``,
          optionally ``pair_inputs`` ``[E, input_channels]``
        - **output:** ``[E, C]``

    Example:
        >>> head = PairHead(8, num_classes=3)
        >>> links = {'s': torch.randn(4, 2, 8), 'u': torch.randn(4, 2, 8)}
        >>> h = torch.randn(3, 8)
        >>> edge_index = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]])
        >>> head(links, h, edge_index, torch.tensor([0, 1, 0, 1])).shape
        torch.Size([4, 3])
    """
    def __init__(self, hidden_channels: int, num_classes: int,
                 branches: Sequence[str] = ('s', 'u'),
                 pair_context: bool = True, input_channels: int = 0,
                 dropout: float = 0.1, prior_logit: float = -4.0):
        super().__init__()
        if len(branches) == 0:
            raise ValueError("PairHead: 'branches' must name at least one "
                             "branch")
        self.hidden_channels = H = hidden_channels
        self.num_classes = num_classes
        self.branches = tuple(branches)
        self.pair_context = pair_context
        self.input_channels = input_channels
        self.dropout = dropout
        self.prior_logit = prior_logit
        per_branch = (4 if pair_context else 2) * H
        self.in_channels = (len(self.branches) * per_branch + 2 * H +
                            input_channels)
        self.lin_in = nn.Linear(self.in_channels, H)
        self.norm = nn.LayerNorm(H)
        self.lin_hidden = nn.Linear(H, H)
        self.lin_out = nn.Linear(H, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for lin in (self.lin_in, self.lin_hidden, self.lin_out):
            lin.reset_parameters()
        self.norm.reset_parameters()
        nn.init.constant_(self.lin_out.bias, self.prior_logit)

    def forward(self, edge_states: Dict[str, Tensor], node_states: Tensor,
                edge_index: Tensor, edge_pair: Optional[Tensor] = None,
                pair_inputs: Optional[Tensor] = None) -> Tensor:
        r"""Args:
            edge_states (dict): Branch name -> link states ``[E, 2, H]``
                (:attr:`ProDAOutput.edge_states`).
            node_states (Tensor): Node states ``[N, H]`` (e.g. the fused
                ProDA features).
            edge_index (Tensor): The candidate edges ``[2, E]``.
            edge_pair (Tensor, optional): Edge pair of every edge ``[E]``,
                needed with :obj:`pair_context`. (default: :obj:`None`)
            pair_inputs (Tensor, optional): Per-candidate input features
                ``[E, input_channels]``, needed when
                :obj:`input_channels > 0`. (default: :obj:`None`)

        Raises:
            ValueError: if a branch is missing, a shape does not match, or
                :obj:`edge_pair` (:obj:`pair_inputs`) is missing with
                :obj:`pair_context` (:obj:`input_channels`).
        """
        E = edge_index.size(1)
        parts = []
        if self.pair_context:
            if edge_pair is None:
                raise ValueError("PairHead: 'edge_pair' is needed with "
                                 "pair_context=True")
            num_pairs = int(edge_pair.max()) + 1 if E else 0
        for b in self.branches:
            if b not in edge_states:
                raise ValueError(f"PairHead: no link states for branch "
                                 f"'{b}' (got {sorted(edge_states)})")
            links = edge_states[b]
            if links.dim() != 3 or links.size(0) != E or links.size(1) != 2:
                raise ValueError(f"PairHead: link states of branch '{b}' "
                                 f"must be [{E}, 2, H], got "
                                 f"{tuple(links.shape)}")
            links = links.reshape(E, -1)  # [E, 2H]: to dst, to src
            parts.append(links)
            if self.pair_context:
                mean = scatter(links, edge_pair, 0, num_pairs, 'mean')
                parts.append(mean.index_select(0, edge_pair))  # [E, 2H]
        src, dst = edge_index
        parts += [node_states.index_select(0, src),
                  node_states.index_select(0, dst)]
        if self.input_channels > 0:
            if pair_inputs is None or tuple(pair_inputs.shape) != (
                    E, self.input_channels):
                raise ValueError(
                    f"PairHead: expected 'pair_inputs' of shape "
                    f"[{E}, {self.input_channels}], got "
                    f"{None if pair_inputs is None else tuple(pair_inputs.shape)}")
            parts.append(pair_inputs)
        z = torch.cat(parts, dim=-1)  # [E, in_channels]
        h = torch.nn.functional.gelu(self.norm(self.lin_in(z)))
        h = torch.nn.functional.dropout(h, self.dropout, self.training)
        h = torch.nn.functional.gelu(self.lin_hidden(h))
        return self.lin_out(h)  # [E, C]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.hidden_channels}, '
                f'num_classes={self.num_classes}, branches={self.branches}, '
                f'pair_context={self.pair_context}, '
                f'input_channels={self.input_channels})')
