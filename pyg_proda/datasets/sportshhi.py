r"""SportsHHI (human-human interactions in basketball and volleyball) as the
paper's task: **interaction classification with ground-truth boxes given**.

Every keyframe's annotated persons are the nodes; every ordered pair of
distinct persons of a keyframe is a *candidate* edge whose input features
depend on the two boxes only (:func:`pair_geometry`); what the pair does is
a separate per-edge target. File formats: ``formats.md`` §3 of the
reference (read by :mod:`pyg_proda.io.sportshhi`); metrics:
:func:`pyg_proda.metrics.interaction_map`.
"""
import logging
import os.path as osp
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from pyg_proda.data.video_scene_graph import (
    VideoSceneGraph,
    geometry_features,
    make_video_graph,
)
from pyg_proda.datasets.base import SSGInMemoryDataset
from pyg_proda.io.sportshhi import (
    SPORTSHHI_EVALUATED,
    SPORTSHHI_EXCLUDED,
    SportsHHIRow,
    image_key,
    read_label_map,
    read_sportshhi_csv,
)

logger = logging.getLogger(__name__)

#: The edge type of the candidate pairs.
INTERACTION = ('person', 'interaction', 'person')
#: Names of the columns of :func:`pair_geometry`.
PAIR_FEATURES: Tuple[str, ...] = ('candidate', 'dx', 'dy', 'distance',
                                  'log_w_ratio', 'log_h_ratio', 'iou')


def pair_geometry(box_src: Tensor, box_dst: Tensor) -> Tensor:
    r"""Label-free relation features of ordered candidate pairs, from the
    two boxes only (:data:`PAIR_FEATURES`):

    .. math::
        \mathbf{r}_{ij} = \big[1,\; \Delta x,\; \Delta y,\;
        \sqrt{\Delta x^2 + \Delta y^2},\; \log\tfrac{w_j}{w_i},\;
        \log\tfrac{h_j}{h_i},\; \mathrm{IoU}(b_i, b_j)\big]

    with :math:`(\Delta x, \Delta y)` the centre of :math:`b_j` minus the
    centre of :math:`b_i` (normalised coordinates) and the log-ratios
    clamped to :math:`[-3, 3]`. :math:`\mathbf{r}_{ji}` differs from
    :math:`\mathbf{r}_{ij}` in the signs of the offsets and log-ratios, so
    the direction of a pair is part of its input.

    Args:
        box_src (Tensor): Boxes of the first persons ``[E, 4]`` (``xyxy``).
        box_dst (Tensor): Boxes of the second persons ``[E, 4]``.

    Returns:
        Tensor: ``[E, 7]``.

    Raises:
        ValueError: if the shapes differ or are not ``[E, 4]``.

    Example:
        >>> a = torch.tensor([[0., 0., .2, .4]])
        >>> b = torch.tensor([[.2, 0., .4, .4]])
        >>> [round(v, 4) for v in pair_geometry(a, b)[0].tolist()]
        [1.0, 0.2, 0.0, 0.2, 0.0, 0.0, 0.0]
    """
    if box_src.shape != box_dst.shape or box_src.dim() != 2 or \
            box_src.size(-1) != 4:
        raise ValueError(f"pair_geometry: expected two [E, 4] box tensors, "
                         f"got {tuple(box_src.shape)} and "
                         f"{tuple(box_dst.shape)}")
    a, b = box_src.float(), box_dst.float()
    wa = (a[:, 2] - a[:, 0]).clamp(min=1e-3)
    ha = (a[:, 3] - a[:, 1]).clamp(min=1e-3)
    wb = (b[:, 2] - b[:, 0]).clamp(min=1e-3)
    hb = (b[:, 3] - b[:, 1]).clamp(min=1e-3)
    dx = (b[:, 0] + b[:, 2] - a[:, 0] - a[:, 2]) / 2
    dy = (b[:, 1] + b[:, 3] - a[:, 1] - a[:, 3]) / 2
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    union = wa * ha + wb * hb - inter
    iou = inter / union.clamp(min=1e-6)
    return torch.stack([
        torch.ones_like(dx), dx, dy, (dx * dx + dy * dy).sqrt(),
        (wb / wa).log().clamp(-3, 3), (hb / ha).log().clamp(-3, 3), iou
    ], dim=-1)


