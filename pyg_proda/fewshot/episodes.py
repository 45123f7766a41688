r"""Batches of episodes: :class:`EpisodeBatch`, :func:`collate_episodes`
and the map-style :class:`EpisodeDataset` that Lightning's loaders read."""
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.utils.data import Dataset

from pyg_proda.fewshot.sampler import Episode, EpisodeSampler


@dataclass
class EpisodeBatch:
    r"""``E`` episodes with one label layout.

    Attributes:
        support (Tensor): ``[E, S, T, D]`` frame features (or :obj:`None`
            when the episode carries graphs).
        support_labels (Tensor): ``[S]`` relative labels, shared.
        query (Tensor): ``[E, Q, T, D]`` (or :obj:`None`).
        query_labels (Tensor): ``[E, Q]``; only the loss and the metrics
            read them, never a head.
        classes (Tensor): Global class ids of the ways ``[E, N]``.
        class_text (Tensor): Text feature of each way ``[E, N, D_t]``.
        support_graphs, query_graphs (optional): Batched scene graphs of
            the supports and queries (episode-major, class-major inside),
            for :mod:`pyg_proda.fewshot.ssg`.
    """
    support: Optional[Tensor]
    support_labels: Tensor
    query: Optional[Tensor]
    query_labels: Tensor
    classes: Tensor
    class_text: Tensor
    support_graphs: Any = None
    query_graphs: Any = None

    @property
    def num_episodes(self) -> int:
        r"""``E``."""
        return self.classes.size(0)


def collate_episodes(dataset, episodes: Sequence[Episode],
                     text_features: Optional[Tensor] = None) -> EpisodeBatch:
    r"""Stacks episodes of a :class:`~pyg_proda.fewshot.FrameFeatureDataset`
    (features float32).

    Args:
        dataset (FrameFeatureDataset): The split.
        episodes (list of Episode): Episodes of one sampler.
        text_features (Tensor, optional): Class text ``[C, D_t]`` to use
            instead of the dataset's (e.g. shuffled). (default: :obj:`None`)

    Example:
        >>> from pyg_proda.fewshot import FrameFeatureDataset, EpisodeSampler
        >>> ds = FrameFeatureDataset.from_tensors(
        ...     torch.randn(6, 8, 4), torch.tensor([0, 0, 1, 1, 2, 2]),
        ...     [f'c/{i}' for i in range(6)], ['a', 'b', 'c'], torch.randn(3, 4))
        >>> sampler = EpisodeSampler(ds.labels, way=2, shot=1, query=1)
        >>> batch = collate_episodes(ds, [sampler.episode(0), sampler.episode(1)])
        >>> batch.support.shape, batch.class_text.shape
        (torch.Size([2, 2, 8, 4]), torch.Size([2, 2, 4]))
    """
    text = dataset.text_features if text_features is None else text_features
    sup = torch.stack([e.support for e in episodes])  # [E, S]
    qry = torch.stack([e.query for e in episodes])  # [E, Q]
    classes = torch.stack([e.classes for e in episodes])  # [E, N]
    feats = dataset.features
    return EpisodeBatch(
        support=feats[sup].float(), support_labels=episodes[0].support_labels,
        query=feats[qry].float(),
        query_labels=torch.stack([e.query_labels for e in episodes]),
        classes=classes, class_text=text[classes].float())


class EpisodeDataset(Dataset):
    r"""Item :math:`b` is an :class:`EpisodeBatch` of
    :obj:`episodes_per_batch` consecutive episodes of a sampler; use it with
    ``DataLoader(..., batch_size=None)``. With several samplers (e.g. a
    1-shot and a 5-shot one) the batches alternate between them: batch
    :math:`b` comes from sampler ``b % M`` (its batch ``b // M``).

    Args:
        dataset (FrameFeatureDataset): The split.
        sampler (EpisodeSampler or list): Draws the episodes.
        episodes_per_batch (int, optional): ``E``. (default: :obj:`1`)
        text_features (Tensor, optional): Replaces the dataset's class
            text. (default: :obj:`None`)
        collate (callable, optional): ``collate(dataset, episodes,
            text_features)``. (default: :func:`collate_episodes`)

    Raises:
        ValueError: for a non-positive :obj:`episodes_per_batch`.
    """
    def __init__(self, dataset,
                 sampler: Union[EpisodeSampler, Sequence[EpisodeSampler]],
                 episodes_per_batch: int = 1,
                 text_features: Optional[Tensor] = None, collate=None):
        super().__init__()
        if episodes_per_batch < 1:
            raise ValueError(f"'episodes_per_batch' must be positive, got "
                             f"{episodes_per_batch}")
        self.dataset = dataset
        self.samplers = ([sampler] if isinstance(sampler, EpisodeSampler)
                         else list(sampler))
        self.episodes_per_batch = int(episodes_per_batch)
        self.text_features = text_features
        self.collate = collate or collate_episodes

    def _num_batches(self, sampler: EpisodeSampler) -> int:
        E = self.episodes_per_batch
        return (len(sampler) + E - 1) // E

    def __len__(self) -> int:
        M = len(self.samplers)
        return min(self._num_batches(s) for s in self.samplers) * M

    def episodes(self, b: int) -> List[Episode]:
        r"""The episodes of batch :obj:`b`."""
        M, E = len(self.samplers), self.episodes_per_batch
        sampler, j = self.samplers[b % M], b // M
        stop = min(len(sampler), (j + 1) * E)
        return [sampler.episode(i) for i in range(j * E, stop)]

    def __getitem__(self, b: int) -> EpisodeBatch:
        if not 0 <= b < len(self):
            raise IndexError(b)
        return self.collate(self.dataset, self.episodes(b),
                            self.text_features)


__all__ = ['EpisodeBatch', 'EpisodeDataset', 'collate_episodes']
