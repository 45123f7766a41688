r"""Readers of the Action Genome annotation files (``formats.md`` §2 of the
reference) and of the optional ``video_fps.csv``.

The two pickles are only ever read from the user's own data root, with the
restricted unpickler of :mod:`pyg_proda.io.pickle`.
"""
import csv
import logging
import os.path as osp
import re
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pyg_proda.data.video_scene_graph import (
    AG_EDGE_DIMS,
    EDGE_TYPES,
    VideoSceneGraph,
    geometry_features,
    make_video_graph,
)
from pyg_proda.data.vocab import AG_RELATION_GROUPS, normalize_name
from pyg_proda.io.charades import CharadesVideo
from pyg_proda.io.features import FeatureFile
from pyg_proda.io.pickle import load_pickle_dict

logger = logging.getLogger(__name__)

AG_ANNOTATION_FILES: Tuple[str, ...] = (
    'object_bbox_and_relationship.pkl', 'person_bbox.pkl', 'frame_list.txt',
    'object_classes.txt', 'relationship_classes.txt')

_KEY = re.compile(r'^([^/]+)\.mp4/(\d+)\.png$')
# Relation field of the object pickle -> relation group.
_REL_FIELDS: Tuple[Tuple[str, str], ...] = (
    ('attention_relationship', 'attention'),
    ('spatial_relationship', 'spatial'),
    ('contacting_relationship', 'contacting'),
)
_GROUP_EDGE = {et[1]: et for et in EDGE_TYPES[:3]}


def entity_key(frame_key: str, name: str, occurrence: int) -> str:
    r"""The feature-file key of an annotated box: ``'<frame key>/person'``
    or ``'<frame key>/<class>'``, with ``'#k'`` appended for the
    :obj:`occurrence` ``k >= 1`` of a class repeated in one frame (the one
    rule shared by the feature extractor and the dataset).

    Example:
        >>> entity_key('001YG.mp4/000089.png', 'cup/glass/bottle', 1)
        '001YG.mp4/000089.png/cup/glass/bottle#1'
    """
    return f'{frame_key}/{name}' + (f'#{occurrence}' if occurrence else '')


def parse_frame_key(key: Any, path: str) -> Tuple[str, int]:
    r"""Splits an Action Genome frame key ``'<ID>.mp4/<FRAME>.png'`` into the
    video id (without ``.mp4``) and the 1-based frame number.

    Raises:
        ValueError: naming :obj:`path` and the key when it has another form.
    """
    m = _KEY.match(key) if isinstance(key, str) else None
    if m is None:
        raise ValueError(f"'{path}': key {key!r} is not of the form "
                         f"'<ID>.mp4/<FRAME>.png'")
    return m.group(1), int(m.group(2))


def _read_lines(path: str) -> List[str]:
    with open(path, encoding='utf-8-sig') as f:
        return [line.strip() for line in f.read().splitlines()]


def read_object_classes(path: str) -> List[str]:
    r"""Reads ``object_classes.txt`` (one name per line, without slashes,
    ``person`` included; trailing spaces, CRLF and a missing final newline
    are accepted) and returns the names in file order. Class id ``i`` of the
    data model is line ``i``: for the official file this equals
    :data:`pyg_proda.data.vocab.AG_OBJECT_CLASSES` (``person`` is 0)."""
    names = [n for n in _read_lines(path) if n]
    if 'person' not in names:
        raise ValueError(f"'{path}' does not list the class 'person'")
    return names


def read_relationship_classes(path: str) -> Dict[str, Tuple[str, int]]:
    r"""Reads ``relationship_classes.txt`` and maps each normalised name
    (:func:`~pyg_proda.data.vocab.normalize_name`, so ``'lookingat'`` and
    ``'looking_at'`` agree) to ``(group, in-group index)`` by file position:
    lines 0-2 attention, 3-8 spatial, 9-25 contacting.

    Raises:
        ValueError: if the file does not have exactly 26 names.
    """
    names = [n for n in _read_lines(path) if n]
    total = sum(size for _, size in AG_RELATION_GROUPS.values())
    if len(names) != total:
        raise ValueError(f"'{path}' lists {len(names)} relations; the "
                         f"attention/spatial/contacting grouping by position "
                         f"needs {total}")
    out = {}
    for group, (start, size) in AG_RELATION_GROUPS.items():
        for i in range(size):
            out[normalize_name(names[start + i])] = (group, i)
    return out


