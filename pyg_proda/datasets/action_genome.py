r"""Charades + Action Genome as spatio-temporal scene graphs: a thin
:class:`~torch_geometric.data.InMemoryDataset` over the readers of
:mod:`pyg_proda.io.charades` and :mod:`pyg_proda.io.action_genome` (file
formats: ``formats.md`` §1-2 of the reference)."""
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional

from pyg_proda.data.video_scene_graph import VideoSceneGraph
from pyg_proda.datasets.base import SSGInMemoryDataset
from pyg_proda.io.action_genome import (
    AG_ANNOTATION_FILES,
    ActionGenomeReader,
    read_video_fps,
)
from pyg_proda.io.charades import read_charades_splits


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
    NumPy globals they need (:func:`pyg_proda.io.pickle.load_pickle_dict`).

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
            of an HDF5/``.npz`` file in the :class:`~pyg_proda.io.FeatureFile`
            layout.
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
        >>> from pyg_proda.data import SSGLoader
        >>> from pyg_proda.testing.fixtures import write_action_genome_root
        >>> root = '/tmp/ag_example'  # yours: 'datasets/action_genome'
        >>> _ = write_action_genome_root(root)  # a tiny fixture of the files
        >>> dataset = ActionGenome(root, split='train', log=False)
        >>> view = next(iter(SSGLoader(dataset, batch_size=2)))
        >>> view.edge_attr.size(1)  # Action Genome's 26 relation classes
        26
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
        return self.options_tag({
            'version': 1,
            'features': (self.features if self.features == 'geometry' else
                         _file_stamp(self.features)),
            'fps': _file_stamp(self.fps_path),
            'scenario': self.scenario,
            'visible_only': self.visible_only,
            'require_person': self.require_person,
            'min_frames': self.min_frames,
            'pre': self._pre_repr,
        })

    @property
    def processed_file_names(self) -> List[str]:
        tag = 'all' if self.scenario is None else f'scenario{self.scenario}'
        return [f'{s}_{tag}_{self.options_hash}.pt' for s in self.splits]

    def download(self) -> None:
        raise self.missing_raw_files(
            'Action Genome (Charades and Action Genome are licensed '
            'downloads)',
            f"Place the Charades CSVs and class file in '{self.raw_dir}' and "
            f"the Action Genome annotation files in "
            f"'{osp.join(self.raw_dir, 'annotations')}'")

    def process(self) -> None:
        class_names, csv_videos = read_charades_splits(
            self.raw_dir, self.splits, self.scenario)
        reader = ActionGenomeReader(
            osp.join(self.raw_dir, 'annotations'),
            visible_only=self.visible_only,
            require_person=self.require_person, min_frames=self.min_frames,
            features=None if self.features == 'geometry' else self.features,
            fps=(read_video_fps(self.fps_path) if osp.exists(self.fps_path)
                 else None))
        stats = reader.stats
        out: Dict[str, List[VideoSceneGraph]] = {s: [] for s in self.splits}
        try:
            for split, data in reader.iter_videos(csv_videos,
                                                  len(class_names)):
                out[split] += self.finish([data], stats)
        finally:
            reader.close()
        reader.log_summary()
        for s in self.splits:
            stats[f'{s}_videos'] = len(out[s])
            if not out[s]:
                raise ValueError(
                    f"No '{s}' video of '{self.raw_dir}' survives the "
                    f"filtering ({dict(stats)}); check the raw files and the "
                    f"options")
        self.save_stats(stats)
        # Each file is written atomically; a run stopped between the two
        # leaves the second missing, so the next run processes again.
        for s, path in zip(self.splits, self.processed_paths):
            self.save(out[s], path)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, split={self.split}, '
                f'scenario={self.scenario})')
