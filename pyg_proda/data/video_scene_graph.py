r"""The spatio-temporal scene graph (SSG) data model.

One video is one :class:`VideoSceneGraph`, a :class:`~torch_geometric.data.HeteroData`:

* node types ``'person'`` and ``'object'``; a node is one tracked entity in
  one sampled frame, with ``x`` float ``[n, F]``, ``frame`` long ``[n]``
  (position ``0..T-1`` among the sampled frames), ``track`` long ``[n]``
  (identity across frames, unique over both node types within the video),
  ``cls`` long ``[n]`` and ``box`` float ``[n, 4]`` (normalised ``x1, y1, x2,
  y2``);
* edge types from :data:`EDGE_TYPES` (Action Genome's directions, plus
  person-person interactions), each with ``edge_index``, ``edge_attr`` (float
  multi-hot over the group's relation classes) and ``frame`` long ``[e]``;
* graph level: ``y`` float ``[1, C]``, optional ``frame_labels`` float
  ``[T, C]``, ``num_frames`` (T), ``num_tracks`` and ``video_id``.

Batching with :class:`torch_geometric.loader.DataLoader` offsets ``track``
(and any ``*_track`` attribute) by ``num_tracks`` so that tracks of
different videos never collide; frames are kept per video and are told apart by ``(batch, frame)``.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

NODE_TYPES: Tuple[str, str] = ('person', 'object')

#: Canonical edge types, in the order used by the homogeneous view. For
#: Action Genome the concatenation of their relation groups equals the
#: global relation ids of ``relationship_classes.txt``.
EDGE_TYPES: Tuple[Tuple[str, str, str], ...] = (
    ('person', 'attention', 'object'),
    ('object', 'spatial', 'person'),
    ('person', 'contacting', 'object'),
    ('person', 'interaction', 'person'),
)

#: Number of relation classes per Action Genome edge type.
AG_EDGE_DIMS: Dict[Tuple[str, str, str], int] = {
    EDGE_TYPES[0]: 3,
    EDGE_TYPES[1]: 6,
    EDGE_TYPES[2]: 17,
}


class VideoSceneGraph(HeteroData):
    r"""One video as a spatio-temporal scene graph (see the module docs).

    Example:
        >>> from pyg_proda.data import Detection, Relation, build_video_graph
        >>> frames = [[Detection(0, 'person', 0, (0, 0, .5, 1)),
        ...            Detection(1, 'object', 10, (.5, .5, .7, .7))]] * 2
        >>> rels = [[Relation(0, 'contacting', 1, [5])]] * 2
        >>> g = build_video_graph(frames, rels, video_id='v0',
        ...                       y=torch.tensor([1., 0.]), node_dim=4)
        >>> g['person'].num_nodes, g.num_frames
        (2, 2)
    """
    def __inc__(self, key: str, value: Any, store=None, *args,
                **kwargs) -> Any:
        # `track` and graph-level `*_track` attributes (e.g. the tracks of
        # ground-truth actions) are offset so videos never share a track.
        if key == 'track' or key.endswith('_track'):
            return int(self.num_tracks)
        return super().__inc__(key, value, store, *args, **kwargs)


torch.serialization.add_safe_globals([VideoSceneGraph])


@dataclass
class Detection:
    r"""One entity in one frame, the input of :func:`build_video_graph`."""
    track: int
    type: str  # 'person' or 'object'
    cls: int
    box: Sequence[float]  # normalised x1, y1, x2, y2
    x: Optional[Sequence[float]] = None  # precomputed feature, optional


@dataclass
class Relation:
    r"""A relation between two tracks in one frame. ``rel`` is the group
    name (``'attention'``, ``'spatial'``, ``'contacting'`` or
    ``'interaction'``), ``labels`` the in-group class ids. ``src``/``dst``
    are tracks in the direction of :data:`EDGE_TYPES`."""
    src: int
    rel: str
    dst: int
    labels: List[int] = field(default_factory=list)


class SchemaError(ValueError):
    r"""Raised by :func:`validate_video_graph` for a graph that breaks the
    data model."""


def _edge_type_of(rel: str) -> Tuple[str, str, str]:
    for et in EDGE_TYPES:
        if et[1] == rel:
            return et
    raise SchemaError(f"Unknown relation group '{rel}' (expected one of "
                      f"{[et[1] for et in EDGE_TYPES]})")


def geometry_features(box: Tensor, cls: Tensor, num_classes: int) -> Tensor:
    r"""Class one-hot followed by box geometry ``(x1, y1, x2, y2, w, h,
    cx, cy, area)``: the feature used when no visual features exist."""
    box = box.float()
    w = (box[:, 2] - box[:, 0]).clamp(min=0)
    h = (box[:, 3] - box[:, 1]).clamp(min=0)
    geo = torch.stack([w, h, (box[:, 0] + box[:, 2]) / 2,
                       (box[:, 1] + box[:, 3]) / 2, w * h], dim=-1)
    onehot = torch.nn.functional.one_hot(cls, num_classes).float()
    return torch.cat([onehot, box, geo], dim=-1)


EdgeType = Tuple[str, str, str]


def make_video_graph(
    *,
    video_id: str,
    y: Tensor,
    num_frames: int,
    nodes: Dict[str, Dict[str, Tensor]],
    edges: Dict[EdgeType, Dict[str, Tensor]],
    num_tracks: Optional[int] = None,
    frame_labels: Optional[Tensor] = None,
    **graph_attrs: Any,
) -> VideoSceneGraph:
    r"""Builds and validates a :class:`VideoSceneGraph` from tensors: the one
    graph builder behind every dataset (:func:`build_video_graph` turns
    per-frame objects into these tensors first).

    Args:
        video_id (str): The video's id.
        y (Tensor): Multi-hot video labels ``[C]`` or ``[1, C]``.
        num_frames (int): Number of frames ``T``.
        nodes (dict): Node type -> ``{'x', 'frame', 'track', 'cls',
            'box'}`` tensors. A missing node type gets an empty store with
            the feature size of the other.
        edges (dict): Edge type -> ``{'edge_index', 'edge_attr'}`` and
            optionally ``'frame'`` (default: the frame of the source node)
            and further edge-level tensors (e.g. per-pair targets).
        num_tracks (int, optional): Number of tracks. (default: one more
            than the largest track)
        frame_labels (Tensor, optional): ``[T, C]`` per-frame labels.
        **graph_attrs (optional): Further graph-level attributes
            (``frame_ids``, ``action_cls``, ...).

    Raises:
        SchemaError: as :func:`validate_video_graph`, naming the video.

    Example:
        >>> g = make_video_graph(
        ...     video_id='v', y=torch.tensor([1., 0.]), num_frames=1,
        ...     nodes={'person': dict(x=torch.zeros(1, 4),
        ...                           frame=torch.zeros(1, dtype=torch.long),
        ...                           track=torch.zeros(1, dtype=torch.long),
        ...                           cls=torch.zeros(1, dtype=torch.long),
        ...                           box=torch.zeros(1, 4))},
        ...     edges={})
        >>> g['object'].num_nodes, g.num_tracks
        (0, 1)
    """
    data = VideoSceneGraph()
    dims = {int(n['x'].size(-1)) for n in nodes.values() if 'x' in n}
    dim = max(dims) if dims else 0
    for node_type in NODE_TYPES:
        store = nodes.get(node_type)
        if store is None:
            store = dict(x=torch.zeros(0, dim), box=torch.zeros(0, 4),
                         **{k: torch.zeros(0, dtype=torch.long)
                            for k in ('frame', 'track', 'cls')})
        for key, value in store.items():
            data[node_type][key] = value
    for et, store in edges.items():
        for key, value in store.items():
            data[et][key] = value
        if 'frame' not in store:
            data[et].frame = data[et[0]].frame[store['edge_index'][0]]
    data.y = torch.as_tensor(y, dtype=torch.float).view(1, -1)
    if frame_labels is not None:
        data.frame_labels = torch.as_tensor(frame_labels, dtype=torch.float)
    for key, value in graph_attrs.items():
        data[key] = value
    data.num_frames = int(num_frames)
    if num_tracks is None:
        tracks = [data[nt].track for nt in NODE_TYPES
                  if data[nt].track.numel()]
        num_tracks = int(torch.cat(tracks).max()) + 1 if tracks else 0
    data.num_tracks = int(num_tracks)
    data.video_id = video_id
    validate_video_graph(data)
    return data


def build_video_graph(
    frames: Sequence[Sequence[Detection]],
    relations: Sequence[Sequence[Relation]],
    *,
    video_id: str,
    y: Tensor,
    edge_dims: Optional[Dict[Tuple[str, str, str], int]] = None,
    frame_labels: Optional[Tensor] = None,
    node_dim: Optional[int] = None,
    num_classes: int = 36,
) -> VideoSceneGraph:
    r"""Builds a :class:`VideoSceneGraph` from per-frame detections and
    relations.

    Args:
        frames (list): ``frames[t]`` lists the :class:`Detection` objects of
            sampled frame ``t``; a track appears at most once per frame.
        relations (list): ``relations[t]`` lists the :class:`Relation`
            objects of frame ``t``.
        video_id (str): The video's id.
        y (Tensor): Multi-hot video labels ``[C]`` or ``[1, C]``.
        edge_dims (dict, optional): Number of relation classes per edge type;
            the edge types created. (default: :data:`AG_EDGE_DIMS`)
        frame_labels (Tensor, optional): ``[T, C]`` per-frame labels.
        node_dim (int, optional): Feature size ``F``. Detections without
            ``x`` get :func:`geometry_features` (``num_classes + 9``
            values) padded or cut to ``F``. (default: :obj:`None`)
        num_classes (int): Size of the class one-hot of the geometry
            features. (default: :obj:`36`)

    Raises:
        SchemaError: if a relation names a track that is not in its frame,
            a track is repeated in a frame, or a label is out of range.
    """
    edge_dims = dict(AG_EDGE_DIMS if edge_dims is None else edge_dims)
    per_type: Dict[str, Dict[str, list]] = {
        t: {'frame': [], 'track': [], 'cls': [], 'box': [], 'x': []}
        for t in NODE_TYPES
    }
    local: List[Dict[int, Tuple[str, int]]] = []  # frame -> track -> node
    for t, dets in enumerate(frames):
        index: Dict[int, Tuple[str, int]] = {}
        for det in dets:
            if det.type not in NODE_TYPES:
                raise SchemaError(f"Video '{video_id}', frame {t}: unknown "
                                  f"node type '{det.type}'")
            if det.track in index:
                raise SchemaError(f"Video '{video_id}', frame {t}: track "
                                  f"{det.track} appears twice")
            store = per_type[det.type]
            index[det.track] = (det.type, len(store['frame']))
            store['frame'].append(t)
            store['track'].append(det.track)
            store['cls'].append(det.cls)
            store['box'].append(list(det.box))
            store['x'].append(det.x)
        local.append(index)

    nodes: Dict[str, Dict[str, Tensor]] = {}
    for node_type, store in per_type.items():
        n = len(store['frame'])
        box = torch.tensor(store['box'], dtype=torch.float).view(n, 4)
        cls = torch.tensor(store['cls'], dtype=torch.long)
        if n > 0 and store['x'][0] is not None:
            x = torch.tensor(store['x'], dtype=torch.float)
        else:
            x = geometry_features(box, cls, num_classes)
        if node_dim is not None and x.size(-1) != node_dim:
            x = torch.nn.functional.pad(x, (0, max(0, node_dim - x.size(-1))))
            x = x[:, :node_dim]
        nodes[node_type] = dict(
            x=x, frame=torch.tensor(store['frame'], dtype=torch.long),
            track=torch.tensor(store['track'], dtype=torch.long), cls=cls,
            box=box)

    edges: Dict[Tuple[str, str, str], Dict[str, list]] = {
        et: {'src': [], 'dst': [], 'attr': [], 'frame': []}
        for et in edge_dims
    }
    for t, rels in enumerate(relations):
        for rel in rels:
            et = _edge_type_of(rel.rel)
            if et not in edges:
                raise SchemaError(f"Video '{video_id}', frame {t}: relation "
                                  f"group '{rel.rel}' is not in edge_dims")
            ends = []
            for track, want in ((rel.src, et[0]), (rel.dst, et[2])):
                if track not in local[t] or local[t][track][0] != want:
                    raise SchemaError(
                        f"Video '{video_id}', frame {t}: relation "
                        f"'{rel.rel}' needs a {want} with track {track}")
                ends.append(local[t][track][1])
            attr = [0.0] * edge_dims[et]
            for label in rel.labels:
                if not 0 <= label < edge_dims[et]:
                    raise SchemaError(
                        f"Video '{video_id}', frame {t}: label {label} out "
                        f"of range for '{rel.rel}' ({edge_dims[et]} classes)")
                attr[label] = 1.0
            store = edges[et]
            store['src'].append(ends[0])
            store['dst'].append(ends[1])
            store['attr'].append(attr)
            store['frame'].append(t)
    edge_tensors = {}
    for et, store in edges.items():
        e = len(store['src'])
        edge_tensors[et] = dict(
            edge_index=torch.tensor([store['src'], store['dst']],
                                    dtype=torch.long).view(2, e),
            edge_attr=torch.tensor(store['attr'], dtype=torch.float).view(
                e, edge_dims[et]),
            frame=torch.tensor(store['frame'], dtype=torch.long))
    return make_video_graph(video_id=video_id, y=y, num_frames=len(frames),
                            nodes=nodes, edges=edge_tensors,
                            frame_labels=frame_labels)


def validate_video_graph(data: HeteroData) -> None:
    r"""Checks a single (unbatched) graph against the data model.

    Raises:
        SchemaError: naming the video, the store and the attribute that is
            missing, has the wrong dtype or shape, or is out of range.
    """
    vid = getattr(data, 'video_id', '<no video_id>')

    def fail(msg: str) -> None:
        raise SchemaError(f"Video '{vid}': {msg}")

    for attr in ('y', 'num_frames', 'num_tracks', 'video_id'):
        if attr not in data:
            fail(f"missing graph attribute '{attr}'")
    T = int(data.num_frames)
    if data.y.dim() != 2 or data.y.size(0) != 1 or data.y.is_floating_point() is False:
        fail(f"'y' must be float [1, C], got {tuple(data.y.shape)} "
             f"{data.y.dtype}")
    C = data.y.size(1)
    if 'frame_labels' in data and tuple(data.frame_labels.shape) != (T, C):
        fail(f"'frame_labels' must be [{T}, {C}], got "
             f"{tuple(data.frame_labels.shape)}")
    if 'frame_ids' in data and tuple(data.frame_ids.shape) != (T, ):
        fail(f"'frame_ids' must be [{T}], got {tuple(data.frame_ids.shape)}")
    dims = set()
    tracks = []
    for node_type in NODE_TYPES:
        if node_type not in data.node_types:
            fail(f"missing node type '{node_type}'")
        store = data[node_type]
        for attr in ('x', 'frame', 'track', 'cls', 'box'):
            if attr not in store:
                fail(f"node type '{node_type}' misses '{attr}'")
        n = store.x.size(0)
        if not store.x.is_floating_point() or store.x.dim() != 2:
            fail(f"'{node_type}.x' must be float [n, F]")
        dims.add(store.x.size(1))
        for attr in ('frame', 'track', 'cls'):
            v = store[attr]
            if v.dtype != torch.long or tuple(v.shape) != (n, ):
                fail(f"'{node_type}.{attr}' must be long [{n}], got "
                     f"{tuple(v.shape)} {v.dtype}")
        if tuple(store.box.shape) != (n, 4):
            fail(f"'{node_type}.box' must be [{n}, 4]")
        if n and (store.frame.min() < 0 or store.frame.max() >= T):
            fail(f"'{node_type}.frame' outside 0..{T - 1}")
        if n and (store.track.min() < 0
                  or store.track.max() >= int(data.num_tracks)):
            fail(f"'{node_type}.track' outside 0..num_tracks-1")
        tracks.append(store.track * T + store.frame)
    if len(dims) > 1:
        fail(f"'x' of person and object must have the same size, got {dims}")
    keys = torch.cat(tracks)
    if keys.numel() != keys.unique().numel():
        fail("a track appears twice in one frame (tracks must be unique "
             "over both node types)")
    for et in data.edge_types:
        if et not in EDGE_TYPES:
            fail(f"unknown edge type {et}")
        store = data[et]
        for attr in ('edge_index', 'edge_attr', 'frame'):
            if attr not in store:
                fail(f"edge type {et} misses '{attr}'")
        e = store.edge_index.size(1)
        if store.edge_attr.size(0) != e or store.frame.numel() != e:
            fail(f"edge type {et}: edge_attr/frame do not match "
                 f"edge_index ({e} edges)")
        for key, value in store.items():
            if key != 'edge_index' and isinstance(value, Tensor) and (
                    value.dim() == 0 or value.size(0) != e):
                fail(f"edge type {et}: '{key}' must have one row per edge "
                     f"({e}), got {tuple(value.shape)}")
        if e == 0:
            continue
        src, dst = store.edge_index
        ns, nd = data[et[0]].num_nodes, data[et[2]].num_nodes
        if src.max() >= ns or dst.max() >= nd or store.edge_index.min() < 0:
            fail(f"edge type {et}: edge_index out of range")
        if not (torch.equal(data[et[0]].frame[src], store.frame)
                and torch.equal(data[et[2]].frame[dst], store.frame)):
            fail(f"edge type {et}: relations must join nodes of their own "
                 f"frame")