def candidate_pairs(frame: Tensor, self_pairs: bool = False) -> Tensor:
    r"""Every ordered pair of nodes that share a frame, sorted by frame,
    then first node, then second node.

    Args:
        frame (Tensor): Frame of every node ``[N]``.
        self_pairs (bool, optional): Also pair every node with itself (the
            official evaluator's candidate generation includes
            :math:`(i, i)`). (default: :obj:`False`)

    Returns:
        Tensor: ``[2, E]`` with :math:`E = \sum_t n_t (n_t - 1)` (or
        :math:`\sum_t n_t^2` with self-pairs).

    Example:
        >>> candidate_pairs(torch.tensor([0, 0, 1, 0])).tolist()
        [[0, 0, 1, 1, 3, 3], [1, 3, 0, 3, 0, 1]]
    """
    frame = frame.long().view(-1)
    N = frame.numel()
    if N == 0:
        return frame.new_zeros(2, 0)
    # Nodes grouped by frame (stable: by node id inside a frame).
    perm = torch.sort(frame, stable=True).indices  # [N]
    count = torch.bincount(frame)  # nodes per frame
    start = torch.cumsum(count, 0) - count
    size = count[frame[perm]]  # group size of every sorted node
    # Every sorted node paired with every member of its group.
    src = perm.repeat_interleave(size)
    first = torch.cumsum(size, 0) - size
    pos = torch.arange(src.numel()) - first.repeat_interleave(size)
    dst = perm[start[frame[src]] + pos]
    if not self_pairs:
        keep = src != dst
        src, dst = src[keep], dst[keep]
    key = (frame[src] * N + src) * N + dst
    order = torch.sort(key).indices
    return torch.stack([src[order], dst[order]], dim=0)


def hhi_video_graph(
    *,
    video_id: str,
    num_frames: int,
    x: Tensor,
    box: Tensor,
    frame: Tensor,
    track: Tensor,
    num_classes: int,
    labels: Optional[Tensor] = None,
    self_pairs: bool = False,
    num_tracks: Optional[int] = None,
    **graph_attrs,
) -> VideoSceneGraph:
    r"""The one SportsHHI-shaped graph layout, built through
    :func:`~pyg_proda.data.video_scene_graph.make_video_graph` (used by
    :class:`SportsHHI` and :class:`~pyg_proda.datasets.SyntheticHHI`).

    * ``person`` nodes: one per person and keyframe (``x``, ``frame``,
      ``track``, ``cls = 0``, ``box``); the ``object`` store is empty.
    * ``('person', 'interaction', 'person')`` edges: the
      :func:`candidate_pairs` of every keyframe, with ``edge_attr`` the
      :func:`pair_geometry` of the two boxes (**no label**) and the
      per-pair multi-hot targets as the separate edge-level tensor
      ``target`` ``[E, C]`` (``edge_target`` in the
      :class:`~pyg_proda.data.SSGView`).
    * ``y`` ``[1, C]`` (the OR of the pair targets) and ``frame_labels``
      ``[T, C]`` (their OR per keyframe): targets only.

    Args:
        video_id (str): The video.
        num_frames (int): Keyframes ``T``.
        x (Tensor): Node features ``[N, F]``.
        box (Tensor): Boxes ``[N, 4]``.
        frame (Tensor): Keyframe of every node ``[N]``.
        track (Tensor): Person identity of every node ``[N]``.
        num_classes (int): Interaction classes ``C``.
        labels (Tensor, optional): Positive ``(first node, second node,
            class)`` rows ``[L, 3]``. (default: :obj:`None`)
        self_pairs (bool, optional): See :func:`candidate_pairs`.
            (default: :obj:`False`)
        num_tracks (int, optional): Number of tracks.
        **graph_attrs (optional): Further graph-level attributes.

    Raises:
        ValueError: if a labelled pair is not a candidate (different
            keyframes, or a self-pair with :obj:`self_pairs=False`) or a
            class is out of range.
        SchemaError: from :func:`make_video_graph`.

    Example:
        >>> box = torch.tensor([[0., 0., .2, .4], [.5, 0., .7, .4]])
        >>> g = hhi_video_graph(
        ...     video_id='v', num_frames=1, x=torch.zeros(2, 3), box=box,
        ...     frame=torch.zeros(2, dtype=torch.long),
        ...     track=torch.arange(2), num_classes=4,
        ...     labels=torch.tensor([[1, 0, 2]]))
        >>> e = g['person', 'interaction', 'person']
        >>> e.edge_index.tolist(), e.target.nonzero().tolist()
        ([[0, 1], [1, 0]], [[1, 2]])
    """
    frame = frame.long()
    T, N, C = int(num_frames), int(frame.numel()), int(num_classes)
    edge_index = candidate_pairs(frame, self_pairs)
    src, dst = edge_index
    target = torch.zeros(edge_index.size(1), C)
    if labels is not None and labels.numel() > 0:
        labels = labels.long().view(-1, 3)
        if labels[:, 2].min() < 0 or labels[:, 2].max() >= C:
            raise ValueError(f"Video '{video_id}': a pair label is outside "
                             f"0..{C - 1}")
        # The candidate edge of every label: candidates are sorted by
        # (frame, src, dst), so their (src, dst) keys are searched after a
        # sort.
        cand_key, perm = torch.sort(src * N + dst)
        key = labels[:, 0] * N + labels[:, 1]
        if cand_key.numel() == 0:
            found, edge = torch.zeros_like(key, dtype=torch.bool), key
        else:
            pos = torch.searchsorted(cand_key, key).clamp(
                max=cand_key.numel() - 1)
            found, edge = cand_key[pos] == key, perm[pos]
        bad = (~found).nonzero().view(-1)
        if bad.numel():
            i, j = labels[bad[0], :2].tolist()
            raise ValueError(
                f"Video '{video_id}': labelled pair ({i}, {j}) is not a "
                f"candidate (nodes of keyframes {int(frame[i])} and "
                f"{int(frame[j])}; self_pairs={self_pairs})")
        target[edge, labels[:, 2]] = 1.0
    edge_frame = frame[src]
    frame_labels = scatter(target, edge_frame, 0, T, 'max')  # [T, C]
    person = dict(x=x.float(), frame=frame, track=track.long(),
                  cls=torch.zeros(N, dtype=torch.long), box=box.float())
    edges = {INTERACTION: dict(edge_index=edge_index,
                               edge_attr=pair_geometry(box[src], box[dst]),
                               frame=edge_frame, target=target)}
    return make_video_graph(video_id=video_id, y=frame_labels.amax(dim=0),
                            num_frames=T, nodes={'person': person},
                            edges=edges, num_tracks=num_tracks,
                            frame_labels=frame_labels, **graph_attrs)


