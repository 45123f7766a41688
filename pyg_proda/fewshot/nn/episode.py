r"""Shape helpers shared by the few-shot heads: every head takes a batch of
``E`` episodes with the same label layout, supports ``[E, S, T, D]``, their
relative labels ``[S]`` (or ``[E, S]``) and queries ``[E, Q, T, D]``; a
single episode (``[S, T, D]``, ``[Q, T, D]``) is accepted too."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def as_episodes(support: Tensor, query: Tensor,
                support_labels: Tensor) -> Tuple[Tensor, Tensor, Tensor, bool]:
    r"""Adds the episode dimension to a single episode and checks shapes.

    Args:
        support (Tensor): ``[E, S, T, D]`` or ``[S, T, D]``.
        query (Tensor): ``[E, Q, T, D]`` or ``[Q, T, D]``.
        support_labels (Tensor): ``[S]`` or ``[E, S]`` (long, ``0..N-1``).

    Returns:
        ``(support, query, labels, squeezed)``: 4-D supports and queries,
        labels ``[E, S]`` and whether the episode dimension was added.

    Raises:
        ValueError: if the shapes disagree.

    Example:
        >>> s, q, y, sq = as_episodes(torch.randn(2, 8, 4), torch.randn(3, 8, 4),
        ...                           torch.tensor([0, 1]))
        >>> s.shape, q.shape, y.shape, sq
        (torch.Size([1, 2, 8, 4]), torch.Size([1, 3, 8, 4]), torch.Size([1, 2]), True)
    """
    squeezed = support.dim() == 3
    if squeezed:
        support, query = support.unsqueeze(0), query.unsqueeze(0)
    if support.dim() != 4 or query.dim() != 4:
        raise ValueError(f"Expected supports [E, S, T, D] and queries "
                         f"[E, Q, T, D], got {tuple(support.shape)} and "
                         f"{tuple(query.shape)}")
    if support.size(0) != query.size(0) or support.size(-1) != query.size(-1):
        raise ValueError(f"Supports {tuple(support.shape)} and queries "
                         f"{tuple(query.shape)} disagree in episodes or "
                         f"channels")
    if support_labels.dim() == 1:
        support_labels = support_labels.unsqueeze(0).expand(support.size(0),
                                                            -1)
    if support_labels.shape != support.shape[:2]:
        raise ValueError(f"Support labels {tuple(support_labels.shape)} do "
                         f"not match supports {tuple(support.shape)}")
    return support, query, support_labels, squeezed


def num_ways(support_labels: Tensor, num_classes: Optional[int]) -> int:
    r"""The number of classes ``N`` (one host synchronisation if not
    given)."""
    if num_classes is not None:
        return int(num_classes)
    return int(support_labels.max()) + 1


def class_means(x: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    r"""Per-class mean of the supports of every episode,

    .. math::
        \mathbf{p}_{e,c} = \frac{1}{|\{s : y_s = c\}|}
        \sum_{s : y_s = c} \mathbf{x}_{e,s}

    Args:
        x (Tensor): ``[E, S, *]``.
        labels (Tensor): ``[S]`` or ``[E, S]`` in ``0..num_classes-1``.
        num_classes (int): ``N``.

    Returns:
        Tensor: ``[E, N, *]``.

    Raises:
        ValueError: if a class has no support.

    Example:
        >>> x = torch.tensor([[[1.], [3.], [5.]]])
        >>> class_means(x, torch.tensor([0, 0, 1]), 2).flatten().tolist()
        [2.0, 5.0]
    """
    E, S = x.shape[:2]
    if labels.dim() == 1:
        labels = labels.unsqueeze(0).expand(E, -1)
    onehot = F.one_hot(labels, num_classes).to(x.dtype)  # [E, S, N]
    count = onehot.sum(1, keepdim=True)  # [E, 1, N]
    if bool((count == 0).any()):
        raise ValueError("Every class of an episode needs at least one "
                         "support")
    weight = onehot / count
    flat = x.reshape(E, S, -1)  # [E, S, R]
    out = torch.einsum('esn,esr->enr', weight, flat)
    return out.reshape(E, num_classes, *x.shape[2:])


def gather_class_text(class_text: Tensor, labels: Tensor) -> Tensor:
    r"""The class text feature of every support: ``class_text`` ``[E, N, D]``
    indexed by the labels ``[S]`` or ``[E, S]``, giving ``[E, S, D]``."""
    E = class_text.size(0)
    if labels.dim() == 1:
        labels = labels.unsqueeze(0).expand(E, -1)
    idx = labels.unsqueeze(-1).expand(-1, -1, class_text.size(-1))
    return class_text.gather(1, idx)
