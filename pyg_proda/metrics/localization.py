r"""ProDA's temporal localisation protocol from the readout's frame weights
(evaluation.md §3)."""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.utils import scatter

THRESHOLDS = (0.2, 0.5, 0.7)


def normalize_frame_weights(frame_weights: Tensor,
                            frame_mask: Optional[Tensor] = None,
                            eps: float = 1e-5) -> Tensor:
    r"""Normalises frame weights as :math:`\hat{w}_f = w_f^2 /
    (\max_g w_g^2 + \epsilon)`, the maximum taken over the valid frames of
    each sample. Invalid frames get 0.

    Args:
        frame_weights (torch.Tensor): Frame weights ``[M, T]``.
        frame_mask (torch.Tensor, optional): Valid frames ``[M, T]``
            (bool). (default: :obj:`None`, all valid)
        eps (float, optional): The :math:`\epsilon`. (default: :obj:`1e-5`)

    Example:
        >>> normalize_frame_weights(torch.tensor([[0.5, 1.0, 0.0]]))
        tensor([[0.2500, 1.0000, 0.0000]])
    """
    w2 = frame_weights.pow(2)
    if frame_mask is not None:
        w2 = w2.masked_fill(~frame_mask, 0.0)
    return w2 / (w2.max(dim=1, keepdim=True).values + eps)


