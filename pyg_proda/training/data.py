r"""Lightning data module over the pyg_proda datasets: every loader yields
the homogeneous :class:`~pyg_proda.data.SSGView` the models read."""
import os
from typing import Any, Dict, Iterator, Optional, Tuple

import lightning as L
import torch
from torch.utils.data import Dataset, Sampler, Subset

from pyg_proda.data.homogeneous import SSGLoader, edge_type_layout

#: Name -> (official splits, the split used as the test split).
DATASETS: Dict[str, Tuple[Tuple[str, ...], str]] = {
    'synthetic': (('train', 'val', 'test'), 'test'),
    'action_genome': (('train', 'test'), 'test'),
    # SportsHHI's public evaluation split is its 'val' (no public test).
    'sportshhi': (('train', 'val'), 'val'),
    'synthetic_hhi': (('train', 'val', 'test'), 'test'),
}


class EpochSeededSampler(Sampler[int]):
    r"""Shuffles with a permutation that depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` at the start of every epoch, so a run
    resumed from a checkpoint visits the videos in the same order as an
    uninterrupted one (a sampler drawing from the global RNG would not)."""
    def __init__(self, num_samples: int, seed: int = 0):
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.num_samples, generator=gen).tolist())

    def __len__(self) -> int:
        return self.num_samples


def build_dataset(name: str, root: str, split: str, **kwargs: Any):
    r"""Instantiates dataset :obj:`name` (a key of :data:`DATASETS`) for one
    of its official splits."""
    if name == 'synthetic':
        from pyg_proda.datasets import SyntheticSSG
        return SyntheticSSG(os.path.join(root, 'synthetic'), split=split,
                            **kwargs)
    if name == 'action_genome':
        from pyg_proda.datasets import ActionGenome
        return ActionGenome(root, split=split, **kwargs)
    if name == 'sportshhi':
        from pyg_proda.datasets import SportsHHI
        return SportsHHI(root, split=split, **kwargs)
    if name == 'synthetic_hhi':
        from pyg_proda.datasets import SyntheticHHI
        return SyntheticHHI(os.path.join(root, 'synthetic_hhi'), split=split,
                            **kwargs)
    raise ValueError(f"Unknown dataset '{name}' (expected one of "
                     f"{list(DATASETS)})")


