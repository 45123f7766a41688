r"""Specified-branch (:math:`\mathbf{a}_s`) mAP by number of ground-truth
labels, for plain and distractor-injected action specifications (Tables 6
and 7 of the ProDA paper)."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from pyg_proda.metrics.charades_map import average_precision, charades_map

GridKey = Tuple[str, int]
Grid = Dict[GridKey, Dict[str, float]]


def spec_grid_map(scores: Tensor, y_s: Tensor, num_labels: Tensor,
                  distractor: Tensor, per_subset: bool = True,
                  max_labels: Optional[int] = 16,
                  mode: str = 'default') -> Grid:
    r"""The :math:`\mathbf{a}_s` mAP on the per-label-count grid.

    Rows are action specifications (e.g. from
    :meth:`pyg_proda.data.ActionSpecSampler.enumerate`). For a row with
    :math:`n` ground-truth labels and :math:`i` specified ground-truth
    actions (:math:`i` = number of positives of :math:`\mathbf{y}_s`
    among the first :math:`C` columns), following evaluation.md §4:

    * with :obj:`per_subset=True` the rows of every
      (kind, :math:`n`, :math:`i`) subset, :math:`i = 1..n`, give one mAP
      (:func:`charades_map`, :obj:`C + 1` columns, classes without
      positives left out), and the entry for (kind, :math:`n`) is the mean
      and **population** standard deviation over :math:`i` of these
      numbers;
    * with :obj:`per_subset=False` all rows with :math:`i \geq 1` of
      (kind, :math:`n`) are pooled into one mAP (standard deviation 0).

    All-distractor rows (:math:`i = 0`, target "no action" only) would get
    a trivial AP of 1 among themselves. The authors score them by top-1
    accuracy (:math:`\arg\max` equals the "no action" index :math:`C`),
    which a model that always ranks "no action" first passes at 100 %.
    Here they are scored by the **"no action" AP**: over the
    distractor-injected rows of (:math:`n`), :math:`i = 0..n`, the AP of
    column :math:`C` with the :math:`i = 0` rows as positives, under the
    key :obj:`("no_action", n)`. It asks whether :math:`\mathbf{a}_s` says
    "no action" exactly when the prompt names nothing of the video; a model
    blind to the prompt scores about the share of positives,
    :math:`1 / (n + 1)`.

    Args:
        scores (torch.Tensor): :math:`\mathbf{a}_s` scores ``[M, C + 1]``.
        y_s (torch.Tensor): Specified targets ``[M, C + 1]``.
        num_labels (torch.Tensor): Ground-truth label count :math:`n` of
            each row's video ``[M]``.
        distractor (torch.Tensor): Whether the row's SAP is
            distractor-injected ``[M]`` (bool).
        per_subset (bool, optional): Mean and standard deviation over
            :math:`i` (see above). (default: :obj:`True`)
        max_labels (int, optional): Rows of videos with more labels are
            ignored (the authors use 16). (default: :obj:`16`)
        mode (str, optional): AP mode of :func:`charades_map`.
            (default: :obj:`"default"`)

    Returns:
        A dictionary mapping :obj:`("plain" | "distractor" |
        "no_action", n)` to :obj:`{"mean", "std", "num_subsets",
        "num_samples"}` (fractions).

    Example:
        >>> y_s = torch.tensor([[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]])
        >>> scores = torch.tensor([[.9, .1, .2], [.2, .8, .1], [.1, .2, .7]])
        >>> grid = spec_grid_map(scores, y_s, torch.tensor([1, 1, 1]),
        ...                      torch.tensor([False, False, True]))
        >>> grid[('plain', 1)]['mean'], ('no_action', 1) in grid
        (1.0, False)

    Raises:
        ValueError: On mismatching shapes.
    """
    if scores.dim() != 2 or scores.shape != y_s.shape:
        raise ValueError(f"spec_grid_map: expected scores and targets "
                         f"[M, C + 1] (got {tuple(scores.shape)} and "
                         f"{tuple(y_s.shape)})")
    m = scores.size(0)
    if num_labels.numel() != m or distractor.numel() != m:
        raise ValueError(f"spec_grid_map: 'num_labels' and 'distractor' "
                         f"must have {m} entries")
    num_classes = scores.size(1) - 1
    target = y_s > 0.5
    num_specified = target[:, :num_classes].sum(dim=1).cpu()
    num_labels = num_labels.long().cpu()
    distractor = distractor.bool().cpu()
    keep = torch.ones(m, dtype=torch.bool)
    if max_labels is not None:
        keep = num_labels <= max_labels

    grid: Grid = {}
    for n in sorted(set(num_labels[keep].tolist())):
        for kind, flag in (('plain', False), ('distractor', True)):
            rows = keep & (num_labels == n) & (distractor == flag)
            spec_rows = rows & (num_specified > 0)
            if bool(spec_rows.any()):
                if per_subset:
                    values = []
                    for i in sorted(set(num_specified[spec_rows].tolist())):
                        idx = (spec_rows & (num_specified == i)).nonzero()
                        idx = idx.view(-1).to(scores.device)
                        values.append(float(charades_map(
                            scores[idx], y_s[idx], mode)[0]))
                else:
                    idx = spec_rows.nonzero().view(-1).to(scores.device)
                    values = [float(charades_map(scores[idx], y_s[idx],
                                                 mode)[0])]
                vals = torch.tensor(values, dtype=torch.double)
                grid[(kind, n)] = {
                    'mean': float(vals.mean()),
                    'std': float(vals.std(correction=0)),
                    'num_subsets': len(values),
                    'num_samples': int(spec_rows.sum()),
                }
            empty = rows & (num_specified == 0)
            if flag and bool(empty.any()) and bool(spec_rows.any()):
                idx = rows.nonzero().view(-1).to(scores.device)
                ap = average_precision(
                    scores[idx, num_classes:],
                    empty[rows].view(-1, 1).to(scores.device).float(), mode)
                grid[('no_action', n)] = {
                    'mean': float(ap[0]),
                    'std': 0.0,
                    'num_subsets': 1,
                    'num_samples': int(idx.numel()),
                }
    return grid


def summarize_spec_grid(grid: Grid) -> Dict[str, Dict[str, float]]:
    r"""Summarises a :func:`spec_grid_map` result per kind: the mean, the
    minimum and the maximum over :math:`n` of the per-:math:`n` means.

    Example:
        >>> grid = {('plain', 1): {'mean': 1.0}, ('plain', 2): {'mean': .5}}
        >>> summarize_spec_grid(grid)['plain']
        {'mean': 0.75, 'min': 0.5, 'max': 1.0, 'num_counts': 2}
    """
    out: Dict[str, Dict[str, float]] = {}
    for kind in sorted({k for k, _ in grid}):
        means = [v['mean'] for (k, _), v in sorted(grid.items())
                 if k == kind]
        out[kind] = {
            'mean': sum(means) / len(means),
            'min': min(means),
            'max': max(means),
            'num_counts': len(means),
        }
    return out


def format_spec_grid(grid: Grid) -> str:
    r"""Formats a :func:`spec_grid_map` result as a text table in percent
    (rows :math:`n`, columns the kinds, cells ``mean ± std``).

    Example:
        >>> print(format_spec_grid({('plain', 1): {'mean': 1.0, 'std': 0.}}))
          n  plain
          1  100.00 ± 0.00
    """
    kinds = [k for k in ('plain', 'distractor', 'no_action')
             if any(key[0] == k for key in grid)]
    counts = sorted({n for _, n in grid})
    lines = ['  n  ' + ''.join(f'{k:<18}' for k in kinds).rstrip()]
    for n in counts:
        cells = []
        for k in kinds:
            v = grid.get((k, n))
            cell = '-' if v is None else \
                f"{100 * v['mean']:.2f} ± {100 * v['std']:.2f}"
            cells.append(f'{cell:<18}')
        lines.append(f'{n:>3}  ' + ''.join(cells).rstrip())
    return '\n'.join(lines)
