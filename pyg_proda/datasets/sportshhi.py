r"""SportsHHI (human-human interactions in basketball and volleyball) as
person-person spatio-temporal scene graphs.

File formats: ``formats.md`` §3 of the reference.
"""
import csv
import hashlib
import json
import logging
import os.path as osp
import re
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Tuple

import torch

from pyg_proda.data.video_scene_graph import VideoSceneGraph, geometry_features
from pyg_proda.datasets.action_genome import write_json_atomic
from pyg_proda.datasets.base import SSGInMemoryDataset

logger = logging.getLogger(__name__)

#: Interaction ids (1-based) left out of the official evaluation.
SPORTSHHI_EXCLUDED: Tuple[int, ...] = (1, 4, 7, 12, 20, 30)
#: The 28 evaluated interaction ids, in order; class ``i`` of the 28-way
#: label space is ``SPORTSHHI_EVALUATED[i]``.
SPORTSHHI_EVALUATED: Tuple[int, ...] = tuple(
    i for i in range(1, 35) if i not in SPORTSHHI_EXCLUDED)

_INTERACTION = ('person', 'interaction', 'person')
_NUM_COLUMNS = 13


def read_label_map(path: str) -> Dict[int, str]:
    r"""Reads ``sports_action_list.pbtxt`` the way the official line-based
    parser does: a name from lines that start with exactly two spaces and
    ``name:`` (text between the first pair of double quotes), an id from
    lines that start with two spaces and ``id:`` or ``label_id:``.

    Returns:
        dict: 1-based interaction id -> name.

    Raises:
        ValueError: naming the file and line of an id without a name, a
            repeated id, or a file without any class.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"Label map '{path}' does not exist")
    out: Dict[int, str] = {}
    name: Optional[str] = None
    with open(path, encoding='utf-8-sig') as f:
        for i, line in enumerate(f.read().splitlines(), start=1):
            if re.match(r'^  (?! )name:', line):
                m = re.search(r'"([^"]*)"', line)
                name = m.group(1) if m else line.split(':', 1)[1].strip()
            elif re.match(r'^  (?! )(label_)?id:', line):
                try:
                    cid = int(line.split()[-1])
                except ValueError:
                    raise ValueError(f"'{path}', line {i}: id is not an "
                                     f"integer: {line.strip()!r}") from None
                if name is None:
                    raise ValueError(f"'{path}', line {i}: id {cid} has no "
                                     f"preceding 'name:' line")
                if cid in out:
                    raise ValueError(f"'{path}', line {i}: id {cid} appears "
                                     f"twice")
                out[cid] = name
                name = None
    if not out:
        raise ValueError(f"'{path}' defines no class (expected two-space "
                         f"indented 'name:' and 'label_id:' lines)")
    return out


class SportsHHI(SSGInMemoryDataset):
    r"""SportsHHI interactions, one
    :class:`~pyg_proda.data.VideoSceneGraph` per video whose frames are the
    annotated keyframes (``timestamp = frame_id // 5``, sorted).

    Raw files, under ``root/raw/annotations/``: ``sports_train_v1.csv``,
    ``sports_val_v1.csv`` (13 columns, no header: ``video_id, frame_id``,
    the two persons' normalised ``x1, y1, x2, y2``, ``action_id`` (1..34),
    ``p1_id, p2_id``) and ``sports_action_list.pbtxt``.

    Graphs: one ``person`` node per person and keyframe; the ``object``
    store exists but is empty. With ``track_by='id'`` a person is identified
    by the pair ids ``p1_id``/``p2_id`` and one id is one track within the
    video; with ``track_by='box'`` (the official loader's notion) a person is
    a distinct box, deduplicated by exact coordinate equality. Every row is
    one directed edge ``(person, interaction, person)`` from person 1 to
    person 2 (the reversed pair is another row and another edge) with the
    multi-hot of its interaction as ``edge_attr``. As in the official loader
    an ordered pair may appear only once per keyframe. ``cls`` is 0
    (person); ``x`` is the geometry feature of the box (``[1, x1, y1, x2,
    y2, w, h, cx, cy, area]``); ``y`` ``[1, C]`` is the set of interactions
    of the video and ``frame_labels`` ``[T, C]`` those of each keyframe;
    ``frame_ids`` ``[T]`` holds the keyframe timestamps.

    By default the 28 evaluated classes (:data:`SPORTSHHI_EVALUATED`) are
    used and rows of the 6 others are dropped (counted in
    :attr:`process_stats`, also kept next to the processed files);
    ``all_classes=True`` keeps the 34 (class
    ``id - 1``).

    Args:
        root (str): Root directory; raw files in ``root/raw/annotations``.
        split (str): ``'train'`` or ``'val'``. (default: :obj:`'train'`)
        all_classes (bool): Use all 34 classes instead of the 28 evaluated
            ones. (default: :obj:`False`)
        track_by (str): ``'id'`` or ``'box'`` (see above).
            (default: :obj:`'id'`)
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
        ValueError: naming the file and line of malformed rows: a row
            without 13 columns, a field that is not a number, an unknown
            action id, a duplicated ordered pair in one keyframe, or (with
            ``track_by='id'``) one person id with two boxes in one keyframe.

    Example:
        >>> dataset = SportsHHI('datasets/sportshhi', split='val')
        >>> dataset[0]['person', 'interaction', 'person'].edge_attr.size(1)
        28
    """
    splits = ('train', 'val')

    def __init__(
        self,
        root: str,
        split: str = 'train',
        all_classes: bool = False,
        track_by: str = 'id',
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
        opts = json.dumps({'version': 1, 'all_classes': self.all_classes,
                           'track_by': self.track_by,
                           'pre': self._pre_repr}, sort_keys=True)
        tag = hashlib.sha1(opts.encode()).hexdigest()[:10]
        return [f'{s}_{tag}.pt' for s in self.splits]

    @property
    def class_ids(self) -> Tuple[int, ...]:
        r"""The 1-based interaction ids of the label space, in order."""
        return tuple(range(1, 35)) if self.all_classes else SPORTSHHI_EVALUATED

    def download(self) -> None:
        missing = [p for p in self.raw_paths if not osp.exists(p)]
        raise FileNotFoundError(
            "SportsHHI is a gated download (CC BY-NC 4.0) and cannot be "
            "fetched automatically. Missing raw file(s):\n  "
            + '\n  '.join(missing) + f"\nPlace the files of the official "
            f"'annotations' folder in '{osp.join(self.raw_dir, 'annotations')}'"
            f" (see datasets/README.md).")

    def process(self) -> None:
        ann = osp.join(self.raw_dir, 'annotations')
        label_map = read_label_map(osp.join(ann, 'sports_action_list.pbtxt'))
        missing = [i for i in self.class_ids if i not in label_map]
        if missing:
            raise ValueError(f"'{osp.join(ann, 'sports_action_list.pbtxt')}' "
                             f"does not define interaction id(s) {missing}")
        self.class_names = [label_map[i] for i in self.class_ids]
        stats: Dict[str, int] = defaultdict(int)
        outputs = []
        for split in self.splits:
            csv_path = osp.join(ann, f'sports_{split}_v1.csv')
            videos = self._read_csv(csv_path, label_map, stats)
            out = []
            for vid in sorted(videos):
                data = self._build(vid, videos[vid])
                if self.pre_filter is not None and not self.pre_filter(data):
                    stats['videos_removed_by_pre_filter'] += 1
                    continue
                if self.pre_transform is not None:
                    data = self.pre_transform(data)
                out.append(data)
            if not out:
                raise ValueError(f"'{csv_path}' gives no video (every row "
                                 f"was filtered out?)")
            stats[f'{split}_videos'] = len(out)
            outputs.append(out)
        if stats['rows_with_excluded_class']:
            logger.info('Dropped %d row(s) of the %d interaction classes left '
                        'out of the evaluation (all_classes=False)',
                        stats['rows_with_excluded_class'],
                        len(SPORTSHHI_EXCLUDED))
        self.process_stats = dict(stats)
        write_json_atomic(self.process_stats, self.stats_path)
        for out, path in zip(outputs, self.processed_paths):
            self.save(out, path)  # atomic, see SSGInMemoryDataset

    def _read_csv(self, path: str, label_map: Dict[int, str],
                  stats: Dict[str, int]) -> Dict[str, Dict[int, list]]:
        index = {cid: i for i, cid in enumerate(self.class_ids)}
        # video -> timestamp -> rows (line, p1 key, p2 key, box1, box2, cls)
        videos: Dict[str, Dict[int, list]] = defaultdict(
            lambda: defaultdict(list))
        pairs: Dict[Tuple, int] = {}
        with open(path, newline='', encoding='utf-8-sig') as f:
            for line, row in enumerate(csv.reader(f), start=1):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != _NUM_COLUMNS:
                    raise ValueError(f"'{path}', line {line}: expected "
                                     f"{_NUM_COLUMNS} columns, got {len(row)}")
                vid = row[0].strip()
                try:
                    frame = int(row[1])
                    coords = [float(v) for v in row[2:10]]
                    action, p1, p2 = int(row[10]), int(row[11]), int(row[12])
                except ValueError as e:
                    raise ValueError(f"'{path}', line {line}: {e}") from None
                if action not in label_map:
                    raise ValueError(f"'{path}', line {line}: action id "
                                     f"{action} is not in the label map")
                box1, box2 = tuple(coords[:4]), tuple(coords[4:])
                ts = frame // 5
                # The official loader rejects a repeated ordered box pair.
                pair = (vid, ts, box1, box2)
                if pair in pairs:
                    raise ValueError(
                        f"'{path}', line {line}: the ordered person pair of "
                        f"line {pairs[pair]} appears again in keyframe "
                        f"'{vid},{ts:04d}'")
                pairs[pair] = line
                if action not in index:
                    stats['rows_with_excluded_class'] += 1
                    continue
                k1, k2 = (p1, p2) if self.track_by == 'id' else (box1, box2)
                videos[vid][ts].append((line, k1, k2, box1, box2,
                                        index[action]))
                stats['rows'] += 1
        self._csv_path = path
        return videos

    def _build(self, vid: str, keyframes: Dict[int, list]) -> VideoSceneGraph:
        C = len(self.class_ids)
        path = self._csv_path
        tracks: Dict = {}
        p_frame, p_track, p_box = [], [], []
        src, dst, e_frame, e_cls = [], [], [], []
        timestamps = sorted(keyframes)
        frame_labels = torch.zeros(len(timestamps), C)
        for t, ts in enumerate(timestamps):
            nodes: Dict = {}  # person key -> (node index, box, line)
            for line, k1, k2, box1, box2, cls in keyframes[ts]:
                ends = []
                for key, box in ((k1, box1), (k2, box2)):
                    if key in nodes:
                        node, known, first = nodes[key]
                        if known != box:
                            raise ValueError(
                                f"'{path}', line {line}: person id {key} has "
                                f"another box than on line {first} in "
                                f"keyframe '{vid},{ts:04d}' (use "
                                f"track_by='box' if the ids are not person "
                                f"identities)")
                    else:
                        node = len(p_frame)
                        nodes[key] = (node, box, line)
                        p_frame.append(t)
                        p_track.append(tracks.setdefault(key, len(tracks)))
                        p_box.append(box)
                    ends.append(node)
                src.append(ends[0])
                dst.append(ends[1])
                e_frame.append(t)
                e_cls.append(cls)
                frame_labels[t, cls] = 1.0

        data = VideoSceneGraph()
        box = torch.tensor(p_box, dtype=torch.float).view(-1, 4).clamp(0, 1)
        cls = torch.zeros(box.size(0), dtype=torch.long)
        data['person'].x = geometry_features(box, cls, 1)
        data['person'].frame = torch.tensor(p_frame, dtype=torch.long)
        data['person'].track = torch.tensor(p_track, dtype=torch.long)
        data['person'].cls = cls
        data['person'].box = box
        dim = data['person'].x.size(1)
        data['object'].x = torch.zeros(0, dim)
        for key in ('frame', 'track', 'cls'):
            data['object'][key] = torch.zeros(0, dtype=torch.long)
        data['object'].box = torch.zeros(0, 4)
        store = data[_INTERACTION]
        store.edge_index = torch.tensor([src, dst], dtype=torch.long)
        e_cls_t = torch.tensor(e_cls, dtype=torch.long)
        store.edge_attr = torch.nn.functional.one_hot(e_cls_t, C).float()
        store.frame = torch.tensor(e_frame, dtype=torch.long)
        data.y = frame_labels.amax(dim=0, keepdim=True)
        data.frame_labels = frame_labels
        data.frame_ids = torch.tensor(timestamps, dtype=torch.long)
        data.num_frames = len(timestamps)
        data.num_tracks = len(tracks)
        data.video_id = vid
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self)}, split={self.split})'