def read_video_fps(path: str) -> Dict[str, float]:
    r"""Reads the optional ``video_fps.csv`` (header ``video_id,fps``; the
    video id with or without ``.mp4``).

    Raises:
        ValueError: naming the file and line of a malformed row.
    """
    out = {}
    with open(path, newline='', encoding='utf-8-sig') as f:
        reader = csv.DictReader(f)
        if not {'video_id', 'fps'} <= set(reader.fieldnames or []):
            raise ValueError(f"'{path}': the header must be 'video_id,fps', "
                             f"got {reader.fieldnames}")
        for row in reader:
            vid = (row['video_id'] or '').strip()
            if vid.endswith('.mp4'):
                vid = vid[:-4]
            try:
                fps = float(row['fps'])
            except (TypeError, ValueError):
                fps = float('nan')
            if not vid or not fps > 0:
                raise ValueError(f"'{path}', line {reader.line_num}: expected "
                                 f"'<video_id>,<fps > 0>', got {row}")
            out[vid] = fps
    return out


def _log_skip(reason: str, records: Sequence[Any], limit: int = 5) -> None:
    if records:
        more = f' and {len(records) - limit} more' if len(records) > limit else ''
        logger.warning('Skipped %d %s: %s%s', len(records), reason,
                       ', '.join(map(str, records[:limit])), more)


