r"""Readers for the Charades v1 annotation files and the domain-shift scenario
splits (paper Table 10).

The CSV reader follows ``formats.md`` §1.2 of the reference: 11 columns with
a header, standard minimal CSV quoting, CRLF or LF line ends, and every quirk
of the real files accepted as is (empty ``actions``, ``quality``,
``relevance`` and ``objects``; intervals that end after ``length``;
intervals with ``start > end``; a class repeated in several intervals).
"""
import csv
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

import torch
from torch import Tensor

#: The 11 columns of ``Charades_v1_{train,test}.csv``, in file order.
CHARADES_COLUMNS: Tuple[str, ...] = (
    'id', 'subject', 'scene', 'quality', 'relevance', 'verified', 'script',
    'objects', 'descriptions', 'actions', 'length')

#: Columns the loaders need; the others may be missing from a user's copy.
REQUIRED_COLUMNS: Tuple[str, ...] = ('id', 'scene', 'actions', 'length')

_INTERVAL = re.compile(r'^c(\d{3}) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$')


@dataclass
class CharadesVideo:
    r"""One row of a Charades CSV.

    ``actions`` holds ``(class index, start, end)`` triples in file order,
    unclipped and unchecked (``start > end`` and ``end > length`` occur in
    the real files and are kept as they are).
    """
    id: str
    scene: str
    length: float
    actions: List[Tuple[int, float, float]] = field(default_factory=list)
    subject: str = ''
    quality: Optional[int] = None
    relevance: Optional[int] = None

    def labels(self, num_classes: int) -> Tensor:
        r"""Video-level multi-hot ``[num_classes]``: the set (OR) of the
        classes of all intervals; all zeros for an empty ``actions``."""
        y = torch.zeros(num_classes)
        for c, _, _ in self.actions:
            y[c] = 1.0
        return y

    def frame_labels(self, times: Tensor, num_classes: int) -> Tensor:
        r"""Multi-hot ``[len(times), num_classes]``: class ``c`` is active at
        time ``t`` (seconds) when ``start < t < end`` for one of its
        intervals, the strict test of the official Charades training loader.
        An interval with ``start > end`` is therefore never active."""
        out = torch.zeros(times.numel(), num_classes)
        for c, start, end in self.actions:
            out[:, c] = torch.maximum(
                out[:, c], ((times > start) & (times < end)).float())
        return out


def _optional_int(value: str) -> Optional[int]:
    value = value.strip()
    return int(value) if value else None


