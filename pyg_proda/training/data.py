r"""Lightning data module over the pyg_proda datasets."""
import os
from typing import Any, Dict, Iterator, Optional

import lightning as L
import torch
from torch.utils.data import Sampler
from torch_geometric.loader import DataLoader

from pyg_proda.data.homogeneous import edge_type_layout


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
    r"""Instantiates dataset :obj:`name` (``'synthetic'``,
    ``'action_genome'`` or ``'sportshhi'``) for :obj:`split`."""
    if name == 'synthetic':
        from pyg_proda.datasets import SyntheticSSG
        return SyntheticSSG(os.path.join(root, 'synthetic'), split=split,
                            **kwargs)
    if name == 'action_genome':
        from pyg_proda.datasets.action_genome import ActionGenome
        split = 'train' if split == 'train' else 'test'
        return ActionGenome(root, split=split, **kwargs)
    if name == 'sportshhi':
        from pyg_proda.datasets.sportshhi import SportsHHI
        split = 'train' if split == 'train' else 'val'
        return SportsHHI(root, split=split, **kwargs)
    raise ValueError(f"Unknown dataset '{name}' (expected 'synthetic', "
                     f"'action_genome' or 'sportshhi')")


class SSGDataModule(L.LightningDataModule):
    r"""Batches :class:`~pyg_proda.data.VideoSceneGraph` datasets with PyG's
    :class:`~torch_geometric.loader.DataLoader`.

    Args:
        dataset (str): ``'synthetic'`` (the embedded default),
            ``'action_genome'`` (Charades + Action Genome) or
            ``'sportshhi'``. (default: :obj:`'synthetic'`)
        root (str): Data root. For ``'synthetic'`` the data is generated
            under ``root/synthetic``. (default: :obj:`'datasets'`)
        batch_size (int): Videos per batch. (default: :obj:`32`)
        eval_batch_size (int, optional): Batch size for evaluation.
            (default: :obj:`None`, same as :obj:`batch_size`)
        num_workers (int): Loader workers. (default: :obj:`0`)
        seed (int): Seed of the shuffling. (default: :obj:`0`)
        dataset_kwargs (dict, optional): Passed to every split's dataset.
        train_kwargs (dict, optional): Passed to the training split only.
    """
    def __init__(self, dataset: str = 'synthetic', root: str = 'datasets',
                 batch_size: int = 32, eval_batch_size: Optional[int] = None,
                 num_workers: int = 0, seed: int = 0,
                 dataset_kwargs: Optional[Dict[str, Any]] = None,
                 train_kwargs: Optional[Dict[str, Any]] = None):
        super().__init__()
        self.save_hyperparameters()
        self.dataset = dataset
        self.root = root
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.dataset_kwargs = dict(dataset_kwargs or {})
        self.train_kwargs = dict(train_kwargs or {})
        self._splits: Dict[str, Any] = {}

    def split(self, name: str):
        r"""The dataset of split :obj:`name` (``'train'``, ``'val'`` or
        ``'test'``), processed on first use."""
        if name not in self._splits:
            kwargs = dict(self.dataset_kwargs)
            if name == 'train':
                kwargs.update(self.train_kwargs)
            self._splits[name] = build_dataset(self.dataset, self.root, name,
                                               **kwargs)
        return self._splits[name]

    # Shapes the model needs, read from the training split.
    @property
    def num_classes(self) -> int:
        return int(self.split('train')[0].y.size(-1))

    @property
    def in_channels(self) -> int:
        return int(self.split('train')[0]['person'].x.size(-1))

    @property
    def edge_dim(self) -> int:
        layout = edge_type_layout(self.split('train')[0])
        return sum(width for _, _, width in layout.values())

    @property
    def max_frames(self) -> int:
        ds = self.split('train')
        return max(int(ds[i].num_frames) for i in range(min(len(ds), 64)))

    def prepare_data(self) -> None:
        for name in ('train', 'val', 'test'):
            self.split(name)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        ds = self.split(name)
        sampler = EpochSeededSampler(len(ds), self.seed) if shuffle else None
        return DataLoader(ds, batch_size=self.batch_size if shuffle else
                          self.eval_batch_size, sampler=sampler,
                          num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader('train', shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader('val', shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader('test', shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader('test', shuffle=False)
