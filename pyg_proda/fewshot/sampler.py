r"""N-way K-shot episodes."""
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor


@dataclass
class Episode:
    r"""One N-way K-shot episode, as dataset indices. Supports and queries
    are *class-major*: way ``c`` owns supports ``c*K .. c*K+K-1`` and
    queries ``c*Q .. c*Q+Q-1``, so every episode of a sampler has the same
    relative labels.

    Attributes:
        classes (Tensor): Global class ids of the ways ``[N]``.
        support (Tensor): Dataset indices ``[N * K]``.
        query (Tensor): Dataset indices ``[N * Q]``.
        support_labels (Tensor): Relative labels ``[N * K]`` in ``0..N-1``.
        query_labels (Tensor): Relative labels ``[N * Q]``.
    """
    classes: Tensor
    support: Tensor
    query: Tensor
    support_labels: Tensor
    query_labels: Tensor


class EpisodeSampler:
    r"""Draws N-way K-shot episodes from the labels of a split.

    Episode :math:`i` is drawn from its own generator seeded with
    ``[seed, i]``: :obj:`way` distinct classes, then for each class
    :obj:`shot` + :obj:`query` distinct videos, the first :obj:`shot` as
    supports and the rest as queries. So episode :math:`i` does not depend
    on which episodes were drawn before it, a fixed test set of episodes is
    reproduced by its seed, and training streams differ by seed. Use
    ``query=4`` for training and ``query=1`` at test (the protocol of TRX
    and CLIP-SPM).

    Args:
        labels (Tensor or list): Class of every video ``[V]``.
        way (int, optional): :math:`N`. (default: :obj:`5`)
        shot (int, optional): :math:`K`. (default: :obj:`1`)
        query (int, optional): Queries per class. (default: :obj:`1`)
        num_episodes (int, optional): Episodes per pass.
            (default: :obj:`10000`)
        seed (int, optional): Seed. (default: :obj:`0`)
        num_classes (int, optional): Number of classes :math:`C`; every
            class ``0..C-1`` must have enough videos. (default: the classes
            present in :obj:`labels`)
        class_names (list of str, optional): For error messages.
        source (str, optional): The file the labels come from, for error
            messages.

    Raises:
        ValueError: if there are fewer than :obj:`way` classes, or a class
            has fewer than ``shot + query`` videos (naming the file and the
            class).

    Example:
        >>> labels = torch.arange(6).repeat_interleave(3)  # 6 classes x 3 videos
        >>> sampler = EpisodeSampler(labels, way=3, shot=1, query=2, seed=0)
        >>> ep = sampler.episode(0)
        >>> ep.support.shape, ep.query.shape, ep.query_labels.tolist()
        (torch.Size([3]), torch.Size([6]), [0, 0, 1, 1, 2, 2])
    """
    def __init__(self, labels, way: int = 5, shot: int = 1, query: int = 1,
                 num_episodes: int = 10000, seed: int = 0,
                 num_classes: Optional[int] = None,
                 class_names: Optional[Sequence[str]] = None,
                 source: Optional[str] = None):
        if way < 1 or shot < 1 or query < 1 or num_episodes < 0:
            raise ValueError(f"Need way, shot, query >= 1 and num_episodes "
                             f">= 0, got way={way}, shot={shot}, "
                             f"query={query}, num_episodes={num_episodes}")
        labels = np.asarray(torch.as_tensor(labels).cpu().numpy(),
                            dtype=np.int64)
        self.way, self.shot, self.query = int(way), int(shot), int(query)
        self.num_episodes = int(num_episodes)
        self.seed = int(seed)
        where = f"'{source}': " if source else ''
        C = int(num_classes) if num_classes is not None else None
        classes = (np.arange(C) if C is not None else np.unique(labels))
        self.videos: List[np.ndarray] = []
        short = []
        for c in classes:
            idx = np.flatnonzero(labels == c)
            if idx.size < self.shot + self.query:
                name = (f"'{class_names[c]}'" if class_names is not None
                        and c < len(class_names) else f"{int(c)}")
                short.append(f"class {name} has {idx.size}")
            self.videos.append(idx)
        if short:
            raise ValueError(
                f"{where}{len(short)} class(es) have fewer than shot + query "
                f"= {self.shot} + {self.query} videos: " +
                '; '.join(short[:10]) + (' ...' if len(short) > 10 else ''))
        if len(classes) < self.way:
            raise ValueError(f"{where}{len(classes)} classes, fewer than "
                             f"way = {self.way}")
        self.classes = classes

    def __len__(self) -> int:
        return self.num_episodes

    def episode(self, i: int) -> Episode:
        r"""Draws episode :obj:`i` (deterministic given the seed)."""
        rng = np.random.default_rng([self.seed, int(i)])
        ways = rng.choice(len(self.classes), self.way, replace=False)
        support, query = [], []
        for w in ways:
            pick = rng.choice(self.videos[w], self.shot + self.query,
                              replace=False)
            support.append(pick[:self.shot])
            query.append(pick[self.shot:])
        N = self.way
        return Episode(
            classes=torch.from_numpy(self.classes[ways].astype(np.int64)),
            support=torch.from_numpy(np.concatenate(support)),
            query=torch.from_numpy(np.concatenate(query)),
            support_labels=torch.arange(N).repeat_interleave(self.shot),
            query_labels=torch.arange(N).repeat_interleave(self.query))

    def __iter__(self) -> Iterator[Episode]:
        for i in range(self.num_episodes):
            yield self.episode(i)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.way}-way {self.shot}-shot, '
                f'query={self.query}, episodes={self.num_episodes}, '
                f'seed={self.seed})')


__all__ = ['Episode', 'EpisodeSampler']