class SSGDataModule(L.LightningDataModule):
    r"""Batches :class:`~pyg_proda.data.VideoSceneGraph` datasets into
    :class:`~pyg_proda.data.SSGView` batches (:class:`~pyg_proda.data.SSGLoader`).

    **Validation.** A dataset with an official validation split distinct
    from its test split (``'synthetic'``) validates on it. Action Genome
    and SportsHHI have none: by default a seeded :obj:`val_fraction` of the
    training videos is held out for checkpoint selection, so the test split
    never selects a model. ``val_fraction=0`` validates on the test split
    instead, as the authors' code does (their numbers are selected on it).

    Args:
        dataset (str): ``'synthetic'`` (the embedded default),
            ``'action_genome'`` (Charades + Action Genome), ``'sportshhi'``
            or ``'synthetic_hhi'`` (the embedded SportsHHI-shaped one).
            (default: :obj:`'synthetic'`)
        root (str): Data root. The synthetic datasets are generated under
            ``root/synthetic`` and ``root/synthetic_hhi``.
            (default: :obj:`'datasets'`)
        batch_size (int): Videos per batch. (default: :obj:`32`)
        eval_batch_size (int, optional): Batch size for evaluation.
            (default: :obj:`None`, same as :obj:`batch_size`)
        num_workers (int): Loader workers. (default: :obj:`0`)
        seed (int): Seed of the shuffling and of the held-out split.
            (default: :obj:`0`)
        val_fraction (float): Share of the training videos held out for
            validation when the dataset has no validation split.
            (default: :obj:`0.1`)
        dataset_kwargs (dict, optional): Passed to every split's dataset.
        train_kwargs (dict, optional): Passed to the training split only.
    """
    def __init__(self, dataset: str = 'synthetic', root: str = 'datasets',
                 batch_size: int = 32, eval_batch_size: Optional[int] = None,
                 num_workers: int = 0, seed: int = 0,
                 val_fraction: float = 0.1,
                 dataset_kwargs: Optional[Dict[str, Any]] = None,
                 train_kwargs: Optional[Dict[str, Any]] = None):
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"Unknown dataset '{dataset}' (expected one of "
                             f"{list(DATASETS)})")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"'val_fraction' must lie in [0, 1), got "
                             f"{val_fraction}")
        self.save_hyperparameters()
        self.dataset = dataset
        self.root = root
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.val_fraction = val_fraction
        self.dataset_kwargs = dict(dataset_kwargs or {})
        self.train_kwargs = dict(train_kwargs or {})
        self._official: Dict[str, Dataset] = {}
        self._splits: Dict[str, Dataset] = {}

    def _load(self, name: str) -> Dataset:
        if name not in self._official:
            kwargs = dict(self.dataset_kwargs)
            if name == 'train':
                kwargs.update(self.train_kwargs)
            self._official[name] = build_dataset(self.dataset, self.root,
                                                 name, **kwargs)
        return self._official[name]

    @property
    def carves_val(self) -> bool:
        r"""Whether validation videos are held out from the training
        split."""
        official, test = DATASETS[self.dataset]
        has_val = 'val' in official and test != 'val'
        return not has_val and self.val_fraction > 0

    def split(self, name: str) -> Dataset:
        r"""The dataset of split :obj:`name` (``'train'``, ``'val'`` or
        ``'test'``), processed on first use (see the class docs for the
        validation split)."""
        if name not in ('train', 'val', 'test'):
            raise ValueError(f"Unknown split '{name}' (expected 'train', "
                             f"'val' or 'test')")
        if name in self._splits:
            return self._splits[name]
        official, test = DATASETS[self.dataset]
        if name == 'test':
            ds = self._load(test)
        elif self.carves_val:
            train = self._load('train')
            gen = torch.Generator().manual_seed(self.seed)
            perm = torch.randperm(len(train), generator=gen)
            num_val = max(1, int(round(self.val_fraction * len(train))))
            self._splits['val'] = Subset(train, perm[:num_val].tolist())
            self._splits['train'] = Subset(train, perm[num_val:].tolist())
            return self._splits[name]
        elif name == 'val':
            ds = self._load('val' if 'val' in official and test != 'val'
                            else test)
        else:
            ds = self._load('train')
        self._splits[name] = ds
        return ds

    def _first(self):
        return self.split('train')[0]

    # Shapes the model needs, read from the data.
    @property
    def num_classes(self) -> int:
        return int(self._first().y.size(-1))

    @property
    def in_channels(self) -> int:
        return int(self._first()['person'].x.size(-1))

    @property
    def edge_dim(self) -> int:
        layout = edge_type_layout(self._first())
        return sum(width for _, _, width in layout.values())

    @property
    def max_frames(self) -> int:
        r"""The most frames a sample of any split can have (each dataset's
        :attr:`~pyg_proda.datasets.SSGInMemoryDataset.max_frames`)."""
        names = DATASETS[self.dataset][0]
        return max(self._load(n).max_frames for n in names)

    def prepare_data(self) -> None:
        for name in DATASETS[self.dataset][0]:
            self._load(name)

    def _loader(self, name: str, shuffle: bool) -> SSGLoader:
        ds = self.split(name)
        sampler = EpochSeededSampler(len(ds), self.seed) if shuffle else None
        return SSGLoader(ds, batch_size=self.batch_size if shuffle else
                         self.eval_batch_size, sampler=sampler,
                         num_workers=self.num_workers,
                         persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> SSGLoader:
        return self._loader('train', shuffle=True)

    def val_dataloader(self) -> SSGLoader:
        return self._loader('val', shuffle=False)

    def test_dataloader(self) -> SSGLoader:
        return self._loader('test', shuffle=False)

    def predict_dataloader(self) -> SSGLoader:
        return self._loader('test', shuffle=False)