class SportsHHI(SSGInMemoryDataset):
    r"""SportsHHI interaction classification with ground-truth boxes given,
    one :class:`~pyg_proda.data.VideoSceneGraph` per video whose frames are
    the annotated keyframes (``timestamp = frame_id // 5``, sorted).

    Raw files, under ``root/raw/annotations/``: ``sports_train_v1.csv``,
    ``sports_val_v1.csv`` (13 columns, no header; read by
    :func:`~pyg_proda.io.sportshhi.read_sportshhi_csv`) and
    ``sports_action_list.pbtxt``.

    **Graphs** (:func:`hhi_video_graph`). The persons of a keyframe are all
    persons of its annotation rows, **whatever their class** (rows of the 6
    classes left out of the evaluation included), so the input graph never
    depends on a label. With ``track_by='id'`` a person is identified by the
    pair ids ``p1_id``/``p2_id`` and one id is one track within the video;
    with ``track_by='box'`` (the official loader's notion) a person is a
    distinct box, deduplicated by exact coordinate equality. The candidate
    edges are every ordered pair of distinct persons of the keyframe (the
    reversed pair is another candidate), with the box-geometry features of
    :func:`pair_geometry`; each row of the CSV sets one class of its ordered
    pair in the edge-level ``target`` ``[E, C]``. ``x`` is the geometry
    feature of the box (``[1, x1, y1, x2, y2, w, h, cx, cy, area]``);
    ``y`` ``[1, C]`` and ``frame_labels`` ``[T, C]`` are the OR of the
    targets per video and per keyframe, ``frame_ids`` ``[T]`` the keyframe
    timestamps. Videos whose rows all belong to excluded classes are kept
    (all their candidates are negatives): dropping them would make the input
    depend on the labels.

    **Self-pairs.** The official evaluator's candidates include
    :math:`(i, i)`; an interaction of a person with itself is not one, so by
    default no self-pair is a candidate (equivalent to scoring them below
    the evaluator's 0.002 threshold). A row whose two persons are the same
    is then counted in :attr:`process_stats` (``self_pair_rows``), logged
    with its file and line, and left out of the targets; with
    ``self_pairs=True`` every person also gets a self-pair candidate and
    such rows are kept.

    By default the 28 evaluated classes (:data:`SPORTSHHI_EVALUATED`) are
    the label space (rows of the 6 others give no target; counted as
    ``rows_with_excluded_class``); ``all_classes=True`` keeps the 34
    (class ``id - 1``) and :attr:`evaluated_classes` names the 28 to score.

    Args:
        root (str): Root directory; raw files in ``root/raw/annotations``.
        split (str): ``'train'`` or ``'val'``. (default: :obj:`'train'`)
        all_classes (bool): Use all 34 classes instead of the 28 evaluated
            ones. (default: :obj:`False`)
        track_by (str): ``'id'`` or ``'box'`` (see above).
            (default: :obj:`'id'`)
        self_pairs (bool): Self-pair candidates (see above).
            (default: :obj:`False`)
        num_frames (int, optional): If set, keyframes are sub-sampled with
            :class:`~pyg_proda.data.transforms.SampleFrames` (random when
            training, uniform for ``'val'``). (default: :obj:`None`)
        seed (int, optional): Seed of the random sampling.
            (default: :obj:`None`)
        transform (callable, optional): Applied to each sample (after the
            frame sampling). (default: :obj:`None`)
        pre_transform (callable, optional): Applied once when processing.
            (default: :obj:`None`)
        pre_filter (callable, optional): Filters graphs when processing.
            (default: :obj:`None`)
        force_reload (bool): Reprocess even if processed files exist.
            (default: :obj:`False`)
        log (bool): Print PyG's processing messages. (default: :obj:`True`)

    Raises:
        FileNotFoundError: listing the missing raw files and where they go.
        ValueError: naming the file and line of malformed rows (from
            :func:`~pyg_proda.io.sportshhi.read_sportshhi_csv`: a row
            without 13 columns, a field that is not a number, an unknown
            action id, a duplicated ordered pair in one keyframe; here: with
            ``track_by='id'``, one person id with two boxes in one
            keyframe), a label map missing a class of the label space, or a
            split without any video.

    Example:
        >>> dataset = SportsHHI('datasets/sportshhi',
        ...                     split='val')  # doctest: +SKIP
        >>> g = dataset[0]['person', 'interaction', 'person']  # doctest: +SKIP
        >>> g.edge_attr.size(1), g.target.size(1)  # doctest: +SKIP
        (7, 28)
    """
    splits = ('train', 'val')
    #: Version of the graph layout; part of the processed file name.
    version: int = 2

    def __init__(
        self,
        root: str,
        split: str = 'train',
        all_classes: bool = False,
        track_by: str = 'id',
        self_pairs: bool = False,
        num_frames: Optional[int] = None,
        seed: Optional[int] = None,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        pre_filter: Optional[Callable] = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        if split not in self.splits:
            raise ValueError(f"split must be one of {self.splits}, got "
                             f"'{split}'")
        if track_by not in ('id', 'box'):
            raise ValueError(f"track_by must be 'id' or 'box', got "
                             f"'{track_by}'")
        self.split = split
        self.all_classes = all_classes
        self.track_by = track_by
        self.self_pairs = self_pairs
        self.process_stats = None
        self._pre_repr = (repr(pre_transform), repr(pre_filter))
        transform = self.frame_sampling(transform, num_frames,
                                        split == 'train', seed)
        super().__init__(root, transform, pre_transform, pre_filter,
                         log=log, force_reload=force_reload)
        self.load_split(self.splits.index(split))

    @property
    def raw_file_names(self) -> List[str]:
        return ['annotations/sports_train_v1.csv',
                'annotations/sports_val_v1.csv',
                'annotations/sports_action_list.pbtxt']

    @property
    def processed_file_names(self) -> List[str]:
        tag = self.options_tag({'version': self.version,
                                'all_classes': self.all_classes,
                                'track_by': self.track_by,
                                'self_pairs': self.self_pairs,
                                'pre': self._pre_repr})
        return [f'{s}_{tag}.pt' for s in self.splits]

    @property
    def class_ids(self) -> Tuple[int, ...]:
        r"""The 1-based interaction ids of the label space, in order."""
        return tuple(range(1, 35)) if self.all_classes else SPORTSHHI_EVALUATED

    @property
    def num_classes(self) -> int:
        r"""Size of the label space (28, or 34 with ``all_classes``)."""
        return len(self.class_ids)

    @property
    def evaluated_classes(self) -> List[int]:
        r"""Positions in the label space of the 28 classes the official
        evaluator scores (the ``classes`` of
        :func:`~pyg_proda.metrics.interaction_map`)."""
        return [i for i, cid in enumerate(self.class_ids)
                if cid in SPORTSHHI_EVALUATED]

    def download(self) -> None:
        raise self.missing_raw_files(
            'SportsHHI (a gated download, CC BY-NC 4.0)',
            f"Place the files of the official 'annotations' folder in "
            f"'{osp.join(self.raw_dir, 'annotations')}'")

    def process(self) -> None:
        ann = osp.join(self.raw_dir, 'annotations')
        map_path = osp.join(ann, 'sports_action_list.pbtxt')
        label_map = read_label_map(map_path)
        missing = [i for i in self.class_ids if i not in label_map]
        if missing:
            raise ValueError(f"'{map_path}' does not define interaction "
                             f"id(s) {missing}")
        stats: Dict[str, int] = defaultdict(int, {
            k: 0 for k in ('rows', 'rows_with_excluded_class',
                           'self_pair_rows', 'keyframes', 'persons',
                           'candidates')})
        outputs = []
        for split in self.splits:
            csv_path = osp.join(ann, f'sports_{split}_v1.csv')
            rows = read_sportshhi_csv(csv_path, label_map)
            videos: Dict[str, Dict[int, List[SportsHHIRow]]] = defaultdict(
                lambda: defaultdict(list))
            for row in rows:
                videos[row.video_id][row.timestamp].append(row)
            out = self.finish((self._build(csv_path, vid, videos[vid], stats)
                               for vid in sorted(videos)), stats)
            if not out:
                raise ValueError(f"'{csv_path}' gives no video (empty file, "
                                 f"or every video was filtered out?)")
            stats[f'{split}_videos'] = len(out)
            outputs.append(out)
        if stats['rows_with_excluded_class']:
            logger.info('%d row(s) of the %d interaction classes left out of '
                        'the evaluation give no target (all_classes=False); '
                        'their persons stay candidates',
                        stats['rows_with_excluded_class'],
                        len(SPORTSHHI_EXCLUDED))
        self.save_stats(stats)
        for out, path in zip(outputs, self.processed_paths):
            self.save(out, path)  # atomic, see SSGInMemoryDataset

    def _build(self, path: str, vid: str,
               keyframes: Dict[int, List[SportsHHIRow]],
               stats: Dict[str, int]) -> VideoSceneGraph:
        index = {cid: i for i, cid in enumerate(self.class_ids)}
        tracks: Dict = {}
        p_frame: List[int] = []
        p_track: List[int] = []
        p_box: List[Sequence[float]] = []
        labels: List[Tuple[int, int, int]] = []
        timestamps = sorted(keyframes)
        for t, ts in enumerate(timestamps):
            nodes: Dict = {}  # person key -> (node index, box, line)
            for row in keyframes[ts]:
                ends = []
                keys = ((row.p1_id, row.p2_id) if self.track_by == 'id' else
                        (row.box1, row.box2))
                for key, box in zip(keys, (row.box1, row.box2)):
                    if key in nodes:
                        node, known, first = nodes[key]
                        if known != box:
                            raise ValueError(
                                f"'{path}', line {row.line}: person id {key} "
                                f"has another box than on line {first} in "
                                f"keyframe '{image_key(vid, ts)}' (use "
                                f"track_by='box' if the ids are not person "
                                f"identities)")
                    else:
                        node = len(p_frame)
                        nodes[key] = (node, box, row.line)
                        p_frame.append(t)
                        p_track.append(tracks.setdefault(key, len(tracks)))
                        p_box.append(box)
                    ends.append(node)
                stats['rows'] += 1
                if row.action_id not in index:
                    stats['rows_with_excluded_class'] += 1
                    continue
                if ends[0] == ends[1] and not self.self_pairs:
                    if stats['self_pair_rows'] == 0:
                        logger.warning(
                            "'%s', line %d: persons 1 and 2 are the same "
                            "person; self-pairs are not candidates "
                            "(self_pairs=False), so the row gives no target",
                            path, row.line)
                    stats['self_pair_rows'] += 1
                    continue
                labels.append((ends[0], ends[1], index[row.action_id]))
            stats['keyframes'] += 1
            stats['persons'] += len(nodes)

        box = torch.tensor(p_box, dtype=torch.float).view(-1, 4).clamp(0, 1)
        cls = torch.zeros(box.size(0), dtype=torch.long)
        data = hhi_video_graph(
            video_id=vid, num_frames=len(timestamps),
            x=geometry_features(box, cls, 1), box=box,
            frame=torch.tensor(p_frame, dtype=torch.long),
            track=torch.tensor(p_track, dtype=torch.long),
            num_classes=len(self.class_ids),
            labels=torch.tensor(labels, dtype=torch.long).view(-1, 3),
            self_pairs=self.self_pairs, num_tracks=len(tracks),
            frame_ids=torch.tensor(timestamps, dtype=torch.long))
        stats['candidates'] += data[INTERACTION].num_edges
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self)}, split={self.split})'


__all__ = ['INTERACTION', 'PAIR_FEATURES', 'SPORTSHHI_EVALUATED',
           'SPORTSHHI_EXCLUDED', 'SportsHHI', 'candidate_pairs',
           'hhi_video_graph', 'pair_geometry', 'read_label_map']
