r"""Prompt modules: the Dynamic Prompt Module of ProDA (Eq. 1-2) and a
plain additive prompt baseline."""
from typing import Tuple, Union

import torch
from torch import Tensor
from torch.nn import Identity, LayerNorm, Linear, Module


class DynamicPrompt(Module):
    r"""The Dynamic Prompt Module (DPM) of ProDA (Eq. 1-2).

    From the multi-hot specification :math:`\mathbf{t}` of a graph, one
    linear map produces :math:`K` candidate prompts
    :math:`\mathbf{q}_k(\mathbf{t}) \in \mathbb{R}^C`; every node mixes them
    with its own sigmoid weights:

    .. math::
        \mathbf{w}_i &= \sigma\big(\mathbf{W}_a(\mathbf{W}_p \mathbf{t} +
        \mathbf{b}_p + \mathbf{x}_i) + \mathbf{b}_a\big) \in (0, 1)^K \\
        \mathbf{x}'_i &= \mathbf{x}_i + \sum_{k=1}^{K} w_{ik} \,
        \mathbf{q}_k(\mathbf{t})

    The weights are sigmoids, not a softmax, as in the authors' code.

    Args:
        spec_dim (int): Size of the specification (number of classes).
        channels (int): Node feature size :math:`C`.
        num_prompts (int, optional): Number :math:`K` of candidate prompts.
            (default: :obj:`10`)
        norm (bool, optional): If :obj:`True`, apply a LayerNorm to
            :math:`\mathbf{W}_p \mathbf{t} + \mathbf{b}_p + \mathbf{x}_i`
            before :math:`\mathbf{W}_a` (the authors' SportsHHI variant).
            (default: :obj:`False`)

    Example:
        >>> dpm = DynamicPrompt(spec_dim=5, channels=8, num_prompts=3)
        >>> x = torch.randn(4, 8)
        >>> spec = torch.tensor([[1., 0., 1., 0., 0.], [0., 1., 0., 0., 0.]])
        >>> batch = torch.tensor([0, 0, 1, 1])
        >>> out, w = dpm(x, spec, batch, return_weights=True)
        >>> out.shape, w.shape
        (torch.Size([4, 8]), torch.Size([4, 3]))
    """
    def __init__(self, spec_dim: int, channels: int, num_prompts: int = 10,
                 norm: bool = False):
        super().__init__()
        self.spec_dim = spec_dim
        self.channels = channels
        self.num_prompts = num_prompts
        self.lin_prompts = Linear(spec_dim, num_prompts * channels)
        self.lin_spec = Linear(spec_dim, channels)  # W_p, b_p
        self.lin_weight = Linear(channels, num_prompts)  # W_a, b_a
        self.norm = LayerNorm(channels) if norm else Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.lin_prompts.reset_parameters()
        self.lin_spec.reset_parameters()
        self.lin_weight.reset_parameters()
        if isinstance(self.norm, LayerNorm):
            self.norm.reset_parameters()

    def forward(
        self,
        x: Tensor,
        spec: Tensor,
        batch: Tensor,
        return_weights: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Adds the prompt to every node.

        Args:
            x (Tensor): Node features ``[N, C]``.
            spec (Tensor): One specification per graph ``[B, spec_dim]``.
            batch (Tensor): Graph of each node ``[N]``.
            return_weights (bool, optional): Also return the weights
                ``[N, K]``. (default: :obj:`False`)
        """
        K, C = self.num_prompts, self.channels
        spec = spec.to(x.dtype)
        prompts = self.lin_prompts(spec).view(-1, K, C)  # [B, K, C]
        h = self.norm(self.lin_spec(spec).index_select(0, batch) + x)
        weight = torch.sigmoid(self.lin_weight(h))  # [N, K]
        prompt = torch.bmm(weight.unsqueeze(1),
                           prompts.index_select(0, batch)).squeeze(1)
        out = x + prompt
        if return_weights:
            return out, weight
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.spec_dim}, '
                f'{self.channels}, num_prompts={self.num_prompts})')


class SimplePrompt(Module):
    r"""A static additive prompt: :math:`\mathbf{x}'_i = \mathbf{x}_i +
    \mathbf{W} \mathbf{t} + \mathbf{b}` with the specification
    :math:`\mathbf{t}` of the node's graph (the "no DPM" ablation).

    Args:
        spec_dim (int): Size of the specification.
        channels (int): Node feature size.

    Example:
        >>> prompt = SimplePrompt(spec_dim=5, channels=8)
        >>> out = prompt(torch.randn(3, 8), torch.rand(1, 5),
        ...              torch.zeros(3, dtype=torch.long))
        >>> out.shape
        torch.Size([3, 8])
    """
    def __init__(self, spec_dim: int, channels: int):
        super().__init__()
        self.spec_dim = spec_dim
        self.channels = channels
        self.lin = Linear(spec_dim, channels)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.lin.reset_parameters()

    def forward(self, x: Tensor, spec: Tensor, batch: Tensor) -> Tensor:
        r"""Adds the prompt of each node's graph to ``x`` ``[N, C]``
        (``spec`` ``[B, spec_dim]``, ``batch`` ``[N]``)."""
        return x + self.lin(spec.to(x.dtype)).index_select(0, batch)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.spec_dim}, {self.channels})'
