r"""Common base of the pyg_proda datasets: weights-only loading and atomic
saving of processed files."""
import os
import tempfile
from typing import Sequence

import torch
from torch_geometric.data import InMemoryDataset
from torch_geometric.data.data import BaseData

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

    def load(self, path: str, data_cls=VideoSceneGraph) -> None:
        out = torch.load(path, weights_only=True)
        if not (isinstance(out, tuple) and len(out) == 3):
            raise RuntimeError(f"'{path}' is not a pyg_proda processed file; "
                               f"delete it to reprocess")
        data, self.slices, data_cls = out
        self.data = data_cls.from_dict(data)
