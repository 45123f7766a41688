r"""The action-disentangle (AD) loss of ProDA (Eq. 5-8 of the paper) and the
combined training objective."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import scatter

#: Every term :class:`ProDALoss` knows; the paper's Eq. 8 are all but
#: ``cls_m`` (the :math:`a_m` classifier on the encoder features).
TERMS = ('cls_s', 'cls_u', 'cls_t', 'cls_m', 'dis', 'rec')
PAPER_TERMS = ('cls_s', 'cls_u', 'cls_t', 'dis', 'rec')


def _per_video(x: Tensor, batch: Optional[Tensor],
               batch_size: Optional[int]) -> Tuple[Tensor, int, Tensor]:
    # Graph-level features [B, D] are one "node" per video.
    if batch is None:
        batch = torch.arange(x.size(0), device=x.device)
    if batch.numel() != x.size(0):
        raise ValueError(f"'batch' has {batch.numel()} entries for "
                         f"{x.size(0)} feature rows")
    if batch_size is None:
        batch_size = int(batch.max()) + 1 if batch.numel() > 0 else 0
    return batch, batch_size, scatter(
        torch.ones_like(batch, dtype=x.dtype), batch, dim=0,
        dim_size=batch_size, reduce='sum')


def _check_pair(a: Tensor, b: Tensor, name: str):
    if a.shape != b.shape:
        raise ValueError(f"{name}: feature shapes differ "
                         f"({tuple(a.shape)} vs {tuple(b.shape)})")
    if a.dim() != 2:
        raise ValueError(f"{name}: expected features [N, D] "
                         f"(got {tuple(a.shape)})")


def video_correlation(f_u: Tensor, f_s: Tensor,
                      batch: Optional[Tensor] = None,
                      batch_size: Optional[int] = None,
                      eps: float = 1e-8) -> Tuple[Tensor, Tensor]:
    r"""Pearson correlation :math:`\rho_b` of the two branches' features of
    every video, flattened over its nodes and channels (the statistic of
    :func:`decorrelation_loss`).

    Returns:
        (Tensor, Tensor): :math:`\rho` ``[B]`` and the number of elements
        of every video ``[B]`` (0 for videos without nodes).
    """
    _check_pair(f_u, f_s, 'decorrelation_loss')
    batch, batch_size, nodes = _per_video(f_u, batch, batch_size)
    count = nodes * f_u.size(1)  # elements per video [B]
    denom = count.clamp(min=1)

    mean_u = scatter(f_u.sum(dim=1), batch, 0, batch_size, 'sum') / denom
    mean_s = scatter(f_s.sum(dim=1), batch, 0, batch_size, 'sum') / denom
    x_u = f_u - mean_u[batch].unsqueeze(-1)  # [N, D]
    x_s = f_s - mean_s[batch].unsqueeze(-1)
    cov = scatter((x_u * x_s).sum(dim=1), batch, 0, batch_size, 'sum')
    var_u = scatter(x_u.pow(2).sum(dim=1), batch, 0, batch_size, 'sum')
    var_s = scatter(x_s.pow(2).sum(dim=1), batch, 0, batch_size, 'sum')
    # The 1/n normalisations cancel in the ratio; clamping before the square
    # root keeps the gradient finite for constant features.
    rho = cov / (var_u * var_s).clamp(min=eps * eps).sqrt()  # [B]
    return rho, count


def video_mse(f_o: Tensor, f_r: Tensor, batch: Optional[Tensor] = None,
              batch_size: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    r"""Mean squared error of every video over its nodes and channels (the
    statistic of :func:`reconstruction_loss`).

    Returns:
        (Tensor, Tensor): the MSE ``[B]`` and the number of elements of
        every video ``[B]``.
    """
    _check_pair(f_o, f_r, 'reconstruction_loss')
    batch, batch_size, nodes = _per_video(f_o, batch, batch_size)
    count = nodes * f_o.size(1)
    sq = scatter((f_o - f_r).pow(2).sum(dim=1), batch, 0, batch_size, 'sum')
    return sq / count.clamp(min=1), count


def decorrelation_loss(f_u: Tensor, f_s: Tensor,
                       batch: Optional[Tensor] = None, margin: float = 0.0,
                       batch_size: Optional[int] = None,
                       eps: float = 1e-8) -> Tensor:
    r"""The decorrelation term of the AD loss (Eq. 5 of the paper).

    For every video :math:`b`, the Pearson correlation of the unspecified
    and specified features, flattened over the video's nodes and channels,
    is pushed below the margin :math:`m_1`:

    .. math::
        \mathcal{L}_{dis} = \frac{1}{B} \sum_{b=1}^{B}
        \mathrm{ReLU}\left( \frac{|\mathrm{Cov}(\mathbf{F}_u^{(b)},
        \mathbf{F}_s^{(b)})|}{\sqrt{\mathrm{Var}(\mathbf{F}_u^{(b)})}
        \sqrt{\mathrm{Var}(\mathbf{F}_s^{(b)})}} - m_1 \right)

    with identity :math:`\phi, \psi`. Unlike the authors' code (per-sample
    centring but a batch-global standard deviation), both the covariance
    and the variances are per video, as in the paper. Videos without nodes
    are left out of the mean.

    Args:
        f_u (torch.Tensor): Unspecified-branch features ``[N, D]`` (node
            level) or ``[B, D]`` (graph level, with :obj:`batch=None`).
        f_s (torch.Tensor): Specified-branch features, same shape.
        batch (torch.Tensor, optional): Video index of every row ``[N]``.
            (default: :obj:`None`, one video per row)
        margin (float, optional): The margin :math:`m_1`.
            (default: :obj:`0.0`)
        batch_size (int, optional): Number of videos :math:`B`.
            (default: :obj:`None`)
        eps (float, optional): Lower bound of the product of the standard
            deviations, for constant features. (default: :obj:`1e-8`)

    Example:
        >>> f_u, f_s = torch.randn(6, 4), torch.randn(6, 4)
        >>> batch = torch.tensor([0, 0, 0, 1, 1, 1])
        >>> decorrelation_loss(f_u, f_s, batch, margin=0.2).dim()
        0

    Raises:
        ValueError: If the feature shapes differ or :obj:`batch` does not
            match them.
    """
    rho, count = video_correlation(f_u, f_s, batch, batch_size, eps)
    return _mean_over_present(F.relu(rho.abs() - margin), count)


def reconstruction_loss(f_o: Tensor, f_r: Tensor,
                        batch: Optional[Tensor] = None, margin: float = 0.0,
                        batch_size: Optional[int] = None) -> Tensor:
    r"""The reconstruction term of the AD loss (Eq. 6-7 of the paper).

    .. math::
        \mathcal{L}_{rec} = \frac{1}{B} \sum_{b=1}^{B}
        \mathrm{ReLU}\left( \mathrm{MSE}(\mathbf{F}_o^{(b)},
        \mathbf{F}_r^{(b)}) - m_2 \right)

    where :math:`\mathrm{MSE}` is the **mean** of the squared error over
    the elements (nodes :math:`\times` channels) of video :math:`b`, so the
    margin does not depend on the graph size (the paper writes
    :math:`\|\mathbf{F}_o - \mathbf{F}_r\|^2`). The authors' code takes one
    MSE over the whole batch instead; both agree when all videos have the
    same size and no margin is active. Videos without nodes are left out
    of the mean.

    Args:
        f_o (torch.Tensor): Original (pre-prompt) features ``[N, D]`` or
            ``[B, D]``.
        f_r (torch.Tensor): Reconstructed features, same shape.
        batch (torch.Tensor, optional): Video index of every row ``[N]``.
            (default: :obj:`None`, one video per row)
        margin (float, optional): The margin :math:`m_2`.
            (default: :obj:`0.0`)
        batch_size (int, optional): Number of videos :math:`B`.
            (default: :obj:`None`)

    Example:
        >>> f_o = torch.zeros(3, 2)
        >>> float(reconstruction_loss(f_o, f_o + 1.0, margin=0.25))
        0.75

    Raises:
        ValueError: If the feature shapes differ or :obj:`batch` does not
            match them.
    """
    mse, count = video_mse(f_o, f_r, batch, batch_size)
    return _mean_over_present(F.relu(mse - margin), count)


def _mean_over_present(loss: Tensor, count: Tensor) -> Tensor:
    present = count > 0
    if not bool(present.any()):
        return loss.sum() * 0.0  # keeps the graph for empty batches
    return loss[present].mean()


class MarginSchedule:
    r"""The margin of an AD loss term as a function of the epoch.

    In :obj:`"linear"` mode it follows the authors' Charades schedule,

    .. math::
        m(e) = m_{start} - \frac{e}{E} (m_{start} - m_{end}),

    with the epoch :math:`e` counted from 1 and clamped to :math:`[0, E]`,
    so it decays linearly from (almost) :obj:`start` to :obj:`end` at the
    last epoch. In :obj:`"fixed"` mode the margin is :obj:`start` for every
    epoch (the SportsHHI release uses fixed 0.4 and 0.3). With
    :obj:`enabled=False` the margin is 0 (the "without margin" ablation).

    Args:
        start (float, optional): Margin at epoch 0. (default: :obj:`0.7`)
        end (float, optional): Margin at the last epoch.
            (default: :obj:`0.2`)
        total_epochs (int, optional): Number of epochs :math:`E`.
            (default: :obj:`20`)
        mode (str, optional): :obj:`"linear"` or :obj:`"fixed"`.
            (default: :obj:`"linear"`)
        enabled (bool, optional): If :obj:`False`, the margin is 0.
            (default: :obj:`True`)

    Example:
        >>> schedule = MarginSchedule(0.7, 0.2, total_epochs=5)
        >>> [round(schedule(e), 2) for e in range(1, 6)]
        [0.6, 0.5, 0.4, 0.3, 0.2]

    Raises:
        ValueError: On an unknown mode or a non-positive number of epochs.
    """
    def __init__(self, start: float = 0.7, end: float = 0.2,
                 total_epochs: int = 20, mode: str = 'linear',
                 enabled: bool = True):
        if mode not in ('linear', 'fixed'):
            raise ValueError(f"'mode' must be 'linear' or 'fixed' "
                             f"(got '{mode}')")
        if total_epochs < 1:
            raise ValueError(f"'total_epochs' must be positive "
                             f"(got {total_epochs})")
        self.start = start
        self.end = end
        self.total_epochs = total_epochs
        self.mode = mode
        self.enabled = enabled

    def __call__(self, epoch: int) -> float:
        if not self.enabled:
            return 0.0
        if self.mode == 'fixed':
            return float(self.start)
        e = min(max(epoch, 0), self.total_epochs)
        return float(self.start - (e / self.total_epochs) *
                     (self.start - self.end))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(start={self.start}, '
                f'end={self.end}, total_epochs={self.total_epochs}, '
                f"mode='{self.mode}', enabled={self.enabled})")


Margin = Union[float, MarginSchedule]


class ProDALoss(torch.nn.Module):
    r"""The ProDA training objective (Eq. 8 of the paper), plus the
    optional :math:`a_m` classification term.

    .. math::
        \mathcal{L} = \lambda_s \mathcal{L}_{cls}(\mathbf{a}_s,
        \mathbf{y}_s) + \lambda_u \mathcal{L}_{cls}(\mathbf{a}_u,
        \mathbf{y}_u) + \lambda_t \mathcal{L}_{cls}(\mathbf{a}_t,
        \mathbf{y}) + \lambda_{dis} \mathcal{L}_{dis} +
        \lambda_{rec} \mathcal{L}_{rec}
        \; \big[+ \lambda_m \mathcal{L}_{cls}(\mathbf{a}_m, \mathbf{y})\big]

    where :math:`\mathcal{L}_{cls}` is the binary cross-entropy with logits
    (mean over elements), :math:`\mathbf{a}_s, \mathbf{a}_u` have
    :math:`C + 1` outputs (the last one is "no action") and
    :math:`\mathbf{a}_t, \mathbf{a}_m` have :math:`C`. The two AD terms are
    :func:`decorrelation_loss` and :func:`reconstruction_loss`. Every term
    can be switched off through :obj:`terms`. The authors' adaptive weight
    of the private (unspecified) term and their auxiliary relation/object
    losses are not part of this module.

    After every call, :attr:`stats` holds detached statistics of the AD
    terms, to tell whether their margins leave them active: ``dis_rho``
    (mean :math:`|\rho_b|` over the videos), ``dis_active`` (share of the
    videos with :math:`|\rho_b| > m_1`, i.e. a non-zero gradient),
    ``dis_margin``, and likewise ``rec_mse``, ``rec_active``,
    ``rec_margin``.

    Args:
        lambda_s (float, optional): Weight of the specified-branch
            classification. (default: :obj:`1.0`)
        lambda_u (float, optional): Weight of the unspecified-branch
            classification. (default: :obj:`1.0`)
        lambda_t (float, optional): Weight of the fused classification.
            (default: :obj:`1.0`)
        lambda_dis (float, optional): Weight of the decorrelation term.
            (default: :obj:`1.0`)
        lambda_rec (float, optional): Weight of the reconstruction term.
            (default: :obj:`1.0`)
        margin_dis (float or MarginSchedule, optional): The margin
            :math:`m_1`. (default: :obj:`MarginSchedule()`)
        margin_rec (float or MarginSchedule, optional): The margin
            :math:`m_2`. (default: :obj:`MarginSchedule()`)
        terms (Sequence[str], optional): The terms to compute, any of
            :data:`TERMS`. (default: the paper's five, :data:`PAPER_TERMS`)
        lambda_m (float, optional): Weight of the :math:`a_m` term.
            (default: :obj:`1.0`)

    Example:
        >>> loss_fn = ProDALoss(terms=('cls_s', 'cls_u', 'cls_t', 'dis'),
        ...                     margin_dis=0.2)
        >>> out = loss_fn(a_s=torch.randn(2, 4), y_s=torch.ones(2, 4),
        ...               a_u=torch.randn(2, 4), y_u=torch.zeros(2, 4),
        ...               a_t=torch.randn(2, 3), y=torch.ones(2, 3),
        ...               f_s=torch.randn(2, 8), f_u=torch.randn(2, 8))
        >>> sorted(out)
        ['cls_s', 'cls_t', 'cls_u', 'dis', 'loss']
        >>> sorted(loss_fn.stats)
        ['dis_active', 'dis_margin', 'dis_rho']

    Raises:
        ValueError: On an unknown term, or (in :meth:`forward`) when an
            input needed by an active term is missing.
    """
    def __init__(self, lambda_s: float = 1.0, lambda_u: float = 1.0,
                 lambda_t: float = 1.0, lambda_dis: float = 1.0,
                 lambda_rec: float = 1.0, margin_dis: Optional[Margin] = None,
                 margin_rec: Optional[Margin] = None,
                 terms: Sequence[str] = PAPER_TERMS,
                 lambda_m: float = 1.0):
        super().__init__()
        for term in terms:
            if term not in TERMS:
                raise ValueError(f"Unknown loss term '{term}' (expected any "
                                 f"of {TERMS})")
        if len(terms) == 0:
            raise ValueError('ProDALoss: no active loss term')
        self.terms = tuple(terms)
        self.weights = {
            'cls_s': lambda_s,
            'cls_u': lambda_u,
            'cls_t': lambda_t,
            'cls_m': lambda_m,
            'dis': lambda_dis,
            'rec': lambda_rec,
        }
        self.margin_dis = MarginSchedule() if margin_dis is None \
            else margin_dis
        self.margin_rec = MarginSchedule() if margin_rec is None \
            else margin_rec
        self.stats: Dict[str, Tensor] = {}

    @staticmethod
    def _margin(margin: Margin, epoch: Optional[int]) -> float:
        if isinstance(margin, MarginSchedule):
            if epoch is None and margin.enabled and margin.mode == 'linear':
                raise ValueError("ProDALoss: 'epoch' is required by a "
                                 "linear margin schedule")
            return margin(epoch if epoch is not None else 0)
        return float(margin)

    def _hinge(self, name: str, value: Tensor, count: Tensor,
               margin: float) -> Tensor:
        # Mean hinge over the videos with nodes, and its statistics.
        present = count > 0
        value = value.abs() if name == 'dis' else value
        key = 'rho' if name == 'dis' else 'mse'
        with torch.no_grad():
            v = value[present]
            self.stats[f'{name}_{key}'] = v.mean() if v.numel() else \
                value.new_zeros(())
            self.stats[f'{name}_active'] = (v > margin).float().mean() \
                if v.numel() else value.new_zeros(())
            self.stats[f'{name}_margin'] = value.new_tensor(margin)
        return _mean_over_present(F.relu(value - margin), count)

    def forward(
        self,
        a_s: Optional[Tensor] = None,
        y_s: Optional[Tensor] = None,
        a_u: Optional[Tensor] = None,
        y_u: Optional[Tensor] = None,
        a_t: Optional[Tensor] = None,
        y: Optional[Tensor] = None,
        f_s: Optional[Tensor] = None,
        f_u: Optional[Tensor] = None,
        f_o: Optional[Tensor] = None,
        f_r: Optional[Tensor] = None,
        batch: Optional[Tensor] = None,
        batch_size: Optional[int] = None,
        epoch: Optional[int] = None,
        a_m: Optional[Tensor] = None,
    ) -> Dict[str, Tensor]:
        r"""Computes the active terms.

        Args:
            a_s, a_u (torch.Tensor, optional): Specified / unspecified
                logits ``[B, C + 1]``.
            y_s, y_u (torch.Tensor, optional): Their targets
                ``[B, C + 1]``.
            a_t (torch.Tensor, optional): Fused logits ``[B, C]``.
            y (torch.Tensor, optional): Video labels ``[B, C]``, the target
                of :obj:`a_t` and :obj:`a_m`.
            f_s, f_u (torch.Tensor, optional): Specified / unspecified
                features ``[N, D]`` for :obj:`"dis"`.
            f_o, f_r (torch.Tensor, optional): Original and reconstructed
                features ``[N, D]`` for :obj:`"rec"`.
            batch (torch.Tensor, optional): Video index of the feature rows
                ``[N]`` (:obj:`None` for graph-level features).
            batch_size (int, optional): Number of videos.
            epoch (int, optional): Current epoch (from 1), for margin
                schedules.
            a_m (torch.Tensor, optional): Logits of the classifier on the
                encoder features ``[B, C]``.

        Returns:
            A dictionary with the unweighted value of every active term
            and the weighted sum under :obj:`"loss"`.
        """
        inputs = {
            'cls_s': (a_s, y_s),
            'cls_u': (a_u, y_u),
            'cls_t': (a_t, y),
            'cls_m': (a_m, y),
            'dis': (f_u, f_s),
            'rec': (f_o, f_r),
        }
        out: Dict[str, Tensor] = {}
        self.stats = {}
        for term in self.terms:
            first, second = inputs[term]
            if first is None or second is None:
                raise ValueError(f"ProDALoss: term '{term}' is active but "
                                 f"its inputs are missing")
            if term == 'dis':
                margin = self._margin(self.margin_dis, epoch)
                rho, count = video_correlation(first, second, batch,
                                               batch_size)
                out[term] = self._hinge('dis', rho, count, margin)
            elif term == 'rec':
                margin = self._margin(self.margin_rec, epoch)
                mse, count = video_mse(first, second, batch, batch_size)
                out[term] = self._hinge('rec', mse, count, margin)
            else:
                out[term] = F.binary_cross_entropy_with_logits(
                    first, second.to(first.dtype))
        out['loss'] = sum(self.weights[k] * v for k, v in out.items())
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(terms={self.terms}, '
                f'weights={self.weights}, margin_dis={self.margin_dis}, '
                f'margin_rec={self.margin_rec})')