class ActionGenomeReader:
    r"""Reads the Action Genome annotation files of :obj:`ann` and builds
    one validated :class:`~pyg_proda.data.VideoSceneGraph` per video
    (:meth:`read_video`) from flat per-video lists turned into tensors at
    once (no per-node Python objects). The graph layout is documented in
    :class:`~pyg_proda.datasets.ActionGenome`; skipped records are counted
    in :attr:`stats` and logged by :meth:`log_summary`.

    Args:
        ann (str): The annotation folder (pickles only from your own data
            root).
        visible_only (bool): Drop invisible objects.
        require_person (bool): Drop frames without a person box.
        min_frames (int): Minimum number of kept frames of a video.
        features (str, optional): A :class:`FeatureFile` path, or
            :obj:`None` for geometry features.
        fps (dict, optional): Video id -> frame rate, for ``frame_labels``.
    """
    def __init__(self, ann: str, visible_only: bool, require_person: bool,
                 min_frames: int, features: Optional[str],
                 fps: Optional[Dict[str, float]]) -> None:
        self.ann = ann
        self.visible_only = visible_only
        self.require_person = require_person
        self.min_frames = min_frames
        self.fps = fps
        self.features = FeatureFile(features) if features else None
        self.stats: Dict[str, int] = defaultdict(int)
        self.skipped: Dict[str, List[str]] = defaultdict(list)
        self.obj_path = osp.join(ann, 'object_bbox_and_relationship.pkl')
        self.person_path = osp.join(ann, 'person_bbox.pkl')

    def _skip(self, reason: str, record: str) -> None:
        self.stats[reason] += 1
        if len(self.skipped[reason]) < 5:
            self.skipped[reason].append(record)

    def log_summary(self) -> None:
        for reason, records in self.skipped.items():
            more = self.stats[reason] - len(records)
            logger.warning('Skipped %d record(s) (%s), e.g. %s%s',
                           self.stats[reason], reason, ', '.join(records),
                           f' and {more} more' if more > 0 else '')

    def load(self) -> Dict[str, List[Tuple[int, str]]]:
        r"""Loads and cross-checks the annotation files; returns video id ->
        sorted ``(frame number, key)`` pairs."""
        names = read_object_classes(osp.join(self.ann, 'object_classes.txt'))
        self.num_obj_classes = len(names)
        self.obj_index = {normalize_name(n): i for i, n in enumerate(names)}
        self.person_cls = self.obj_index['person']
        self.rel_index = read_relationship_classes(
            osp.join(self.ann, 'relationship_classes.txt'))
        self.objects = load_pickle_dict(self.obj_path)
        self.persons = load_pickle_dict(self.person_path)
        list_path = osp.join(self.ann, 'frame_list.txt')
        frame_list = [k for k in _read_lines(list_path) if k]
        for path, other, other_path in (
                (self.obj_path, self.persons, self.person_path),
                (self.person_path, self.objects, self.obj_path)):
            own = self.objects if path == self.obj_path else self.persons
            extra = next((k for k in own if k not in other), None)
            if extra is not None:
                raise ValueError(f"Frame key {extra!r} of '{path}' is missing "
                                 f"from '{other_path}' (the two pickles must "
                                 f"have the same keys)")
        listed = set(frame_list)
        missing = next((k for k in self.objects if k not in listed), None)
        if missing is not None or len(listed) != len(self.objects):
            which = missing if missing is not None else next(
                k for k in frame_list if k not in self.objects)
            raise ValueError(f"'{list_path}' and '{self.obj_path}' disagree on "
                             f"frame key {which!r} (they must list the same "
                             f"keys)")
        by_video: Dict[str, List[Tuple[int, str]]] = defaultdict(list)
        for key in self.objects:
            vid, frame = parse_frame_key(key, self.obj_path)
            by_video[vid].append((frame, key))
        for frames in by_video.values():
            frames.sort()
        return by_video

    def _person_box(self, key: str) -> Tuple[Optional[np.ndarray], float, float]:
        entry = self.persons[key]
        if not isinstance(entry, dict):
            raise ValueError(f"'{self.person_path}', frame {key!r}: expected a "
                             f"dict, got {type(entry).__name__}")
        size = entry.get('bbox_size')
        try:
            w, h = float(size[0]), float(size[1])
        except (TypeError, IndexError, ValueError):
            raise ValueError(f"'{self.person_path}', frame {key!r}: "
                             f"'bbox_size' must be (width, height), got "
                             f"{size!r}") from None
        if not (w > 0 and h > 0):
            raise ValueError(f"'{self.person_path}', frame {key!r}: "
                             f"'bbox_size' {size!r} is not positive")
        bbox = entry.get('bbox')
        if bbox is None:
            return None, w, h
        try:
            arr = np.asarray(bbox, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"'{self.person_path}', frame {key!r}: 'bbox' "
                             f"{bbox!r} is not an (N, 4) array") from None
        if arr.size == 0:
            return None, w, h
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f"'{self.person_path}', frame {key!r}: 'bbox' "
                             f"must be (N, 4) xyxy, got shape {arr.shape}")
        if arr.shape[0] == 0:
            return None, w, h
        # The standard loader keeps the first detection (N is 0 or 1).
        return arr[0] / (w, h, w, h), w, h

    def read_video(self, vid: str, frames: List[Tuple[int, str]],
                   video: CharadesVideo, num_actions: int
                   ) -> Optional[VideoSceneGraph]:
        r"""The graph of video :obj:`vid` over its sorted ``(frame number,
        key)`` pairs, or :obj:`None` when filtering leaves fewer than
        :obj:`min_frames` frames."""
        objects, obj_path = self.objects, self.obj_path
        obj_index, rel_index = self.obj_index, self.rel_index
        person_cls = self.person_cls
        visible_only = self.visible_only
        frame_ids: List[int] = []
        p_frame: List[int] = []
        p_box: List[np.ndarray] = []
        p_keys: List[str] = []
        o_frame: List[int] = []
        o_cls: List[int] = []
        o_occ: List[int] = []
        o_box: List[Sequence[float]] = []
        o_keys: List[str] = []
        # Per relation group: (object node, person node) and label cells.
        e_obj = {g: [] for g in AG_RELATION_GROUPS}
        e_person = {g: [] for g in AG_RELATION_GROUPS}
        e_label = {g: ([], []) for g in AG_RELATION_GROUPS}

        for frame_no, key in frames:
            objs = objects[key]
            if not isinstance(objs, list):
                raise ValueError(f"'{obj_path}', frame {key!r}: expected a "
                                 f"list of objects, got {type(objs).__name__}")
            person, w, h = self._person_box(key)
            if person is None and self.require_person:
                self._skip('frames without a person box', key)
                continue
            kept = []
            # Occurrence of a class in the frame, counted over the raw list so
            # that feature keys do not depend on the filtering options.
            seen: Dict[int, int] = {}
            for i, obj in enumerate(objs):
                if not isinstance(obj, dict) or 'class' not in obj:
                    raise ValueError(f"'{obj_path}', frame {key!r}, object "
                                     f"{i}: expected a dict with a 'class'")
                name = obj['class']
                if not isinstance(name, str):
                    raise ValueError(f"'{obj_path}', frame {key!r}, object "
                                     f"{i}: class {name!r} is not a string")
                cls = obj_index.get(name)
                if cls is None:  # raw names are cached once normalised
                    cls = obj_index.get(normalize_name(name))
                    if cls is not None:
                        obj_index[name] = cls
                if cls is None or cls == person_cls:
                    raise ValueError(f"'{obj_path}', frame {key!r}, object {i}: "
                                     f"unknown object class {name!r}")
                occ = seen.get(cls, 0)
                seen[cls] = occ + 1
                bbox = obj.get('bbox')
                visible = bool(obj.get('visible', bbox is not None))
                if not visible and visible_only:
                    continue
                if bbox is None:
                    if visible:
                        self._skip('visible objects without a bbox',
                                   f'{key} object {i} ({name})')
                        continue
                else:
                    try:
                        bbox = tuple(float(v) for v in bbox)
                    except (TypeError, ValueError):
                        raise ValueError(
                            f"'{obj_path}', frame {key!r}, object {i} "
                            f"({name}): bbox {bbox!r} is not a sequence of "
                            f"numbers") from None
                    if len(bbox) != 4:
                        raise ValueError(
                            f"'{obj_path}', frame {key!r}, object {i} "
                            f"({name}): bbox must have 4 values (x, y, w, h), "
                            f"got {len(bbox)}")
                kept.append((i, obj, name, cls, occ, bbox, visible))
            # Standard rule: a frame needs a visible object (whatever
            # visible_only says about keeping the invisible ones).
            if not any(item[-1] for item in kept):
                self._skip('frames without a visible object', key)
                continue

            t = len(frame_ids)
            frame_ids.append(frame_no)
            p_node = -1
            if person is not None:
                p_node = len(p_frame)
                p_frame.append(t)
                p_box.append(person)
                p_keys.append(entity_key(key, 'person', 0))
            for i, obj, name, cls, occ, bbox, visible in kept:
                node = len(o_frame)
                o_frame.append(t)
                o_cls.append(cls)
                o_occ.append(occ)
                if bbox is None:
                    o_box.append((0.0, 0.0, 0.0, 0.0))
                else:
                    x, y, bw, bh = bbox
                    o_box.append((x / w, y / h, (x + bw) / w, (y + bh) / h))
                o_keys.append(entity_key(key, name, occ))
                if not visible or p_node < 0:
                    continue
                for field, group in _REL_FIELDS:
                    rels = obj.get(field) or []
                    if isinstance(rels, str):
                        rels = [rels]
                    elif not isinstance(rels, (list, tuple)):
                        raise ValueError(
                            f"'{obj_path}', frame {key!r}, object {i} "
                            f"({name}): '{field}' must be a list of names, "
                            f"got {type(rels).__name__}")
                    if not rels:
                        continue
                    e = len(e_obj[group])
                    e_obj[group].append(node)
                    e_person[group].append(p_node)
                    rows, cols = e_label[group]
                    for rel in rels:
                        hit = rel_index.get(rel) if isinstance(
                            rel, str) else None
                        if hit is None:
                            hit = rel_index.get(normalize_name(str(rel)))
                            if hit is not None:
                                rel_index[str(rel)] = hit
                        if hit is None or hit[0] != group:
                            what = ('a known relation' if hit is None else
                                    f'a relation of group {group!r}')
                            raise ValueError(
                                f"'{obj_path}', frame {key!r}, object {i} "
                                f"({name}): {rel!r} in '{field}' is not "
                                f"{what}")
                        rows.append(e)
                        cols.append(hit[1])

        T = len(frame_ids)
        if T < self.min_frames:
            self._skip(f'videos with fewer than {self.min_frames} kept frames',
                       vid)
            return None
        if self.fps is not None and vid not in self.fps:
            raise ValueError(f"Video '{vid}' has no frame rate in the fps "
                             f"table (video_fps.csv); every annotated video "
                             f"needs one")

        o_cls_t = torch.tensor(o_cls, dtype=torch.long)
        # One object track per (class, occurrence in frame); person is 0.
        if o_cls:
            codes = o_cls_t * 1024 + torch.tensor(o_occ)
            uniq, inverse = torch.unique(codes, return_inverse=True)
            o_track = inverse + 1
            num_tracks = int(uniq.numel()) + 1
        else:
            o_track = torch.zeros(0, dtype=torch.long)
            num_tracks = 1
        stores = (
            ('person', p_frame, torch.zeros(len(p_frame), dtype=torch.long),
             torch.zeros(len(p_frame), dtype=torch.long),
             torch.from_numpy(np.asarray(p_box, dtype=np.float32).reshape(-1, 4)),
             p_keys),
            ('object', o_frame, o_track, o_cls_t,
             torch.tensor(o_box, dtype=torch.float).view(-1, 4), o_keys),
        )
        nodes: Dict[str, Dict[str, torch.Tensor]] = {}
        for node_type, frame, track, cls, box, keys in stores:
            box = box.clamp(0.0, 1.0)
            if self.features is None:
                x = geometry_features(box, cls, self.num_obj_classes)
            else:
                dim = self.features.dim or 0
                x = torch.from_numpy(np.stack(
                    [self.features.get(k) for k in keys]) if keys else
                    np.zeros((0, dim), dtype=np.float32))
            nodes[node_type] = dict(x=x, frame=torch.tensor(frame,
                                                            dtype=torch.long),
                                    track=track, cls=cls, box=box)
        # A node type without nodes gets the feature size of the other one.
        dim = max(n['x'].size(1) for n in nodes.values())
        for store in nodes.values():
            if store['x'].size(0) == 0:
                store['x'] = torch.zeros(0, dim)
        edges = {}
        for group, et in _GROUP_EDGE.items():
            obj_t = torch.tensor(e_obj[group], dtype=torch.long)
            per_t = torch.tensor(e_person[group], dtype=torch.long)
            # Spatial relations point from the object to the person.
            pair = (obj_t, per_t) if et[0] == 'object' else (per_t, obj_t)
            attr = torch.zeros(obj_t.numel(), AG_EDGE_DIMS[et])
            rows, cols = e_label[group]
            attr[rows, cols] = 1.0
            edges[et] = dict(edge_index=torch.stack(pair, dim=0),
                             edge_attr=attr,
                             frame=nodes['object']['frame'][obj_t])
        frame_ids_t = torch.tensor(frame_ids, dtype=torch.long)
        frame_labels = None
        if self.fps is not None:
            times = (frame_ids_t.double() - 1) / self.fps[vid]
            frame_labels = video.frame_labels(times, num_actions)
        return make_video_graph(
            video_id=vid, y=video.labels(num_actions), num_frames=T,
            nodes=nodes, edges=edges, num_tracks=num_tracks,
            frame_labels=frame_labels, frame_ids=frame_ids_t)

    def iter_videos(self, csv_videos: Dict[str, Tuple[str, CharadesVideo]],
                    num_actions: int
                    ) -> Iterator[Tuple[str, VideoSceneGraph]]:
        r"""Joins the annotations with the Charades rows of
        :func:`~pyg_proda.io.charades.read_charades_splits` and yields
        ``(split, graph)`` for every annotated video that survives the
        filtering, in sorted id order. Videos in only one of the two
        sources are counted and logged."""
        by_video = self.load()
        not_in_csv = sorted(v for v in by_video if v not in csv_videos)
        self.stats['videos_not_in_charades_csv'] = len(not_in_csv)
        _log_skip('annotated videos in neither Charades CSV', not_in_csv)
        no_ann = sorted(v for v in csv_videos if v not in by_video)
        self.stats['csv_videos_without_annotations'] = len(no_ann)
        _log_skip('Charades videos without Action Genome annotations', no_ann)
        for vid in sorted(v for v in by_video if v in csv_videos):
            split, video = csv_videos[vid]
            data = self.read_video(vid, by_video[vid], video, num_actions)
            if data is not None:
                yield split, data

    def close(self) -> None:
        if self.features is not None:
            self.features.close()
        # Release the large annotation dicts before collation.
        self.objects = self.persons = {}


