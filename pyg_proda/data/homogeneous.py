r"""The homogeneous view of a (batched) :class:`VideoSceneGraph`, the input
of every layer in :mod:`pyg_proda.nn`."""
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data, HeteroData

from pyg_proda.data.video_scene_graph import EDGE_TYPES, NODE_TYPES


def edge_type_layout(data: HeteroData) -> Dict[Tuple[str, str, str],
                                                 Tuple[int, int, int]]:
    r"""Maps each edge type present in :obj:`data` to ``(type id, offset,
    width)`` of its relation classes in the homogeneous ``edge_attr``. Type
    ids and offsets follow :data:`EDGE_TYPES`, so for Action Genome the
    offsets reproduce the global relation ids."""
    layout, offset = {}, 0
    for i, et in enumerate(EDGE_TYPES):
        if et in data.edge_types:
            width = data[et].edge_attr.size(-1)
            layout[et] = (i, offset, width)
            offset += width
    return layout


def to_homogeneous(data: HeteroData) -> Data:
    r"""Converts a :class:`VideoSceneGraph` or a batch of them into one
    homogeneous :class:`~torch_geometric.data.Data` that keeps the type ids.

    Nodes are ordered person nodes first, then object nodes. The result has
    ``x`` ``[N, F]``, ``node_type`` (0 person, 1 object), ``frame``,
    ``track`` (unique over the batch), ``cls``, ``box``, ``batch``,
    ``edge_index``, ``edge_type`` (index into :data:`EDGE_TYPES`),
    ``edge_attr`` (each type's multi-hot placed at its offset of
    :func:`edge_type_layout`), ``edge_frame``, ``num_frames`` ``[B]``,
    ``y`` and, when present, ``frame_labels``.

    Example:
        >>> from pyg_proda.datasets import SyntheticSSG
        >>> view = to_homogeneous(SyntheticSSG('/tmp/ssg', num_videos=8)[0])
        >>> view.edge_attr.size(1)
        26
    """
    xs, fields = [], {k: [] for k in ('frame', 'track', 'cls', 'box',
                                      'batch', 'node_type')}
    offsets = {}
    n = 0
    device = data['person'].x.device
    for i, nt in enumerate(NODE_TYPES):
        store = data[nt]
        num = store.x.size(0)
        offsets[nt] = n
        n += num
        xs.append(store.x)
        for key in ('frame', 'track', 'cls', 'box'):
            fields[key].append(store[key])
        batch = store.get('batch')
        if batch is None:
            batch = torch.zeros(num, dtype=torch.long, device=device)
        fields['batch'].append(batch)
        fields['node_type'].append(
            torch.full((num, ), i, dtype=torch.long, device=device))

    layout = edge_type_layout(data)
    edge_dim = sum(w for _, _, w in layout.values())
    ei: List[Tensor] = []
    et_ids: List[Tensor] = []
    attrs: List[Tensor] = []
    frames: List[Tensor] = []
    for et, (type_id, offset, width) in layout.items():
        store = data[et]
        e = store.edge_index.size(1)
        shift = torch.tensor([[offsets[et[0]]], [offsets[et[2]]]],
                             device=device)
        ei.append(store.edge_index + shift)
        et_ids.append(torch.full((e, ), type_id, dtype=torch.long,
                                 device=device))
        attr = store.edge_attr.new_zeros(e, edge_dim)
        attr[:, offset:offset + width] = store.edge_attr
        attrs.append(attr)
        frames.append(store.frame)

    def cat(parts: List[Tensor], empty: Tensor) -> Tensor:
        return torch.cat(parts, dim=0) if parts else empty

    long0 = torch.zeros(0, dtype=torch.long, device=device)
    out = Data(
        x=torch.cat(xs, dim=0),
        edge_index=torch.cat(ei, dim=1) if ei else long0.view(2, 0),
        edge_type=cat(et_ids, long0),
        edge_attr=cat(attrs, torch.zeros(0, edge_dim, device=device)),
        edge_frame=cat(frames, long0),
        **{k: torch.cat(v, dim=0) for k, v in fields.items()},
    )
    num_frames = data.num_frames
    out.num_frames = torch.as_tensor(num_frames, device=device).view(-1)
    out.num_graphs = out.num_frames.numel()
    out.y = data.y
    if 'frame_labels' in data:
        out.frame_labels = data.frame_labels
    return out


def frame_group(batch: Tensor, frame: Tensor,
                max_frames: Optional[int] = None) -> Tensor:
    r"""Id of the ``(graph, frame)`` group of each node or edge:
    ``batch * max_frames + frame``."""
    if max_frames is None:
        max_frames = int(frame.max()) + 1 if frame.numel() else 1
    return batch * max_frames + frame