def localization_grid(frame_weights: Tensor, gt: Tensor, cls: Tensor,
                      num_classes: int, frame_mask: Optional[Tensor] = None,
                      thetas: Sequence[float] = THRESHOLDS,
                      taus: Sequence[float] = THRESHOLDS,
                      average: str = 'all', eps: float = 1e-5) -> Tensor:
    r"""Localisation precision grid over mask thresholds :math:`\theta` and
    IoU thresholds :math:`\tau`.

    Every sample prompts one ground-truth action :math:`c` of a video and
    carries the specified branch's frame weights :math:`w_f`:

    1. :math:`\hat{w}` from :func:`normalize_frame_weights`; predicted mask
       :math:`m_f = [\hat{w}_f \geq \theta]`;
    2. temporal IoU :math:`|m \wedge g| / |m \vee g|` with the ground-truth
       frames :math:`g` of :math:`c` (over the valid frames);
    3. the sample is a true positive if :math:`\mathrm{IoU} > \tau`
       (strict), otherwise a false positive;
    4. per class, precision :math:`= TP_c / (TP_c + FP_c)`; the result is
       the mean over classes.

    Samples without a positive (valid) ground-truth frame are skipped. With
    :obj:`average="all"` (the authors' protocol) the mean runs over all
    :obj:`num_classes` classes and a class without samples counts as 0;
    :obj:`average="present"` averages only over classes with samples.

    Args:
        frame_weights (torch.Tensor): Frame weights ``[M, T]`` (sigmoid
            outputs of the readout).
        gt (torch.Tensor): Ground-truth frames of the prompted class
            ``[M, T]`` (bool).
        cls (torch.Tensor): Prompted class of every sample ``[M]``.
        num_classes (int): Number of classes.
        frame_mask (torch.Tensor, optional): Valid frames ``[M, T]``
            (bool). (default: :obj:`None`, all valid)
        thetas (Sequence[float], optional): Mask thresholds
            :math:`\theta`. (default: :obj:`(0.2, 0.5, 0.7)`)
        taus (Sequence[float], optional): IoU thresholds :math:`\tau`.
            (default: :obj:`(0.2, 0.5, 0.7)`)
        average (str, optional): :obj:`"all"` or :obj:`"present"`.
            (default: :obj:`"all"`)
        eps (float, optional): :math:`\epsilon` of the normalisation.
            (default: :obj:`1e-5`)

    Returns:
        The precision grid ``[len(thetas), len(taus)]`` (fractions).

    Example:
        >>> w = torch.tensor([[0.1, 0.9, 1.0, 0.2]])
        >>> gt = torch.tensor([[False, True, True, False]])
        >>> localization_grid(w, gt, torch.tensor([0]), num_classes=1,
        ...                   thetas=[0.5], taus=[0.5])
        tensor([[1.]])

    Raises:
        ValueError: On mismatching shapes, class ids out of range or an
            unknown :obj:`average`.
    """
    if average not in ('all', 'present'):
        raise ValueError(f"'average' must be 'all' or 'present' "
                         f"(got '{average}')")
    if frame_weights.dim() != 2 or gt.shape != frame_weights.shape:
        raise ValueError(f"localization_grid: expected frame weights and "
                         f"ground truth [M, T] (got "
                         f"{tuple(frame_weights.shape)} and "
                         f"{tuple(gt.shape)})")
    if frame_mask is not None and frame_mask.shape != gt.shape:
        raise ValueError(f"localization_grid: 'frame_mask' must be "
                         f"{tuple(gt.shape)} (got {tuple(frame_mask.shape)})")
    cls = cls.view(-1).long()
    if cls.numel() != gt.size(0):
        raise ValueError(f"localization_grid: 'cls' must have {gt.size(0)} "
                         f"entries (got {cls.numel()})")
    if cls.numel() > 0 and (int(cls.min()) < 0
                            or int(cls.max()) >= num_classes):
        raise ValueError(f"localization_grid: class ids must lie in "
                         f"[0, {num_classes})")

    device = frame_weights.device
    gt = gt.bool()
    if frame_mask is not None:
        gt = gt & frame_mask
    keep = gt.any(dim=1)  # skip samples without positive frames
    w_hat = normalize_frame_weights(frame_weights, frame_mask, eps)[keep]
    gt, cls = gt[keep], cls[keep]

    theta = torch.tensor(list(thetas), device=device, dtype=w_hat.dtype)
    tau = torch.tensor(list(taus), device=device, dtype=w_hat.dtype)
    mask = w_hat.unsqueeze(1) >= theta.view(1, -1, 1)  # [M, Θ, T]
    if frame_mask is not None:
        mask = mask & frame_mask[keep].unsqueeze(1)
    g = gt.unsqueeze(1)
    inter = (mask & g).sum(dim=-1).to(w_hat.dtype)
    union = (mask | g).sum(dim=-1).to(w_hat.dtype)  # >= 1 (g non-empty)
    iou = inter / union  # [M, Θ]
    tp = (iou.unsqueeze(-1) > tau.view(1, 1, -1)).to(w_hat.dtype)

    tp_c = scatter(tp, cls, dim=0, dim_size=num_classes, reduce='sum')
    n_c = scatter(torch.ones_like(cls, dtype=w_hat.dtype), cls, dim=0,
                  dim_size=num_classes, reduce='sum')  # [C]
    prec = tp_c / n_c.clamp(min=1).view(-1, 1, 1)  # [C, Θ, Τ]
    if average == 'present':
        present = n_c > 0
        if not bool(present.any()):
            return prec.new_zeros(len(thetas), len(taus))
        return prec[present].mean(dim=0)
    return prec.mean(dim=0)


def localization_summary(grid: Tensor, thetas: Sequence[float] = THRESHOLDS,
                         taus: Sequence[float] = THRESHOLDS
                         ) -> Dict[str, float]:
    r"""Flattens a :func:`localization_grid` result in the authors' print
    order: every cell, then the mean over :math:`\tau` per :math:`\theta`
    and the mean over :math:`\theta` per :math:`\tau` (fractions).

    Example:
        >>> out = localization_summary(torch.tensor([[1.0, 0.5]]), [0.2],
        ...                            [0.2, 0.5])
        >>> out['theta=0.2'], out['tau=0.5']
        (0.75, 0.5)
    """
    out: Dict[str, float] = {}
    for i, theta in enumerate(thetas):
        for j, tau in enumerate(taus):
            out[f'theta={theta},tau={tau}'] = float(grid[i, j])
    for i, theta in enumerate(thetas):
        out[f'theta={theta}'] = float(grid[i].mean())
    for j, tau in enumerate(taus):
        out[f'tau={tau}'] = float(grid[:, j].mean())
    return out
