r"""Common base of the pyg_proda datasets: weights-only loading and atomic
saving of processed files, processing counters, frame sub-sampling and the
dataset's frame count."""
import hashlib
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import torch
from torch_geometric.data import InMemoryDataset
from torch_geometric.data.data import BaseData
from torch_geometric.transforms import Compose

from pyg_proda.data.transforms import SampleFrames

# Registers VideoSceneGraph as a safe global for weights-only loading.
from pyg_proda.data.video_scene_graph import VideoSceneGraph  # noqa: F401
from pyg_proda.io.atomic import torch_save_atomic, write_json_atomic


class SSGInMemoryDataset(InMemoryDataset):
    r"""An :class:`~torch_geometric.data.InMemoryDataset` whose processed
    files are written atomically (a temporary file renamed into place, so an
    interrupted :meth:`process` leaves nothing that a later run would take as
    complete) and always read with ``torch.load(weights_only=True)`` (PyG's
    own loader silently falls back to full unpickling)."""
    @classmethod
    def save(cls, data_list: Sequence[BaseData], path: str) -> None:
        data, slices = cls.collate(data_list)
        torch_save_atomic((data.to_dict(), slices, data.__class__), path)

    process_stats: Optional[Dict[str, int]] = None

    @staticmethod
    def frame_sampling(transform: Optional[Callable],
                       num_frames: Optional[int], train: bool,
                       seed: Optional[int]) -> Optional[Callable]:
        r"""Prepends :class:`~pyg_proda.data.SampleFrames` (random frames
        when training, uniform otherwise) to :obj:`transform`, so that
        processing keeps every keyframe once and sub-sampling happens on
        access."""
        if num_frames is None:
            return transform
        sampler = SampleFrames(num_frames, 'random' if train else 'uniform',
                               seed=seed)
        return sampler if transform is None else Compose([sampler, transform])

    def get(self, idx: int) -> BaseData:
        r"""Video :obj:`idx`, with its position in the dataset as the
        graph attribute ``video_index`` (it names the video in evaluation,
        e.g. to count each video once under distributed sampling)."""
        data = super().get(idx)
        data.video_index = int(idx)
        return data

    @staticmethod
    def options_tag(options: Dict[str, Any]) -> str:
        r"""A short hash of every option that changes the processed graphs,
        for the processed file names (a change never reuses stale
        files)."""
        text = json.dumps(options, sort_keys=True, default=repr)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def missing_raw_files(self, what: str, where: str) -> FileNotFoundError:
        r"""The error of :meth:`download` for datasets that cannot be
        fetched: lists the missing raw files and where they go."""
        missing = [p for p in self.raw_paths if not osp.exists(p)]
        return FileNotFoundError(
            f"{what} cannot be downloaded automatically. Missing raw "
            f"file(s):\n  " + '\n  '.join(missing) + f"\n{where} (see "
            f"datasets/README.md).")

    def finish(self, graphs: Iterable[BaseData],
               stats: Dict[str, int]) -> List[BaseData]:
        r"""Applies :obj:`pre_filter` (counting the removed videos in
        :obj:`stats`) and :obj:`pre_transform` to freshly built graphs."""
        out = []
        for data in graphs:
            if self.pre_filter is not None and not self.pre_filter(data):
                stats['videos_removed_by_pre_filter'] = \
                    stats.get('videos_removed_by_pre_filter', 0) + 1
                continue
            if self.pre_transform is not None:
                data = self.pre_transform(data)
            out.append(data)
        return out

    def save_stats(self, stats: Dict[str, int]) -> None:
        r"""Keeps the processing counters in :attr:`process_stats` and next
        to the processed files."""
        self.process_stats = dict(stats)
        write_json_atomic(self.process_stats, self.stats_path)

    @property
    def max_frames(self) -> int:
        r"""The most frames a sample of this dataset can have: the longest
        stored video, capped by the frame sub-sampling transform (the one
        place models read their ``max_frames`` from)."""
        num_frames = self._data.num_frames
        longest = int(torch.as_tensor(num_frames).max()) if len(self) else 0
        for t in _transforms(self.transform):
            if isinstance(t, SampleFrames):
                longest = min(longest, t.num_frames)
        return max(longest, 1)

    @property
    def stats_path(self) -> str:
        r"""JSON file with the counters of :attr:`process_stats`."""
        return self.processed_paths[0][:-len('.pt')] + '.stats.json'

    def load_split(self, index: int) -> None:
        r"""Loads processed file :obj:`index` and the processing counters
        (when this instance did not just compute them)."""
        self.load(self.processed_paths[index])
        if self.process_stats is None and os.path.exists(self.stats_path):
            with open(self.stats_path) as f:
                self.process_stats = json.load(f)

    def load(self, path: str, data_cls=VideoSceneGraph) -> None:
        out = torch.load(path, weights_only=True)
        if not (isinstance(out, tuple) and len(out) == 3):
            raise RuntimeError(f"'{path}' is not a pyg_proda processed file; "
                               f"delete it to reprocess")
        data, self.slices, data_cls = out
        self.data = data_cls.from_dict(data)


class GeneratedSSGDataset(SSGInMemoryDataset):
    r"""Shell of the embedded synthetic datasets: nothing is downloaded,
    :meth:`process` draws video ``i`` of a split from the seed ``[seed,
    split id, i]`` (so splits differ and a video does not depend on
    :obj:`num_videos`), and the processed file name encodes every option.

    Subclasses set :attr:`file_prefix`, :attr:`default_num_videos`,
    :attr:`version`, :attr:`short_names` (option -> file-name tag, in the
    order of the name) and :attr:`generator` (a ``staticmethod``, called as
    ``generator(seed, video_id=..., **options)``), and pass their validated
    options to :meth:`__init__`.

    Raises:
        ValueError: for an unknown split.
    """
    splits: Dict[str, int] = {'train': 0, 'val': 1, 'test': 2}
    file_prefix: str
    default_num_videos: Dict[str, int]
    version: int
    short_names: Dict[str, str]
    generator: Callable[..., BaseData]

    def __init__(self, root: str, split: str, num_videos: Optional[int],
                 seed: int, options: Dict[str, Any],
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 pre_filter: Optional[Callable] = None,
                 force_reload: bool = False, log: bool = True) -> None:
        if split not in self.splits:
            raise ValueError(f"Unknown split '{split}' (expected one of "
                             f"{list(self.splits)})")
        self.split = split
        self.num_videos = (self.default_num_videos[split]
                           if num_videos is None else int(num_videos))
        self.seed = int(seed)
        self.options = options
        super().__init__(root, transform, pre_transform, pre_filter,
                         force_reload=force_reload, log=log)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> str:
        opts = '_'.join(f'{self.short_names[k]}{v}'
                        for k, v in self.options.items())
        return (f'{self.file_prefix}_v{self.version}_{self.split}_'
                f'n{self.num_videos}_seed{self.seed}_{opts}.pt')

    def download(self) -> None:
        pass

    def process(self) -> None:
        split_id = self.splits[self.split]
        graphs = (self.generator(
            [self.seed, split_id, i],
            video_id=f'{self.file_prefix}_{self.split}_{i:05d}',
            **self.options) for i in range(self.num_videos))
        self.save(self.finish(graphs, {}), self.processed_paths[0])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, '
                f"split='{self.split}', num_classes={self.num_classes})")


def _transforms(transform: Optional[Callable]) -> List[Callable]:
    if transform is None:
        return []
    if isinstance(transform, Compose):
        return [t for sub in transform.transforms for t in _transforms(sub)]
    return [transform]
