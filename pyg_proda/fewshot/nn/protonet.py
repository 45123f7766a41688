r"""Prototypical networks (Snell et al., NeurIPS 2017) on mean-pooled
frame features: the order-blind baseline."""
from typing import Optional

from torch import Tensor
from torch.nn import Linear, Module

from pyg_proda.fewshot.nn.episode import as_episodes, class_means, num_ways


class ProtoNet(Module):
    r"""Mean-pooled prototypes: frames are embedded one by one, averaged
    over time, and a query is scored by its negative squared Euclidean
    distance to each class's mean embedding,

    .. math::
        \mathbf{h}_v = \frac{1}{T}\sum_t \mathbf{W}\mathbf{x}_{v,t}, \qquad
        \mathbf{p}_c = \frac{1}{K}\sum_{s : y_s = c}\mathbf{h}_s, \qquad
        \mathrm{logit}_{q,c} = -\lVert \mathbf{h}_q - \mathbf{p}_c
        \rVert_2^2 / \tau

    The representation is invariant to any permutation of the frames, so
    two classes that differ only in temporal order have the same expected
    prototype.

    Args:
        channels (int): Feature size :math:`D`.
        project (bool, optional): Learn :math:`\mathbf{W}` (otherwise the
            identity). (default: :obj:`True`)
        temperature (float, optional): :math:`\tau`. (default: :obj:`1.0`)

    Example:
        >>> head = ProtoNet(16)
        >>> support, query = torch.randn(10, 8, 16), torch.randn(5, 8, 16)
        >>> logits = head(support, torch.arange(5).repeat_interleave(2), query)
        >>> logits.shape
        torch.Size([5, 5])
        >>> bool(torch.allclose(head(support, torch.arange(5).repeat_interleave(2),
        ...                          query.flip(1)), logits, atol=1e-5))
        True
    """
    def __init__(self, channels: int, project: bool = True,
                 temperature: float = 1.0):
        super().__init__()
        self.channels = channels
        self.project = project
        self.temperature = temperature
        self.lin = Linear(channels, channels) if project else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        if self.lin is not None:
            self.lin.reset_parameters()

    def embed(self, x: Tensor) -> Tensor:
        r"""Mean-pooled embedding ``[..., D]`` of videos ``[..., T, D]``."""
        if self.lin is not None:
            x = self.lin(x)
        return x.mean(-2)

    def forward(self, support: Tensor, support_labels: Tensor, query: Tensor,
                class_text: Optional[Tensor] = None,
                num_classes: Optional[int] = None) -> Tensor:
        r"""Computes the logits ``[E, Q, N]`` (``[Q, N]`` for one episode);
        :obj:`class_text` is ignored."""
        support, query, labels, squeezed = as_episodes(support, query,
                                                       support_labels)
        N = num_ways(labels, num_classes if class_text is None
                     else class_text.size(-2))
        protos = class_means(self.embed(support), labels, N)  # [E, N, D]
        h = self.embed(query)  # [E, Q, D]
        diff = h.unsqueeze(2) - protos.unsqueeze(1)  # [E, Q, N, D]
        logits = -diff.square().sum(-1) / self.temperature
        return logits.squeeze(0) if squeezed else logits

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'project={self.project})')
