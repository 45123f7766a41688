r"""Few-shot video datasets over frame-feature caches: :class:`FrameFeatureDataset`
(the cache format and its reader/writer are in
:mod:`pyg_proda.io.frame_features`)."""
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from pyg_proda.io.features import SUFFIXES
from pyg_proda.io.frame_features import (
    CACHE_FORMAT,
    CACHE_VERSION,
    read_feature_cache,
    write_feature_cache,
)
from pyg_proda.io.split_lists import SplitEntry, parse_split_list


class FrameFeatureDataset(Dataset):
    r"""Per-video frame features ``[T, D]``, labels and ids of one split,
    with the split's class names and class text features ``[C, D]``.

    Read from a feature cache (see the module docs), optionally restricted
    to and ordered by a split list (:func:`parse_split_list`); built in
    memory with :meth:`from_tensors`. Features stay float16 in memory;
    items are float32.

    Args:
        path (str): The cache file.
        split_list (str, optional): Keep exactly the videos of this list
            (classes in the list's order). (default: :obj:`None`, every
            video of the cache, classes in the cache's order)
        split_format (str, optional): Format of the list (see
            :func:`parse_split_list`). (default: :obj:`'auto'`)
        num_frames (int, optional): Required frames per video.
            (default: :obj:`None`, whatever the cache has)

    Raises:
        FileNotFoundError: if a file is missing.
        ValueError: naming the file and record for a video missing from
            the cache, a class without text features, a video whose class
            is unknown, or features whose frame count or size disagree.

    Example:
        >>> ds = FrameFeatureDataset.from_tensors(
        ...     torch.randn(4, 8, 16), torch.tensor([0, 0, 1, 1]),
        ...     ['a/0', 'a/1', 'b/0', 'b/1'], ['a', 'b'], torch.randn(2, 16))
        >>> item = ds[2]
        >>> item['x'].shape, item['y'], item['video_id']
        (torch.Size([8, 16]), 1, 'b/0')
    """
    def __init__(self, path: str, split_list: Optional[str] = None,
                 split_format: str = 'auto',
                 num_frames: Optional[int] = None):
        super().__init__()
        videos, cache_classes, text, meta = read_feature_cache(path)
        self.path = path
        self.meta = meta
        if text.ndim != 2 or text.shape[0] != len(cache_classes):
            raise ValueError(f"{path}: text features {text.shape} do not "
                             f"match {len(cache_classes)} class names")
        if split_list is not None:
            entries = parse_split_list(split_list, split_format)
            classes: List[str] = []
            for e in entries:
                if e.class_name not in classes:
                    classes.append(e.class_name)
            keys = [e.key for e in entries]
            for e in entries:
                if e.key not in videos:
                    raise ValueError(f"{split_list}, line {e.line}: video "
                                     f"'{e.key}' has no features in "
                                     f"'{path}'")
        else:
            entries = None
            classes = list(cache_classes)
            keys = sorted(videos)
        index = {c: i for i, c in enumerate(cache_classes)}
        rows = []
        for c in classes:
            if c not in index:
                raise ValueError(f"'{path}' has no text features for class "
                                 f"'{c}' (of split list '{split_list}')")
            rows.append(index[c])
        self.class_names = classes
        self.text_features = torch.from_numpy(
            np.asarray(text[rows], dtype=np.float32))
        D = self.text_features.size(1)
        T = num_frames if num_frames is not None else int(
            meta.get('num_frames', 0)) or None
        cls_index = {c: i for i, c in enumerate(classes)}
        feats, labels = [], []
        for i, key in enumerate(keys):
            # The record: the split-list line if there is one.
            where = (f"{split_list}, line {entries[i].line}: "
                     if entries is not None else '')
            cls = key.partition('/')[0]
            if cls not in cls_index:
                raise ValueError(f"{where}video '{key}' in '{path}' has "
                                 f"class '{cls}', which has no class name")
            feat = np.asarray(videos[key])
            if T is None:
                T = feat.shape[0] if feat.ndim == 2 else None
            if feat.ndim != 2 or feat.shape != (T, D):
                raise ValueError(f"{where}video '{key}' in '{path}' has "
                                 f"features of shape {tuple(feat.shape)}, "
                                 f"expected ({T}, {D}) = (frames, text "
                                 f"feature size)")
            feats.append(feat.astype(np.float16, copy=False))
            labels.append(cls_index[cls])
        if not feats:
            raise ValueError(f"'{path}' has no videos")
        self.features = torch.from_numpy(np.stack(feats))  # [N, T, D]
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.video_ids = keys

    @classmethod
    def from_tensors(cls, features: Tensor, labels: Tensor,
                     video_ids: Sequence[str], class_names: Sequence[str],
                     text_features: Tensor,
                     path: str = '<memory>') -> 'FrameFeatureDataset':
        r"""Builds a dataset in memory (no file).

        Raises:
            ValueError: if the shapes disagree.
        """
        if features.dim() != 3 or features.size(0) != labels.numel() or \
                len(video_ids) != labels.numel():
            raise ValueError(f"{path}: features {tuple(features.shape)}, "
                             f"{labels.numel()} labels and {len(video_ids)} "
                             f"ids disagree")
        if text_features.shape != (len(class_names), features.size(-1)):
            raise ValueError(f"{path}: text features "
                             f"{tuple(text_features.shape)} do not match "
                             f"{len(class_names)} classes of size "
                             f"{features.size(-1)}")
        if labels.numel() and not 0 <= int(labels.min()) <= int(
                labels.max()) < len(class_names):
            raise ValueError(f"{path}: labels outside 0..{len(class_names)-1}")
        self = cls.__new__(cls)
        Dataset.__init__(self)
        self.path = path
        self.meta = {'num_frames': features.size(1),
                     'dim': features.size(2)}
        self.features = features.to(torch.float16)
        self.labels = labels.long()
        self.video_ids = list(video_ids)
        self.class_names = list(class_names)
        self.text_features = text_features.float()
        return self

    @property
    def num_frames(self) -> int:
        r"""Frames per video :math:`T`."""
        return self.features.size(1)

    @property
    def dim(self) -> int:
        r"""Feature size :math:`D`."""
        return self.features.size(2)

    @property
    def num_classes(self) -> int:
        r"""Number of classes :math:`C`."""
        return len(self.class_names)

    def __len__(self) -> int:
        return self.labels.numel()

    def __getitem__(self, i: int) -> Dict[str, Union[Tensor, int, str]]:
        return {'x': self.features[i].float(), 'y': int(self.labels[i]),
                'video_id': self.video_ids[i]}

    def to_cache(self, path: str, meta: Optional[dict] = None) -> None:
        r"""Writes the dataset as a feature cache (:func:`write_feature_cache`)."""
        videos = {k: self.features[i].numpy()
                  for i, k in enumerate(self.video_ids)}
        write_feature_cache(path, videos, self.class_names,
                            self.text_features.numpy(), meta)

    def __iter__(self) -> Iterator[Dict]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, '
                f'classes={self.num_classes}, frames={self.num_frames}, '
                f'dim={self.dim})')


def find_cache(root: str, split: str) -> str:
    r"""The cache file of :obj:`split` under :obj:`root`
    (``<split>.h5``, ``.hdf5`` or ``.npz``).

    Raises:
        FileNotFoundError: if there is none.
    """
    for suffix in SUFFIXES:
        path = osp.join(root, split + suffix)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f"No feature cache for split '{split}' in "
                            f"'{root}' (expected {split}.h5, {split}.hdf5 or "
                            f"{split}.npz; write one with python -m "
                            f"pyg_proda.fewshot.cache)")


__all__ = ['CACHE_FORMAT', 'CACHE_VERSION', 'FrameFeatureDataset',
           'SplitEntry', 'find_cache', 'write_feature_cache']
