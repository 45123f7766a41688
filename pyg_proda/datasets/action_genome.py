r"""Charades + Action Genome as spatio-temporal scene graphs.

File formats: ``formats.md`` §1 (Charades) and §2 (Action Genome) of the
reference. The annotation pickles are only ever read from the user's own data
root (``root/raw/annotations``), never downloaded or taken from elsewhere, and
with an unpickler that resolves only the NumPy globals they need
(:func:`load_pickle_dict`).
"""
import hashlib
import json
import logging
import os
import os.path as osp
import pickle
import re
import tempfile
import zipfile
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pyg_proda.data.video_scene_graph import (
    AG_EDGE_DIMS,
    EDGE_TYPES,
    VideoSceneGraph,
    geometry_features,
)
from pyg_proda.data.vocab import AG_RELATION_GROUPS, normalize_name
from pyg_proda.datasets.base import SSGInMemoryDataset
from pyg_proda.datasets.charades import (
    CharadesVideo,
    read_charades_classes,
    read_charades_csv,
    scenario_split,
)

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


#: The only globals an Action Genome pickle needs (NumPy arrays and scalars
#: under NumPy 1 and 2, bytes of protocol-2 pickles, sets).
_PICKLE_GLOBALS = frozenset([
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'),
    ('numpy._core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('_codecs', 'encode'),
    ('builtins', 'bytes'),
    ('builtins', 'bytearray'),
    ('builtins', 'set'),
    ('builtins', 'frozenset'),
    ('collections', 'OrderedDict'),
])


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


class _AnnotationUnpickler(pickle.Unpickler):
    # Resolves only the globals of _PICKLE_GLOBALS, so a crafted file cannot
    # call arbitrary functions while it is loaded.
    def find_class(self, module: str, name: str) -> Any:
        # Protocols 0-2 may name Python 2's module for the builtins.
        base = 'builtins' if module == '__builtin__' else module
        if (base, name) not in _PICKLE_GLOBALS:
            raise _ForbiddenGlobal(f'{module}.{name}')
        return super().find_class(module, name)


def load_pickle_dict(path: str) -> Dict[str, Any]:
    r"""Loads an Action Genome annotation pickle, which must hold a
    :class:`dict`.

    Only read pickles from your own data root. As a second line of defence
    the unpickler resolves nothing but the few NumPy and container globals
    the annotation files use, so a crafted file cannot run code.

    Raises:
        ValueError: naming the file when it is truncated, corrupt, refers to
            any other global, or does not hold a dict.
    """
    try:
        with open(path, 'rb') as f:
            obj = _AnnotationUnpickler(f).load()
    except _ForbiddenGlobal as e:
        raise ValueError(f"'{path}' refers to '{e}', which an Action Genome "
                         f"annotation file never needs; refusing to load "
                         f"it") from None
    except (EOFError, pickle.UnpicklingError, AttributeError, ImportError,
            IndexError, ValueError, TypeError, KeyError) as e:
        raise ValueError(f"'{path}' is not a readable pickle (truncated or "
                         f"corrupt?): {type(e).__name__}: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"'{path}' must hold a dict keyed by frame, got "
                         f"{type(obj).__name__}")
    return obj


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
    import csv
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


class FeatureFile:
    r"""Per-box feature vectors stored in an HDF5 (``.h5``/``.hdf5``) or
    NumPy (``.npz``) file.

    Layout: one 1-D float vector ``[D]`` per entity, under the key
    ``'<ID>.mp4/<FRAME>.png/<entity>'``, where ``<ID>.mp4/<FRAME>.png`` is the
    Action Genome frame key and ``<entity>`` is ``person`` or the object's
    class name as written in ``object_bbox_and_relationship.pkl``
    (``'cup/glass/bottle'``). A class that occurs ``k + 1`` times in one frame
    has its later occurrences under ``'<class>#1'``, ..., ``'<class>#k'``
    (pickle order, counting invisible objects too). Invisible objects need
    an entry only with ``visible_only=False``. In HDF5 the slashes make
    nested groups, so ``f['001YG.mp4/000089.png/person']`` addresses the
    dataset. All vectors
    have the same size ``D``. :mod:`pyg_proda.features` writes this layout.

    Args:
        path (str): The ``.h5``, ``.hdf5`` or ``.npz`` file.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file has another suffix or cannot be opened.

    Example:
        >>> store = FeatureFile('feats.h5')
        >>> store.get('001YG.mp4/000089.png/cup/glass/bottle').shape
        (512,)
    """
    def __init__(self, path: str) -> None:
        self.path = path
        suffix = osp.splitext(path)[1].lower()
        if not osp.isfile(path):
            raise FileNotFoundError(f"Feature file '{path}' does not exist")
        if suffix not in ('.h5', '.hdf5', '.npz'):
            raise ValueError(f"Feature file '{path}' must end in .h5, .hdf5 "
                             f"or .npz")
        self._h5 = self._npz = None
        try:
            if suffix == '.npz':
                # allow_pickle=False: feature files never need unpickling.
                self._npz = np.load(path, allow_pickle=False)
                self._names = set(self._npz.files)
            else:
                import h5py
                self._h5 = h5py.File(path, 'r')
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"Cannot read feature file '{path}': {e}") from None
        self.dim: Optional[int] = None

    def get(self, key: str) -> np.ndarray:
        r"""Returns the vector of :obj:`key` as float32 ``[D]``.

        Raises:
            ValueError: naming the file and key when the key is missing or
                the vector is not 1-D of the size of the first one read.
        """
        if self._h5 is not None:
            item = self._h5.get(key)
            if item is None or not hasattr(item, 'shape'):
                raise ValueError(f"Feature file '{self.path}' has no entry "
                                 f"'{key}'")
            vec = np.asarray(item[()], dtype=np.float32)
        else:
            if key not in self._names:
                raise ValueError(f"Feature file '{self.path}' has no entry "
                                 f"'{key}'")
            vec = np.asarray(self._npz[key], dtype=np.float32)
        if vec.ndim != 1 or (self.dim is not None and vec.shape[0] != self.dim):
            want = f'[{self.dim}]' if self.dim is not None else '[D]'
            raise ValueError(f"Feature file '{self.path}': entry '{key}' has "
                             f"shape {list(vec.shape)}, expected {want}")
        self.dim = vec.shape[0]
        return vec

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
        if self._npz is not None:
            self._npz.close()


