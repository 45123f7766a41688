r"""Common base of the pyg_proda datasets: weights-only loading and atomic
saving of processed files."""
import json
import os
import tempfile
from typing import Callable, Dict, Optional, Sequence

import torch
from torch_geometric.data import InMemoryDataset
from torch_geometric.data.data import BaseData
from torch_geometric.transforms import Compose

from pyg_proda.data.transforms import SampleFrames

# Registers VideoSceneGraph as a safe global for weights-only loading.
from pyg_proda.data.video_scene_graph import VideoSceneGraph  # noqa: F401


class SSGInMemoryDataset(InMemoryDataset):
    r"""An :class:`~torch_geometric.data.InMemoryDataset` whose processed
    files are written atomically (a temporary file renamed into place, so an
    interrupted :meth:`process` leaves nothing that a later run would take as
    complete) and always read with ``torch.load(weights_only=True)`` (PyG's
    own loader silently falls back to full unpickling)."""
    @classmethod
    def save(cls, data_list: Sequence[BaseData], path: str) -> None:
        data, slices = cls.collate(data_list)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
        os.close(fd)
        try:
            # Through a file object, so the temporary name is not recorded
            # inside the archive (processed files stay byte-reproducible).
            with open(tmp, 'wb') as f:
                torch.save((data.to_dict(), slices, data.__class__), f)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

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
