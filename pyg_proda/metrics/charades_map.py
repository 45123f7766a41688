r"""Charades video-level mean average precision (mAP)."""
from typing import Any, Optional, Tuple

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

MODES = ('default', 'official')


def _check(scores: Tensor, labels: Tensor, name: str):
    if scores.dim() != 2 or scores.shape != labels.shape:
        raise ValueError(f"{name}: expected scores and labels of the same "
                         f"shape [N, C] (got {tuple(scores.shape)} and "
                         f"{tuple(labels.shape)})")
    if bool(torch.isnan(scores).any()):
        row = int(torch.isnan(scores).any(dim=1).nonzero()[0, 0])
        raise ValueError(f"{name}: scores of row {row} contain NaN")


def average_precision(scores: Tensor, labels: Tensor,
                      mode: str = 'default') -> Tensor:
    r"""Per-class (column-wise) non-interpolated average precision.

    Both modes sort the :math:`N` rows of every column by descending score
    and average the precision over the positives,
    :math:`\mathrm{AP}_c = \frac{1}{P_c} \sum_{k \text{ positive}}
    \mathrm{prec}(k)`. They differ only on tied scores:

    * :obj:`"default"`: a group of tied scores is one threshold, so every
      positive of the group gets the precision after the **whole** group
      (scikit-learn, torchmetrics and mmaction2 behave this way; the
      result does not depend on the row order);
    * :obj:`"official"`: a stable sort keeps tied rows in their input order
      and each positive gets the precision at its own rank (the official
      MATLAB script).

    For scores :math:`(0.9, 0.5, 0.5, 0.1)` and labels :math:`(0, 1, 0, 1)`
    the official rule gives :math:`0.5` and the tie-group rule
    :math:`0.4167`. A column without positives gets NaN in both modes.

    Args:
        scores (torch.Tensor): Scores ``[N, C]`` (any real values,
            :math:`-\infty` allowed).
        labels (torch.Tensor): Binary labels ``[N, C]``.
        mode (str, optional): :obj:`"default"` or :obj:`"official"`.
            (default: :obj:`"default"`)

    Returns:
        The AP of every class ``[C]`` as a fraction.

    Example:
        >>> scores = torch.tensor([[0.9], [0.5], [0.5], [0.1]])
        >>> labels = torch.tensor([[0], [1], [0], [1]])
        >>> average_precision(scores, labels, 'official')
        tensor([0.5000])

    Raises:
        ValueError: On an unknown mode, mismatching shapes or NaN scores.
    """
    if mode not in MODES:
        raise ValueError(f"'mode' must be one of {MODES} (got '{mode}')")
    _check(scores, labels, 'average_precision')
    scores = scores.double()
    labels = labels > 0.5
    n = scores.size(0)
    order = torch.sort(scores, dim=0, descending=True, stable=True).indices
    sorted_scores = scores.gather(0, order)  # [N, C]
    pos = labels.gather(0, order).double()
    tp = pos.cumsum(dim=0)
    rank = torch.arange(1, n + 1, device=scores.device,
                        dtype=torch.double).view(-1, 1)
    if mode == 'default':
        # Index of the last row of each row's tie group (reverse cummin of
        # the group ends), so the whole group shares one precision.
        is_end = torch.ones_like(pos, dtype=torch.bool)
        is_end[:-1] = sorted_scores[1:] != sorted_scores[:-1]
        idx = torch.arange(n, device=scores.device).view(-1, 1)
        end = torch.where(is_end, idx, n).flip(0).cummin(dim=0).values.flip(0)
        prec = tp.gather(0, end) / (end + 1).double()
    else:
        prec = tp / rank
    num_pos = pos.sum(dim=0)
    ap = (prec * pos).sum(dim=0) / num_pos  # 0 / 0 = NaN without positives
    return ap.to(torch.get_default_dtype())


