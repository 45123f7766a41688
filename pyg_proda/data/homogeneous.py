r"""The homogeneous view of a (batched) :class:`VideoSceneGraph`: the one
form in which models, evaluation and tools receive a batch.

The view is made once, at the data boundary: :class:`SSGLoader` (or
:class:`SSGCollater` in your own :class:`~torch.utils.data.DataLoader`)
collates :class:`VideoSceneGraph` objects into a batch and converts it with
:func:`to_homogeneous`, which also attaches the VGPNN edge pairs. Nothing
downstream goes back to the heterogeneous form; :func:`select_videos`
repeats or picks videos of a view directly (one row per action
specification at evaluation).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch_geometric.data import Batch, Data, HeteroData

from pyg_proda.data.video_scene_graph import EDGE_TYPES, NODE_TYPES
from pyg_proda.utils import edge_pair_index

#: Node-level attributes of a view (besides ``batch``), in this order.
NODE_KEYS = ('x', 'node_type', 'frame', 'track', 'cls', 'box')
#: Keys of an edge store that the view handles itself; any other edge-level
#: attribute ``k`` of the edge stores becomes ``edge_k`` in the view.
_EDGE_STORE_KEYS = ('edge_index', 'edge_attr', 'frame')


class SSGView(Data):
    r"""The homogeneous view of one or several videos (see
    :func:`to_homogeneous` for its attributes). Node-level attributes are
    :data:`NODE_KEYS` and ``batch``; edge-level attributes start with
    ``edge_``; graph-level ones are ``y``, ``num_frames``, ``video_id``,
    ``video_index`` and the per-frame ``frame_labels``."""
    @property
    def num_graphs(self) -> int:
        r"""Number of videos."""
        return int(self.num_frames.numel())


torch.serialization.add_safe_globals([SSGView])


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


def to_homogeneous(data: HeteroData,
                   max_frames: Optional[int] = None) -> SSGView:
    r"""Converts a :class:`VideoSceneGraph` or a batch of them into one
    homogeneous :class:`SSGView` that keeps the type ids.

    Nodes are ordered person nodes first, then object nodes. The result has
    ``x`` ``[N, F]``, ``node_type`` (0 person, 1 object), ``frame``,
    ``track`` (unique over the batch), ``cls``, ``box``, ``batch``,
    ``edge_index``, ``edge_type`` (index into :data:`EDGE_TYPES`),
    ``edge_attr`` (each type's multi-hot placed at its offset of
    :func:`edge_type_layout`), ``edge_frame``, ``edge_pair`` (the VGPNN
    edge pair of every edge, :func:`~pyg_proda.utils.edge_pair_index`),
    ``num_frames`` ``[B]``, ``y``, ``video_id`` and, when present,
    ``frame_labels`` and ``video_index`` (the videos' positions in their
    dataset). Any other edge-level attribute ``k`` of the edge
    stores (e.g. per-pair targets) becomes ``edge_k``, zero for the edge
    types that lack it.

    Args:
        data (HeteroData): One video or a batch.
        max_frames (int, optional): If given, every frame index must lie
            below it. (default: :obj:`None`)

    Raises:
        ValueError: naming the video whose frames reach :obj:`max_frames`.

    Example:
        >>> from pyg_proda.datasets import SyntheticSSG
        >>> view = to_homogeneous(SyntheticSSG('/tmp/ssg', num_videos=8)[0])
        >>> view.edge_attr.size(1), view.num_graphs
        (26, 1)
    """
    fields: Dict[str, List[Tensor]] = {k: [] for k in NODE_KEYS + ('batch', )}
    offsets = {}
    n = 0
    device = data['person'].x.device
    for i, nt in enumerate(NODE_TYPES):
        store = data[nt]
        num = store.x.size(0)
        offsets[nt] = n
        n += num
        for key in ('x', 'frame', 'track', 'cls', 'box'):
            fields[key].append(store[key])
        batch = store.get('batch')
        if batch is None:
            batch = torch.zeros(num, dtype=torch.long, device=device)
        fields['batch'].append(batch)
        fields['node_type'].append(
            torch.full((num, ), i, dtype=torch.long, device=device))

    layout = edge_type_layout(data)
    edge_dim = sum(w for _, _, w in layout.values())
    extra = sorted({k for et in layout for k in data[et].keys()
                    if k not in _EDGE_STORE_KEYS})
    edges: Dict[str, List[Tensor]] = {
        k: [] for k in ['index', 'type', 'attr', 'frame'] + extra}
    for et, (type_id, offset, width) in layout.items():
        store = data[et]
        e = store.edge_index.size(1)
        shift = torch.tensor([[offsets[et[0]]], [offsets[et[2]]]],
                             device=device)
        edges['index'].append(store.edge_index + shift)
        edges['type'].append(torch.full((e, ), type_id, dtype=torch.long,
                                        device=device))
        attr = store.edge_attr.new_zeros(e, edge_dim)
        attr[:, offset:offset + width] = store.edge_attr
        edges['attr'].append(attr)
        edges['frame'].append(store.frame)
        for k in extra:
            value = store.get(k)
            if value is None:  # a type without this attribute: zeros
                ref = next(data[t][k] for t in layout if k in data[t])
                value = ref.new_zeros((e, ) + tuple(ref.shape[1:]))
            edges[k].append(value)

    long0 = torch.zeros(0, dtype=torch.long, device=device)

    def cat(parts: List[Tensor], empty: Tensor, dim: int = 0) -> Tensor:
        return torch.cat(parts, dim=dim) if parts else empty

    out = SSGView(
        edge_index=cat(edges['index'], long0.view(2, 0), dim=1),
        edge_type=cat(edges['type'], long0),
        edge_attr=cat(edges['attr'], torch.zeros(0, edge_dim,
                                                 device=device)),
        edge_frame=cat(edges['frame'], long0),
        **{k: torch.cat(v, dim=0) for k, v in fields.items()},
    )
    for k in extra:
        out[f'edge_{k}'] = torch.cat(edges[k], dim=0)
    out.edge_pair = edge_pair_index(out.edge_index, out.edge_type, out.track)
    out.num_frames = torch.as_tensor(data.num_frames,
                                     device=device).view(-1).long()
    out.y = data.y
    if 'frame_labels' in data:
        out.frame_labels = data.frame_labels
    if 'video_index' in data:
        out.video_index = torch.as_tensor(data.video_index,
                                          device=device).view(-1).long()
    vid = data.video_id if 'video_id' in data else None
    if vid is not None:
        out.video_id = [vid] if isinstance(vid, str) else list(vid)
    if max_frames is not None and out.num_frames.numel() > 0:
        check_max_frames(out, max_frames)
    return out


def check_max_frames(view: SSGView, max_frames: int) -> None:
    r"""Raises a :class:`ValueError` naming the first video of :obj:`view`
    with ``num_frames > max_frames`` (the model has embeddings, norms and
    readout slots for :obj:`max_frames` frames only)."""
    over = (view.num_frames > max_frames).nonzero().view(-1)
    if over.numel():
        i = int(over[0])
        name = view.video_id[i] if 'video_id' in view else f'#{i}'
        raise ValueError(
            f"Video '{name}' has {int(view.num_frames[i])} frames, more than "
            f"max_frames={max_frames} of the model; sub-sample its frames "
            f"(the datasets' num_frames option, SampleFrames) or build the "
            f"model with max_frames >= {int(view.num_frames.max())}")


def _ranges(ptr: Tensor, index: Tensor) -> Tuple[Tensor, Tensor]:
    r"""For the selected segments :obj:`index` of a segmentation with
    boundaries :obj:`ptr`, the concatenated element ids and the output row
    of each."""
    count = (ptr[1:] - ptr[:-1])[index]  # [M]
    row = torch.arange(index.numel(), device=index.device)
    row = row.repeat_interleave(count)
    start = torch.cumsum(count, 0) - count
    pos = torch.arange(row.numel(), device=index.device) - start[row]
    return ptr[index][row] + pos, row


def _ptr(segment: Tensor, num_segments: int) -> Tensor:
    count = torch.bincount(segment, minlength=num_segments)
    return torch.cat([count.new_zeros(1), torch.cumsum(count, 0)])


def select_videos(view: SSGView, index: Tensor) -> Tuple[SSGView, Tensor]:
    r"""The view of videos :obj:`index` of :obj:`view`, in that order and
    with repeats (e.g. one row per action specification): nodes, edges,
    ``y``, ``num_frames``, ``frame_labels``, ``video_id`` and
    ``video_index`` are gathered;
    tracks and edge pairs are renumbered so that repeated videos never
    share one. Other graph-level attributes are dropped.

    Args:
        view (SSGView): A view of :math:`B` videos.
        index (Tensor): Video ids ``[M]`` in ``0..B-1``.

    Returns:
        (SSGView, Tensor): The view of :math:`M` videos and, for each of
        its nodes, the node of :obj:`view` it copies (to gather node
        features computed on :obj:`view`).

    Example:
        >>> from pyg_proda.datasets import SyntheticSSG
        >>> view = SSGLoader(SyntheticSSG('/tmp/ssg', num_videos=8),
        ...                  batch_size=4).collate_fn(range(4))
        >>> sub, node_map = select_videos(view, torch.tensor([2, 2, 0]))
        >>> sub.num_graphs, bool((sub.x == view.x[node_map]).all())
        (3, True)
    """
    B = view.num_graphs
    index = index.to(view.num_frames.device).long()
    # Nodes of one video are contiguous only after sorting by video.
    node_perm = torch.argsort(view.batch, stable=True)
    node_ptr = _ptr(view.batch, B)
    node_ids, node_row = _ranges(node_ptr, index)
    node_map = node_perm[node_ids]  # [N'] old node of every new node
    # Position of every old node inside its video's (sorted) node list.
    rank = torch.empty_like(node_perm)
    rank[node_perm] = torch.arange(node_perm.numel(),
                                   device=node_perm.device)
    rank = rank - node_ptr[view.batch]
    new_ptr = torch.cat([node_ptr.new_zeros(1), torch.cumsum(
        (node_ptr[1:] - node_ptr[:-1])[index], 0)])

    edge_batch = view.batch[view.edge_index[0]]
    edge_perm = torch.argsort(edge_batch, stable=True)
    edge_ids, edge_row = _ranges(_ptr(edge_batch, B), index)
    edge_map = edge_perm[edge_ids]

    out = SSGView()
    for key in NODE_KEYS:
        out[key] = view[key][node_map]
    out.batch = node_row
    # Tracks and pairs stay unique per output video.
    num_tracks = int(view.track.max()) + 1 if view.track.numel() else 1
    out.track = view.track[node_map] + node_row * num_tracks
    old = view.edge_index[:, edge_map]  # [2, E']
    out.edge_index = new_ptr[edge_row] + rank[old]
    for key in view.keys():
        if key.startswith('edge_') and key not in ('edge_index', ):
            out[key] = view[key][edge_map]
    if 'edge_pair' in view and edge_map.numel():
        num_pairs = int(view.edge_pair.max()) + 1
        out.edge_pair = torch.unique(view.edge_pair[edge_map] +
                                     edge_row * num_pairs,
                                     return_inverse=True)[1]
    out.num_frames = view.num_frames[index]
    out.y = view.y[index]
    if 'frame_labels' in view:
        frame_ids, _ = _ranges(
            torch.cat([view.num_frames.new_zeros(1),
                       torch.cumsum(view.num_frames, 0)]), index)
        out.frame_labels = view.frame_labels[frame_ids]
    if 'video_index' in view:
        out.video_index = view.video_index[index]
    if 'video_id' in view:
        out.video_id = [view.video_id[i] for i in index.tolist()]
    return out, node_map


class SSGCollater:
    r"""Collates :class:`VideoSceneGraph` objects into one
    :class:`SSGView` (:class:`~torch_geometric.data.Batch` then
    :func:`to_homogeneous`), the collate function of :class:`SSGLoader`.

    Args:
        dataset (Sequence, optional): If given, the collater also accepts
            lists of indices into it (for samplers that yield indices in
            batches). (default: :obj:`None`)
        max_frames (int, optional): Checked for every video
            (:func:`check_max_frames`). (default: :obj:`None`)
    """
    def __init__(self, dataset: Optional[Sequence] = None,
                 max_frames: Optional[int] = None) -> None:
        self.dataset = dataset
        self.max_frames = max_frames

    def __call__(self, items: Sequence) -> SSGView:
        items = list(items)
        if items and not isinstance(items[0], HeteroData):
            items = [self.dataset[int(i)] for i in items]
        return to_homogeneous(Batch.from_data_list(items), self.max_frames)


class SSGLoader(DataLoader):
    r"""A :class:`~torch.utils.data.DataLoader` over
    :class:`VideoSceneGraph` datasets that yields :class:`SSGView` batches,
    the input of every model of :mod:`pyg_proda.models` (use
    :class:`torch_geometric.loader.DataLoader` for batched
    :class:`~torch_geometric.data.HeteroData` instead).

    Args:
        dataset (Dataset): The videos.
        batch_size (int, optional): Videos per batch. (default: :obj:`1`)
        shuffle (bool, optional): Reshuffle every epoch.
            (default: :obj:`False`)
        max_frames (int, optional): Frames the model supports; a longer
            video raises a clear error. (default: :obj:`None`)
        **kwargs (optional): Other :class:`~torch.utils.data.DataLoader`
            arguments (``sampler``, ``num_workers``, ...).

    Example:
        >>> from pyg_proda.datasets import SyntheticSSG
        >>> loader = SSGLoader(SyntheticSSG('/tmp/ssg', num_videos=8),
        ...                    batch_size=4)
        >>> view = next(iter(loader))
        >>> view.num_graphs, view.edge_pair.shape == view.edge_type.shape
        (4, True)
    """
    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 max_frames: Optional[int] = None, **kwargs) -> None:
        kwargs.pop('collate_fn', None)
        super().__init__(dataset, batch_size, shuffle,
                         collate_fn=SSGCollater(dataset, max_frames),
                         **kwargs)
