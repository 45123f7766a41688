r"""Transforms on :class:`~pyg_proda.data.VideoSceneGraph` objects."""
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform


class SampleFrames(BaseTransform):
    r"""Sub-samples the frames of one video scene graph to at most
    :obj:`num_frames` frames.

    Nodes and edges of the removed frames are dropped, ``frame`` of the kept
    nodes and edges is re-indexed to ``0..T'-1`` (in the original order),
    ``frame_labels`` is sliced and ``num_frames`` set to ``T'``. ``track``,
    ``num_tracks``, ``y`` and graph-level ``*_track`` attributes are left
    untouched. A video with at most :obj:`num_frames` frames is returned
    with all of them: frames are never duplicated, so ``T'`` can be smaller
    than :obj:`num_frames`.

    Args:
        num_frames (int): Number of frames to keep.
        mode (str): ``'uniform'`` keeps the frames nearest to
            :obj:`num_frames` evenly spaced positions (deterministic, for
            evaluation); ``'random'`` keeps a random sorted subset (for
            training). (default: :obj:`'uniform'`)
        seed (int, optional): Seed of the random generator of
            ``mode='random'``; the sequence of draws is then reproducible
            (each :class:`~torch.utils.data.DataLoader` worker holds a copy
            of the generator). :obj:`None` uses the global torch generator.
            (default: :obj:`None`)

    Example:
        >>> from pyg_proda.data import Detection, Relation, build_video_graph
        >>> frames = [[Detection(0, 'person', 0, (0, 0, 1, 1))]] * 8
        >>> g = build_video_graph(frames, [[]] * 8, video_id='v',
        ...                       y=torch.zeros(3))
        >>> SampleFrames(4)(g).num_frames
        4
    """
    #: Graph-level attributes with one row per frame.
    frame_keys = ('frame_labels', 'frame_ids')

    def __init__(self, num_frames: int, mode: str = 'uniform',
                 seed: Optional[int] = None) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be positive, got {num_frames}")
        if mode not in ('uniform', 'random'):
            raise ValueError(f"mode must be 'uniform' or 'random', got "
                             f"'{mode}'")
        self.num_frames = num_frames
        self.mode = mode
        self.seed = seed
        self.generator: Optional[torch.Generator] = None
        if seed is not None:
            self.generator = torch.Generator().manual_seed(seed)

    def select(self, T: int) -> Tensor:
        r"""Returns the sorted indices of the kept frames of a
        :obj:`T`-frame video."""
        if T <= self.num_frames:
            return torch.arange(T)
        if self.mode == 'uniform':
            # Steps of (T-1)/(n-1) >= 1, so the rounded positions are distinct.
            return torch.linspace(0, T - 1, self.num_frames).round().long()
        perm = torch.randperm(T, generator=self.generator)
        return perm[:self.num_frames].sort().values

    def forward(self, data: HeteroData) -> HeteroData:
        T = int(data.num_frames)
        keep = self.select(T)
        if keep.numel() == T:
            return data
        device = data.y.device if 'y' in data else keep.device
        keep = keep.to(device)
        remap = torch.full((T, ), -1, dtype=torch.long, device=device)
        remap[keep] = torch.arange(keep.numel(), device=device)

        data = data.clone()
        node_index = {}
        for store in data.node_stores:
            if 'frame' not in store:
                continue
            n = store.frame.numel()
            new_frame = remap[store.frame]
            mask = new_frame >= 0
            # Old node index -> new node index (-1 for removed nodes).
            index = torch.full((n, ), -1, dtype=torch.long, device=device)
            index[mask] = torch.arange(int(mask.sum()), device=device)
            node_index[store._key] = index
            for key, value in list(store.items()):
                if isinstance(value, Tensor) and value.dim() > 0 \
                        and value.size(0) == n:
                    store[key] = value[mask]
            store.frame = new_frame[mask]
        for store in data.edge_stores:
            if 'frame' not in store:
                continue
            src_t, _, dst_t = store._key
            e = store.frame.numel()
            new_frame = remap[store.frame]
            mask = new_frame >= 0
            edge_index = store.edge_index[:, mask]
            for key, value in list(store.items()):
                if key != 'edge_index' and isinstance(value, Tensor) \
                        and value.dim() > 0 and value.size(0) == e:
                    store[key] = value[mask]
            store.edge_index = torch.stack([
                node_index[src_t][edge_index[0]],
                node_index[dst_t][edge_index[1]]
            ], dim=0)
            store.frame = new_frame[mask]
        for key in self.frame_keys:
            if key in data:
                data[key] = data[key][keep]
        data.num_frames = int(keep.numel())
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_frames}, '
                f"mode='{self.mode}', seed={self.seed})")