def read_charades_csv(path: str, num_classes: int = 157) -> List[CharadesVideo]:
    r"""Reads ``Charades_v1_train.csv`` or ``Charades_v1_test.csv``.

    Args:
        path (str): The CSV file.
        num_classes (int): Number of action classes; class ids at or above it
            are rejected. (default: :obj:`157`)

    Raises:
        FileNotFoundError: if :obj:`path` does not exist.
        ValueError: naming the file and the line for a missing column, a
            duplicate video id, a malformed ``actions`` interval, a class out
            of range, or a ``length`` that is not a number.

    Example:
        >>> from pyg_proda.testing.fixtures import write_charades
        >>> write_charades('/tmp/charades_example/raw')  # a tiny fixture
        >>> videos = read_charades_csv(
        ...     '/tmp/charades_example/raw/Charades_v1_train.csv')
        >>> videos[0].labels(157).shape
        torch.Size([157])
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Charades CSV '{path}' does not exist")
    videos: List[CharadesVideo] = []
    seen: Set[str] = set()
    # newline='' lets the csv module handle CRLF and LF alike; utf-8-sig
    # drops a byte-order mark that an editor may have added.
    with open(path, newline='', encoding='utf-8-sig') as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"'{path}': missing column(s) {missing}; the header "
                             f"must name {list(CHARADES_COLUMNS)}")
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            if any(row.get(c) is None for c in REQUIRED_COLUMNS):
                raise ValueError(f"'{path}', line {line}: row has fewer "
                                 f"fields than the header")
            vid = row['id'].strip()
            if not vid:
                raise ValueError(f"'{path}', line {line}: empty video id")
            if vid in seen:
                raise ValueError(f"'{path}', line {line}: video '{vid}' "
                                 f"appears twice")
            seen.add(vid)
            try:
                length = float(row['length'])
            except ValueError:
                raise ValueError(f"'{path}', line {line} (video '{vid}'): "
                                 f"length '{row['length']}' is not a "
                                 f"number") from None
            actions = []
            text = row['actions'].strip()
            for interval in text.split(';') if text else []:
                m = _INTERVAL.match(interval.strip())
                if m is None:
                    raise ValueError(
                        f"'{path}', line {line} (video '{vid}'): malformed "
                        f"action interval '{interval}' (expected "
                        f"'cNNN start end')")
                c = int(m.group(1))
                if c >= num_classes:
                    raise ValueError(
                        f"'{path}', line {line} (video '{vid}'): class "
                        f"c{c:03d} is outside c000..c{num_classes - 1:03d}")
                actions.append((c, float(m.group(2)), float(m.group(3))))
            try:
                quality = _optional_int(row.get('quality') or '')
                relevance = _optional_int(row.get('relevance') or '')
            except ValueError:
                raise ValueError(f"'{path}', line {line} (video '{vid}'): "
                                 f"quality/relevance is not an integer") from None
            videos.append(
                CharadesVideo(id=vid, scene=row['scene'].strip(), length=length,
                              actions=actions,
                              subject=(row.get('subject') or '').strip(),
                              quality=quality, relevance=relevance))
    return videos


def read_charades_classes(path: str) -> List[str]:
    r"""Reads ``Charades_v1_classes.txt`` and returns the class descriptions
    in id order (``c000`` first). Whitespace is stripped, CRLF or LF and a
    missing final newline are accepted.

    Raises:
        ValueError: naming the file and line for a line that is not
            ``cNNN description`` or ids that are not ``c000, c001, ...``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Charades class file '{path}' does not exist")
    names: List[str] = []
    with open(path, encoding='utf-8-sig') as f:
        for i, line in enumerate(f.read().splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            cid, _, desc = line.partition(' ')
            if not re.fullmatch(r'c\d{3}', cid) or int(cid[1:]) != len(names):
                raise ValueError(f"'{path}', line {i}: expected class id "
                                 f"c{len(names):03d}, got '{cid}'")
            names.append(desc.strip())
    if not names:
        raise ValueError(f"'{path}' lists no classes")
    return names


# Domain-shift scenarios, reference Appendix B (paper Table 10):
# scenario -> (training scenes, test scenes).
SCENARIO_SCENES: Dict[int, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    1: (('Stairs', 'Laundry room', 'Home Office', 'Hallway', 'Bedroom',
         'Pantry', 'Dining room', 'Entryway'),
        ('Living room', 'Closet', 'Kitchen', 'Bathroom', 'Garage',
         'Recreation room', 'Basement', 'Other')),
    2: (('Laundry room', 'Bathroom', 'Pantry', 'Closet', 'Entryway',
         'Recreation room', 'Garage', 'Other'),
        ('Bedroom', 'Living room', 'Kitchen', 'Home Office', 'Hallway',
         'Stairs', 'Basement', 'Dining room')),
    3: (('Stairs', 'Laundry room', 'Bedroom', 'Basement', 'Bathroom',
         'Entryway', 'Recreation room', 'Other'),
        ('Living room', 'Closet', 'Kitchen', 'Home Office', 'Garage',
         'Hallway', 'Pantry', 'Dining room')),
    4: (('Kitchen', 'Stairs', 'Laundry room', 'Home Office', 'Bedroom',
         'Bathroom', 'Pantry', 'Dining room'),
        ('Living room', 'Closet', 'Garage', 'Hallway', 'Recreation room',
         'Entryway', 'Basement', 'Other')),
    5: (('Kitchen', 'Laundry room', 'Hallway', 'Basement', 'Dining room',
         'Living room', 'Closet', 'Other'),
        ('Bedroom', 'Home Office', 'Bathroom', 'Garage', 'Stairs',
         'Recreation room', 'Entryway', 'Pantry')),
}

SCENE_NAMES: Tuple[str, ...] = tuple(sorted(SCENARIO_SCENES[1][0] +
                                            SCENARIO_SCENES[1][1]))


def _scene_key(name: str) -> str:
    return ''.join(ch for ch in name.lower() if ch.isalnum())


def canonical_scene(scene: str) -> str:
    r"""Maps a Charades ``scene`` string to one of the 16 scene names of
    Table 10 (:data:`SCENE_NAMES`), case-insensitively and ignoring a
    parenthesised or slash-separated gloss (``'Basement (A room below the
    ground floor)'`` becomes ``'Basement'``; ``'Home Office / Study (A room
    in a house used for work)'`` becomes ``'Home Office'``).

    Raises:
        ValueError: if the string maps to none of the names.
    """
    keys = {_scene_key(n): n for n in SCENE_NAMES}
    head = re.split(r'[(/]', scene, maxsplit=1)[0]
    for candidate in (scene, head):
        key = _scene_key(candidate)
        if key in keys:
            return keys[key]
    # Longest scene name that starts the string, e.g. 'Kitchen area'.
    full = _scene_key(scene)
    matches = [n for k, n in keys.items() if full.startswith(k)]
    if matches:
        return max(matches, key=len)
    raise ValueError(f"Charades scene '{scene}' matches none of the "
                     f"Table 10 scenes {list(SCENE_NAMES)}")


def scenario_split(scene: str, scenario: int) -> str:
    r"""Returns ``'train'`` or ``'test'``: the side of domain-shift
    :obj:`scenario` (1..5) on which a video of Charades scene :obj:`scene`
    lies.

    Raises:
        ValueError: for a scenario outside 1..5 or an unknown scene.
    """
    if scenario not in SCENARIO_SCENES:
        raise ValueError(f"scenario must be one of 1..5, got {scenario!r}")
    name = canonical_scene(scene)
    train, _ = SCENARIO_SCENES[scenario]
    return 'train' if name in train else 'test'


def read_charades_splits(raw_dir: str, splits: Sequence[str] = ('train',
                                                              'test'),
                         scenario: Optional[int] = None
                         ) -> Tuple[List[str], Dict[str, Tuple[str,
                                                               CharadesVideo]]]:
    r"""Reads ``Charades_v1_classes.txt`` and the CSV of every split of
    :obj:`raw_dir`.

    Returns:
        The class descriptions and, for every video id, ``(split, row)``;
        with a domain-shift :obj:`scenario` the rows of all CSVs are pooled
        and re-split by scene (:func:`scenario_split`).

    Raises:
        ValueError: naming the CSV of a video listed in two splits (and
            every error of :func:`read_charades_csv`).
    """
    class_names = read_charades_classes(
        osp.join(raw_dir, 'Charades_v1_classes.txt'))
    videos: Dict[str, Tuple[str, CharadesVideo]] = {}
    for s in splits:
        path = osp.join(raw_dir, f'Charades_v1_{s}.csv')
        for v in read_charades_csv(path, len(class_names)):
            if v.id in videos:
                raise ValueError(f"'{path}': video '{v.id}' is also in "
                                 f"the {videos[v.id][0]} CSV")
            split = s if scenario is None else scenario_split(v.scene,
                                                              scenario)
            videos[v.id] = (split, v)
    return class_names, videos