def iter_annotated_boxes(objects: Dict, persons: Dict, keys: Sequence[str],
                         include_invisible: bool = False
                         ) -> Iterator[Tuple[str, str,
                                             Optional[Tuple[float, ...]],
                                             Tuple[float, float]]]:
    r"""Yields ``(frame key, entity key, xyxy pixel box or None, (width,
    height))`` for
    the person box and every visible object box (and, with
    :obj:`include_invisible`, every invisible object without a box) of the
    frames :obj:`keys` of the two annotation pickles, keyed as
    :func:`entity_key`.

    Raises:
        ValueError: naming the frame and object of a malformed entry.
    """
    for key in keys:
        entry = persons[key]
        try:
            size = (float(entry['bbox_size'][0]), float(entry['bbox_size'][1]))
        except (KeyError, TypeError, IndexError, ValueError):
            raise ValueError(f"person_bbox.pkl, frame {key!r}: no valid "
                             f"'bbox_size' (width, height)") from None
        bbox = entry.get('bbox')
        if bbox is not None and len(bbox) > 0:
            arr = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
            if arr.shape[0] > 0:
                yield key, entity_key(key, 'person', 0), tuple(arr[0]), size
        seen: Dict[str, int] = {}
        for i, obj in enumerate(objects[key]):
            if not isinstance(obj, dict) or not isinstance(obj.get('class'),
                                                           str):
                raise ValueError(f"object_bbox_and_relationship.pkl, frame "
                                 f"{key!r}, object {i}: expected a dict with "
                                 f"a 'class' name")
            name = obj['class']
            norm = normalize_name(name)
            occ = seen.get(norm, 0)
            seen[norm] = occ + 1
            box = obj.get('bbox')
            visible = bool(obj.get('visible', box is not None))
            if visible and box is not None:
                x, y, w, h = (float(v) for v in box)
                yield key, entity_key(key, name, occ), (x, y, x + w, y + h), size
            elif include_invisible and not visible:
                yield key, entity_key(key, name, occ), None, size