def charades_map(scores: Tensor, labels: Tensor, mode: str = 'default',
                 skip_labelless: bool = True) -> Tuple[Tensor, Tensor]:
    r"""Charades video-level mAP.

    The mAP is the unweighted mean over classes of the per-class
    :func:`average_precision`.

    * :obj:`mode="default"` (the library's documented default): tie groups
      share one precision, classes without positives are NaN in the
      per-class output and **left out** of the mean (like the ProDA
      authors' :obj:`nanmean` and scikit-learn based ports).
    * :obj:`mode="official"`: the official :obj:`Charades_v1_classify.m`
      rules, stable rank order and a plain mean, so a class without
      positives makes the mAP NaN.

    In both modes rows without any positive label (Charades videos with an
    empty :obj:`actions` field) get the score :math:`-\infty` for every
    class when :obj:`skip_labelless=True`, as the official script does:
    they then rank last and never change an AP.

    Results are fractions in :math:`[0, 1]`; multiply by 100 for the
    paper's percentages.

    Args:
        scores (torch.Tensor): Scores ``[N, C]`` (probabilities or logits).
        labels (torch.Tensor): Binary labels ``[N, C]``.
        mode (str, optional): :obj:`"default"` or :obj:`"official"`.
            (default: :obj:`"default"`)
        skip_labelless (bool, optional): Score label-less rows
            :math:`-\infty`. (default: :obj:`True`)

    Returns:
        ``(mAP, per_class_ap)``: a scalar tensor and the ``[C]`` APs.

    Example:
        >>> scores = torch.tensor([[0.9, 0.2], [0.4, 0.8], [0.3, 0.1]])
        >>> labels = torch.tensor([[1, 0], [0, 1], [1, 0]])
        >>> mAP, ap = charades_map(scores, labels)
        >>> round(float(mAP), 4), ap.tolist()
        (0.9167, [0.8333333134651184, 1.0])

    Raises:
        ValueError: On an unknown mode, mismatching shapes or NaN scores.
    """
    _check(scores, labels, 'charades_map')
    if skip_labelless:
        empty = ~(labels > 0.5).any(dim=1, keepdim=True)
        scores = scores.masked_fill(empty, float('-inf'))
    ap = average_precision(scores, labels, mode)
    if mode == 'official':
        return ap.mean(), ap
    return ap.nanmean(), ap


def charades_wap(scores: Tensor, labels: Tensor,
                 mode: str = 'default') -> Tensor:
    r"""The weighted mAP printed by the official script,
    :math:`\sum_c P_c \mathrm{AP}_c / \sum_c P_c` (:math:`P_c` = number of
    positives of class :math:`c`). Arguments as :func:`charades_map`.

    Example:
        >>> scores = torch.tensor([[0.9, 0.2], [0.4, 0.8], [0.3, 0.1]])
        >>> labels = torch.tensor([[1, 0], [0, 1], [1, 0]])
        >>> round(float(charades_wap(scores, labels)), 4)
        0.8889
    """
    _, ap = charades_map(scores, labels, mode)
    num_pos = (labels > 0.5).sum(dim=0).to(ap.dtype)
    keep = num_pos > 0
    return (ap[keep] * num_pos[keep]).sum() / num_pos[keep].sum()


class CharadesMAP(Metric):
    r"""Accumulating :class:`torchmetrics.Metric` wrapper of
    :func:`charades_map`, for use in Lightning loops. :meth:`compute`
    returns the mAP (fraction).

    Under data-parallel evaluation a distributed sampler pads the last
    batches with repeated videos; pass every row's video :obj:`index` to
    :meth:`update` and each video enters the mAP exactly once (its first
    row after the processes' rows are gathered).

    Args:
        mode (str, optional): :obj:`"default"` or :obj:`"official"`.
            (default: :obj:`"default"`)
        skip_labelless (bool, optional): See :func:`charades_map`.
            (default: :obj:`True`)
        **kwargs (optional): Passed to :class:`torchmetrics.Metric`.

    Example:
        >>> metric = CharadesMAP()
        >>> metric.update(torch.tensor([[0.9, 0.2]]), torch.tensor([[1, 0]]))
        >>> metric.update(torch.tensor([[0.4, 0.8]]), torch.tensor([[0, 1]]))
        >>> float(metric.compute())
        1.0

    Raises:
        ValueError: if some updates pass :obj:`index` and others do not.
    """
    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, mode: str = 'default', skip_labelless: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"'mode' must be one of {MODES} (got '{mode}')")
        self.mode = mode
        self.skip_labelless = skip_labelless
        self.add_state('scores', default=[], dist_reduce_fx='cat')
        self.add_state('labels', default=[], dist_reduce_fx='cat')
        self.add_state('index', default=[], dist_reduce_fx='cat')

    def update(self, scores: Tensor, labels: Tensor,
               index: Optional[Tensor] = None) -> None:
        r"""Adds rows ``[n, C]``; :obj:`index` ``[n]`` names their videos."""
        _check(scores, labels, 'CharadesMAP')
        if len(self.scores) and (index is None) == bool(len(self.index)):
            raise ValueError('CharadesMAP: pass `index` to every update or '
                             'to none')
        self.scores.append(scores.detach())
        self.labels.append(labels.detach())
        if index is not None:
            self.index.append(index.detach().view(-1).long())

    def compute(self) -> Tensor:
        scores = dim_zero_cat(self.scores)
        labels = dim_zero_cat(self.labels)
        if isinstance(self.index, Tensor) or len(self.index):
            # Keep the first row of every video.
            index = dim_zero_cat(self.index)
            uniq, inverse = torch.unique(index, return_inverse=True)
            rows = torch.arange(index.numel(), device=index.device)
            first = torch.full_like(uniq, index.numel()).scatter_reduce(
                0, inverse, rows, reduce='amin')
            scores, labels = scores[first], labels[first]
        return charades_map(scores, labels, self.mode,
                            self.skip_labelless)[0]