def _file_stamp(path: Optional[str]) -> Optional[List[Any]]:
    if path is None or not osp.exists(path):
        return None
    st = os.stat(path)
    return [osp.abspath(path), st.st_size, st.st_mtime_ns]


class ActionGenome(SSGInMemoryDataset):
    r"""Charades videos annotated with Action Genome scene graphs, one
    :class:`~pyg_proda.data.VideoSceneGraph` per video over all its kept
    keyframes (sorted by frame number).

    Raw files (``formats.md`` §1-2), under ``root/raw/``:

    * ``Charades_v1_train.csv``, ``Charades_v1_test.csv``,
      ``Charades_v1_classes.txt``;
    * ``annotations/object_bbox_and_relationship.pkl``,
      ``annotations/person_bbox.pkl``, ``annotations/frame_list.txt``,
      ``annotations/object_classes.txt``,
      ``annotations/relationship_classes.txt``;
    * optional ``video_fps.csv`` (``video_id,fps``): frame rate of each 480p
      video, which places keyframe ``FRAME`` at ``(FRAME - 1) / fps``
      seconds on the Charades time line.

    The two pickles are only read from this :obj:`root`, the user's own
    data root (never downloaded), and with an unpickler restricted to the
    NumPy globals they need (:func:`load_pickle_dict`).

    Graphs (see :mod:`pyg_proda.data.video_scene_graph`): one person node
    (the first detector box; track 0) and one node per kept object per
    keyframe. Action Genome has no object instance ids, so an object track
    is one object class within the video (a class listed twice in one frame
    gets a second track for its second occurrence, and so on). Edges follow
    Action Genome's directions: ``(person, attention, object)``,
    ``(object, spatial, person)`` and ``(person, contacting, object)``, with
    the in-group multi-hot as ``edge_attr``; an empty relation list gives no
    edge of that group. Boxes are normalised ``x1, y1, x2, y2`` (objects are
    converted from Action Genome's ``x, y, w, h``) clipped to ``[0, 1]``.
    ``cls`` is the line of ``object_classes.txt`` (``person`` = 0). Graph
    attributes: ``y`` ``[1, 157]`` from the ``actions`` column (the set of
    interval classes; all zeros for an empty ``actions``, such videos are
    kept), ``frame_ids`` ``[T]`` (the Action Genome frame numbers),
    ``num_frames``, ``num_tracks``, ``video_id`` and, only when
    ``video_fps.csv`` exists, ``frame_labels`` ``[T, 157]`` (class ``c`` is
    on when ``start < t < end`` for one of its intervals, the official
    Charades rule). Without the fps table ``frame_labels`` is absent.

    Filtering (``formats.md`` §2.8): invisible objects are dropped
    (:obj:`visible_only`), a frame is kept when it has at least one visible
    object and (:obj:`require_person`) a person box, and a video when it
    has at least :obj:`min_frames` kept frames. Videos of the split's
    Charades CSV without annotations, annotated videos in neither CSV,
    visible objects without a box and every other skip are counted in
    :attr:`process_stats` (also kept next to the processed files) and
    logged with the first records concerned.

    Args:
        root (str): Root directory; raw files in ``root/raw``.
        split (str): ``'train'`` or ``'test'``. (default: :obj:`'train'`)
        num_frames (int, optional): Frames per sample: a
            :class:`~pyg_proda.data.transforms.SampleFrames` transform
            (``'random'`` for training, ``'uniform'`` for testing, seeded
            with :obj:`seed`) applied before :obj:`transform`. :obj:`None`
            keeps all frames. (default: :obj:`16`)
        features (str): ``'geometry'`` for node features built from the
            annotations alone (class one-hot over the object classes, then
            ``x1, y1, x2, y2, w, h, cx, cy, area``; 45 values), or the path
            of an HDF5/``.npz`` file in the :class:`FeatureFile` layout.
            (default: :obj:`'geometry'`)
        scenario (int, optional): Domain-shift scenario 1..5 (paper Table
            10): the videos of both Charades CSVs are pooled and split by
            their ``scene``. (default: :obj:`None`)
        visible_only (bool): Drop invisible objects; when :obj:`False` they
            are kept as nodes with a zero box and no edges.
            (default: :obj:`True`)
        require_person (bool): Drop frames without a person box.
            (default: :obj:`True`)
        min_frames (int): Minimum number of kept frames of a video (the
            standard rule "more than 2"). (default: :obj:`3`)
        seed (int, optional): Seed of the random frame sampling.
            (default: :obj:`None`)
        transform (callable, optional): Applied to each sample after the
            frame sampling. (default: :obj:`None`)
        pre_transform (callable, optional): Applied once when processing.
            (default: :obj:`None`)
        pre_filter (callable, optional): Filters graphs when processing.
            (default: :obj:`None`)
        force_reload (bool): Reprocess even if processed files exist.
            (default: :obj:`False`)
        log (bool): Print PyG's processing messages. (default: :obj:`True`)

    Every option that changes the processed graphs is hashed into the
    processed file names, so a change never reuses stale files.

    Raises:
        FileNotFoundError: listing the missing raw files and where they go.
        ValueError: naming the file and record of malformed input.

    Example:
        >>> from torch_geometric.loader import DataLoader
        >>> dataset = ActionGenome('datasets/action_genome', split='train')
        >>> loader = DataLoader(dataset, batch_size=8, shuffle=True)
        >>> batch = next(iter(loader))  # a batched VideoSceneGraph
    """
    splits = ('train', 'test')

    def __init__(
        self,
        root: str,
        split: str = 'train',
        num_frames: Optional[int] = 16,
        features: str = 'geometry',
        scenario: Optional[int] = None,
        visible_only: bool = True,
        require_person: bool = True,
        min_frames: int = 3,
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
        if scenario is not None and scenario not in (1, 2, 3, 4, 5):
            raise ValueError(f"scenario must be 1..5 or None, got {scenario!r}")
        if features != 'geometry' and not osp.isfile(features):
            raise FileNotFoundError(
                f"features must be 'geometry' or an existing .h5/.npz file, "
                f"'{features}' does not exist")
        self.split = split
        self.features = features
        self.scenario = scenario
        self.visible_only = visible_only
        self.require_person = require_person
        self.min_frames = min_frames
        self.process_stats = None
        self._pre_repr = (repr(pre_transform), repr(pre_filter))
        transform = self.frame_sampling(transform, num_frames,
                                        split == 'train', seed)
        super().__init__(root, transform, pre_transform, pre_filter,
                         log=log, force_reload=force_reload)
        self.load_split(self.splits.index(split))

    @property
    def raw_file_names(self) -> List[str]:
        return ['Charades_v1_train.csv', 'Charades_v1_test.csv',
                'Charades_v1_classes.txt'
                ] + [f'annotations/{name}' for name in AG_ANNOTATION_FILES]

    @property
    def fps_path(self) -> str:
        return osp.join(self.raw_dir, 'video_fps.csv')

    @property
    def options_hash(self) -> str:
        r"""Short hash of every option that changes the processed graphs
        (including the identity of the feature and fps files)."""
        opts = {
            'version': 1,
            'features': (self.features if self.features == 'geometry' else
                         _file_stamp(self.features)),
            'fps': _file_stamp(self.fps_path),
            'scenario': self.scenario,
            'visible_only': self.visible_only,
            'require_person': self.require_person,
            'min_frames': self.min_frames,
            'pre': self._pre_repr,
        }
        text = json.dumps(opts, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    @property
    def processed_file_names(self) -> List[str]:
        tag = 'all' if self.scenario is None else f'scenario{self.scenario}'
        return [f'{s}_{tag}_{self.options_hash}.pt' for s in self.splits]

    def download(self) -> None:
        missing = [p for p in self.raw_paths if not osp.exists(p)]
        raise FileNotFoundError(
            "Action Genome cannot be downloaded automatically (Charades and "
            "Action Genome are licensed downloads). Missing raw file(s):\n  "
            + '\n  '.join(missing) + f"\nPlace the Charades CSVs and class "
            f"file in '{self.raw_dir}' and the Action Genome annotation files "
            f"in '{osp.join(self.raw_dir, 'annotations')}' (see "
            f"datasets/README.md).")

    def process(self) -> None:
        raw = self.raw_dir
        ann = osp.join(raw, 'annotations')
        class_names = read_charades_classes(
            osp.join(raw, 'Charades_v1_classes.txt'))
        num_actions = len(class_names)
        csv_videos: Dict[str, Tuple[str, CharadesVideo]] = {}
        for s in self.splits:
            path = osp.join(raw, f'Charades_v1_{s}.csv')
            for v in read_charades_csv(path, num_actions):
                if v.id in csv_videos:
                    raise ValueError(f"'{path}': video '{v.id}' is also in "
                                     f"the {csv_videos[v.id][0]} CSV")
                split = s if self.scenario is None else scenario_split(
                    v.scene, self.scenario)
                csv_videos[v.id] = (split, v)

        builder = _GraphBuilder(
            ann, visible_only=self.visible_only,
            require_person=self.require_person, min_frames=self.min_frames,
            features=None if self.features == 'geometry' else self.features,
            fps=(read_video_fps(self.fps_path) if osp.exists(self.fps_path)
                 else None))
        stats = builder.stats
        out: Dict[str, List[VideoSceneGraph]] = {s: [] for s in self.splits}
        try:
            by_video = builder.load()
            not_in_csv = sorted(v for v in by_video if v not in csv_videos)
            stats['videos_not_in_charades_csv'] = len(not_in_csv)
            _log_skip('annotated videos in neither Charades CSV', not_in_csv)
            no_ann = sorted(v for v in csv_videos if v not in by_video)
            stats['csv_videos_without_annotations'] = len(no_ann)
            _log_skip('Charades videos without Action Genome annotations',
                      no_ann)
            for vid in sorted(v for v in by_video if v in csv_videos):
                split, video = csv_videos[vid]
                data = builder.build(vid, by_video[vid], video, num_actions)
                if data is None:
                    continue
                if self.pre_filter is not None and not self.pre_filter(data):
                    stats['videos_removed_by_pre_filter'] += 1
                    continue
                if self.pre_transform is not None:
                    data = self.pre_transform(data)
                out[split].append(data)
        finally:
            builder.close()
        builder.log_summary()
        for s in self.splits:
            stats[f'{s}_videos'] = len(out[s])
            if not out[s]:
                raise ValueError(
                    f"No '{s}' video of '{raw}' survives the filtering "
                    f"({dict(stats)}); check the raw files and the options")
        self.process_stats = dict(stats)
        write_json_atomic(self.process_stats, self.stats_path)
        # Each file is written atomically; a run stopped between the two
        # leaves the second missing, so the next run processes again.
        for s, path in zip(self.splits, self.processed_paths):
            self.save(out[s], path)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, split={self.split}, '
                f'scenario={self.scenario})')


def write_json_atomic(obj: Any, path: str) -> None:
    r"""Writes :obj:`obj` as JSON to a temporary file renamed into place."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _log_skip(reason: str, records: Sequence[Any], limit: int = 5) -> None:
    if records:
        more = f' and {len(records) - limit} more' if len(records) > limit else ''
        logger.warning('Skipped %d %s: %s%s', len(records), reason,
                       ', '.join(map(str, records[:limit])), more)


class _GraphBuilder:
    r"""Reads the Action Genome annotation files and builds one graph per
    video from flat per-video lists turned into tensors at once (no
    per-node Python objects)."""
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

    def build(self, vid: str, frames: List[Tuple[int, str]],
              video: CharadesVideo, num_actions: int
              ) -> Optional[VideoSceneGraph]:
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
                p_keys.append(f'{key}/person')
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
                o_keys.append(f'{key}/{name}' + (f'#{occ}' if occ else ''))
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

        data = VideoSceneGraph()
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
        for node_type, frame, track, cls, box, keys in stores:
            box = box.clamp(0.0, 1.0)
            store = data[node_type]
            if self.features is None:
                store.x = geometry_features(box, cls, self.num_obj_classes)
            else:
                dim = self.features.dim or 0
                store.x = torch.from_numpy(np.stack(
                    [self.features.get(k) for k in keys]) if keys else
                    np.zeros((0, dim), dtype=np.float32))
            store.frame = torch.tensor(frame, dtype=torch.long)
            store.track = track
            store.cls = cls
            store.box = box
        # A node type without nodes gets the feature size of the other one.
        dim = max(data['person'].x.size(1), data['object'].x.size(1))
        for node_type in ('person', 'object'):
            if data[node_type].x.size(0) == 0:
                data[node_type].x = torch.zeros(0, dim)
        for group, et in _GROUP_EDGE.items():
            store = data[et]
            obj_t = torch.tensor(e_obj[group], dtype=torch.long)
            per_t = torch.tensor(e_person[group], dtype=torch.long)
            # Spatial relations point from the object to the person.
            pair = (obj_t, per_t) if et[0] == 'object' else (per_t, obj_t)
            store.edge_index = torch.stack(pair, dim=0)
            attr = torch.zeros(obj_t.numel(), AG_EDGE_DIMS[et])
            rows, cols = e_label[group]
            attr[rows, cols] = 1.0
            store.edge_attr = attr
            store.frame = data['object'].frame[obj_t]
        data.y = video.labels(num_actions).view(1, -1)
        frame_ids_t = torch.tensor(frame_ids, dtype=torch.long)
        data.frame_ids = frame_ids_t
        if self.fps is not None:
            times = (frame_ids_t.double() - 1) / self.fps[vid]
            data.frame_labels = video.frame_labels(times, num_actions)
        data.num_frames = T
        data.num_tracks = num_tracks
        data.video_id = vid
        return data

    def close(self) -> None:
        if self.features is not None:
            self.features.close()
        # Release the large annotation dicts before collation.
        self.objects = self.persons = {}
