r"""Episodic evaluation: mean episode accuracy with its 95 % confidence
interval (``evaluation.md`` §6), and the accuracy on order-only class
pairs."""
import math
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pyg_proda.fewshot.episodes import EpisodeBatch, EpisodeDataset
from pyg_proda.fewshot.sampler import EpisodeSampler


def mean_ci(values: Tensor) -> Tuple[float, float]:
    r"""Mean and 95 % half-width of per-episode values, in percent:

    .. math::
        \bar{a} = \frac{100}{E}\sum_e a_e, \qquad
        h = 1.96 \cdot \frac{100\,\mathrm{std}(a)}{\sqrt{E}}

    with the population standard deviation (TRX / CLIP-SPM).

    Example:
        >>> acc, ci = mean_ci(torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> acc, round(ci, 2)
        (75.0, 42.44)
    """
    values = values.double()
    if values.numel() == 0:
        return float('nan'), float('nan')
    std = values.std(unbiased=False) if values.numel() > 1 else \
        values.new_zeros(())
    return (float(values.mean()) * 100,
            1.96 * float(std) * 100 / math.sqrt(values.numel()))


def order_pair_stats(logits: Tensor, query_labels: Tensor, classes: Tensor,
                     partner: Tensor) -> Dict[str, Tensor]:
    r"""Per-episode statistics on *order-pair queries*: queries whose
    class's order-only partner (the same class reversed in time) is also
    one of the episode's ways.

    Args:
        logits (Tensor): ``[E, Q, N]``.
        query_labels (Tensor): ``[E, Q]``.
        classes (Tensor): Global ids of the ways ``[E, N]``.
        partner (Tensor): Global id of each class's partner ``[C]`` (-1:
            none).

    Returns:
        dict: ``count`` ``[E]`` order-pair queries per episode,
        ``correct`` ``[E]`` of them classified correctly (5-way), and
        ``pair_correct`` ``[E]`` of them scored above their partner class.
    """
    true_global = classes.gather(1, query_labels)  # [E, Q]
    mate = partner[true_global]  # [E, Q]
    # Way of the partner inside the episode (or -1).
    match = classes.unsqueeze(1) == mate.unsqueeze(-1)  # [E, Q, N]
    has = match.any(-1) & (mate >= 0)
    mate_way = match.float().argmax(-1)  # [E, Q]
    pred = logits.argmax(-1)
    true_logit = logits.gather(-1, query_labels.unsqueeze(-1)).squeeze(-1)
    mate_logit = logits.gather(-1, mate_way.unsqueeze(-1)).squeeze(-1)
    return {'count': has.sum(1),
            'correct': (has & (pred == query_labels)).sum(1),
            'pair_correct': (has & (true_logit > mate_logit)).sum(1)}


@torch.no_grad()
def evaluate_episodes(
    predict: Callable[[EpisodeBatch], Tensor],
    dataset,
    way: int = 5,
    shot: int = 1,
    query: int = 1,
    num_episodes: int = 10000,
    seed: int = 0,
    episodes_per_batch: int = 100,
    order_pairs: Optional[Sequence[Tuple[int, int]]] = None,
    text_features: Optional[Tensor] = None,
    collate=None,
    progress: bool = True,
    desc: str = 'test episodes',
) -> Dict[str, float]:
    r"""Evaluates a classifier on fixed, seeded test episodes.

    Args:
        predict (callable): Maps an :class:`EpisodeBatch` to logits
            ``[E, Q, N]`` (e.g. :meth:`FewShotModule.predict_logits`). It
            gets the batch with ``query_labels`` removed.
        dataset (FrameFeatureDataset): The test (or validation) split.
        way, shot, query (int): Episode shape. (default: 5, 1, 1)
        num_episodes (int): :math:`E`. (default: :obj:`10000`)
        seed (int): Seed of the episodes. (default: :obj:`0`)
        episodes_per_batch (int): Episodes per forward pass.
            (default: :obj:`100`)
        order_pairs (list, optional): ``(forward, reversed)`` class ids of
            the order-only pairs of the split. (default: :obj:`None`)
        text_features (Tensor, optional): Replaces the class text.
        collate (callable, optional): See :class:`EpisodeDataset`.
        progress (bool): Show a progress bar. (default: :obj:`True`)
        desc (str): Progress bar label.

    Returns:
        dict: ``acc`` and ``ci`` (percent), ``episodes``; with
        :obj:`order_pairs` also ``order_acc`` / ``order_ci`` (5-way
        accuracy on order-pair queries: mean over the episodes that have
        any, of the fraction of them classified correctly),
        ``order_pair_acc`` / ``order_pair_ci`` (the fraction of them whose
        true class scores above the reversed partner; chance is 50 %),
        ``order_episodes`` and ``order_queries``.
    """
    sampler = EpisodeSampler(dataset.labels, way, shot, query, num_episodes,
                             seed, num_classes=len(dataset.class_names),
                             class_names=dataset.class_names,
                             source=getattr(dataset, 'path', None))
    loader = EpisodeDataset(dataset, sampler, episodes_per_batch,
                            text_features, collate)
    partner = None
    if order_pairs:
        partner = torch.full((len(dataset.class_names), ), -1,
                             dtype=torch.long)
        for a, b in order_pairs:
            partner[a], partner[b] = b, a
    accs, counts, corrects, pair_corrects = [], [], [], []
    for b in tqdm(range(len(loader)), desc=desc, disable=not progress,
                  leave=False):
        batch = loader[b]
        labels = batch.query_labels
        batch.query_labels = None  # the classifier never sees them
        logits = predict(batch).float().cpu()
        accs.append((logits.argmax(-1) == labels).double().mean(1))
        if partner is not None:
            stats = order_pair_stats(logits, labels, batch.classes, partner)
            counts.append(stats['count'])
            corrects.append(stats['correct'])
            pair_corrects.append(stats['pair_correct'])
    acc, ci = mean_ci(torch.cat(accs))
    out = {'acc': acc, 'ci': ci, 'episodes': num_episodes, 'way': way,
           'shot': shot, 'query': query, 'seed': seed}
    if partner is not None:
        count = torch.cat(counts)
        keep = count > 0
        frac = torch.cat(corrects)[keep].double() / count[keep]
        pair = torch.cat(pair_corrects)[keep].double() / count[keep]
        out['order_acc'], out['order_ci'] = mean_ci(frac)
        out['order_pair_acc'], out['order_pair_ci'] = mean_ci(pair)
        out['order_episodes'] = int(keep.sum())
        out['order_queries'] = int(count.sum())
    return out


def temporal_contrast(x: Tensor) -> float:
    r"""The share of frame-feature energy that varies over time,

    .. math::
        \rho = \frac{\sum_{v,t} \lVert \mathbf{x}_{v,t} -
        \bar{\mathbf{x}}_v \rVert^2}{\sum_{v,t} \lVert \mathbf{x}_{v,t}
        \rVert^2}, \qquad \bar{\mathbf{x}}_v = \frac{1}{T}\sum_t
        \mathbf{x}_{v,t}

    for videos ``[..., T, D]``: 0 when every frame of a video is the same
    (no order information left for a frame-level cosine distance such as
    OTAM), 1 when the videos' mean frames are zero.

    Example:
        >>> temporal_contrast(torch.ones(2, 8, 4))
        0.0
        >>> round(temporal_contrast(torch.tensor([[[1., 0.], [-1., 0.]]])), 3)
        1.0
    """
    x = x.double()
    centred = x - x.mean(-2, keepdim=True)
    return float(centred.square().sum() / x.square().sum())


__all__ = ['evaluate_episodes', 'mean_ci', 'order_pair_stats',
           'temporal_contrast']
