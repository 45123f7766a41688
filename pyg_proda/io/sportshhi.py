r"""Readers of the SportsHHI annotation files (reference ``formats.md`` §3):
the label map ``sports_action_list.pbtxt`` and the 13-column annotation
CSVs ``sports_{train,val}_v1.csv``.

The readers check the files the way the official loader does and fail with
the file and line of the first bad record; turning rows into graphs is the
job of :class:`~pyg_proda.datasets.SportsHHI`.
"""
import csv
import os.path as osp
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

#: Interaction ids (1-based) left out of the official evaluation.
SPORTSHHI_EXCLUDED: Tuple[int, ...] = (1, 4, 7, 12, 20, 30)
#: The 28 evaluated interaction ids, in order; class ``i`` of the 28-way
#: label space is ``SPORTSHHI_EVALUATED[i]``.
SPORTSHHI_EVALUATED: Tuple[int, ...] = tuple(
    i for i in range(1, 35) if i not in SPORTSHHI_EXCLUDED)
#: Frames between two keyframes: ``timestamp = frame_id // KEYFRAME_STRIDE``.
KEYFRAME_STRIDE = 5
#: Columns of an annotation row.
NUM_COLUMNS = 13

Box = Tuple[float, float, float, float]


class SportsHHIRow(NamedTuple):
    r"""One row of a SportsHHI annotation CSV: one interaction of one
    ordered person pair in one keyframe.

    Attributes:
        line (int): 1-based line of the row in its file.
        video_id (str): The video.
        frame_id (int): The frame index (column 2).
        timestamp (int): The keyframe, ``frame_id // 5``.
        box1 (tuple): Box of person 1, normalised ``x1, y1, x2, y2``.
        box2 (tuple): Box of person 2.
        action_id (int): The 1-based interaction id.
        p1_id (int): Column 12 (meaning unverified; track or instance id).
        p2_id (int): Column 13.
    """
    line: int
    video_id: str
    frame_id: int
    timestamp: int
    box1: Box
    box2: Box
    action_id: int
    p1_id: int
    p2_id: int


def image_key(video_id: str, timestamp: int) -> str:
    r"""The official image key of a keyframe, ``'<video_id>,<tttt>'``
    (timestamp zero-padded to four digits).

    Example:
        >>> image_key('v_a', 23)
        'v_a,0023'
    """
    return f'{video_id},{timestamp:04d}'


def read_label_map(path: str) -> Dict[int, str]:
    r"""Reads ``sports_action_list.pbtxt`` the way the official line-based
    parser does: a name from lines that start with exactly two spaces and
    ``name:`` (text between the first pair of double quotes), an id from
    lines that start with two spaces and ``id:`` or ``label_id:``.

    Args:
        path (str): The label map.

    Returns:
        dict: 1-based interaction id :math:`\to` name.

    Raises:
        FileNotFoundError: if :obj:`path` does not exist.
        ValueError: naming the file and line of an id that is not an
            integer, an id without a name or a repeated id, or a file
            without any class.

    Example:
        >>> import tempfile
        >>> path = tempfile.mktemp(suffix='.pbtxt')
        >>> with open(path, 'w') as f:
        ...     _ = f.write('label {\n  name: "basketball - pass"\n'
        ...                 '  label_id: 2\n}\n')
        >>> read_label_map(path)
        {2: 'basketball - pass'}
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


def read_sportshhi_csv(path: str,
                       label_map: Optional[Dict[int, str]] = None
                       ) -> List[SportsHHIRow]:
    r"""Reads a SportsHHI annotation CSV (no header, 13 columns:
    ``video_id, frame_id``, the two persons' normalised ``x1, y1, x2, y2``,
    ``action_id`` (1..34), ``p1_id, p2_id``) into rows in file order.
    Blank lines are skipped.

    As in the official loader an ordered pair of boxes may appear only once
    per keyframe (``timestamp = frame_id // 5``), so the interaction of an
    ordered pair is one-hot.

    Args:
        path (str): The CSV file.
        label_map (dict, optional): If given (:func:`read_label_map`), every
            action id must be one of its ids. (default: :obj:`None`)

    Raises:
        FileNotFoundError: if :obj:`path` does not exist.
        ValueError: naming the file and line of a row without 13 columns, a
            field that is not a number, an action id missing from the label
            map, or an ordered person pair repeated in one keyframe (with
            the line of its first occurrence).

    Example:
        >>> import tempfile
        >>> path = tempfile.mktemp(suffix='.csv')
        >>> with open(path, 'w') as f:
        ...     _ = f.write('v,117,.1,.2,.3,.6,.5,.2,.7,.7,34,1,2\n')
        >>> row = read_sportshhi_csv(path)[0]
        >>> row.timestamp, row.action_id, image_key(row.video_id, row.timestamp)
        (23, 34, 'v,0023')
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"Annotation file '{path}' does not exist")
    rows: List[SportsHHIRow] = []
    pairs: Dict[Tuple, int] = {}
    with open(path, newline='', encoding='utf-8-sig') as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != NUM_COLUMNS:
                raise ValueError(f"'{path}', line {line}: expected "
                                 f"{NUM_COLUMNS} columns, got {len(row)}")
            vid = row[0].strip()
            try:
                frame = int(row[1])
                coords = [float(v) for v in row[2:10]]
                action, p1, p2 = int(row[10]), int(row[11]), int(row[12])
            except ValueError as e:
                raise ValueError(f"'{path}', line {line}: {e}") from None
            if label_map is not None and action not in label_map:
                raise ValueError(f"'{path}', line {line}: action id "
                                 f"{action} is not in the label map")
            box1, box2 = tuple(coords[:4]), tuple(coords[4:])
            ts = frame // KEYFRAME_STRIDE
            # The official loader rejects a repeated ordered box pair.
            pair = (vid, ts, box1, box2)
            if pair in pairs:
                raise ValueError(
                    f"'{path}', line {line}: the ordered person pair of "
                    f"line {pairs[pair]} appears again in keyframe "
                    f"'{image_key(vid, ts)}'")
            pairs[pair] = line
            rows.append(SportsHHIRow(line, vid, frame, ts, box1, box2,
                                     action, p1, p2))
    return rows


__all__ = ['SPORTSHHI_EXCLUDED', 'SPORTSHHI_EVALUATED', 'KEYFRAME_STRIDE',
           'NUM_COLUMNS', 'SportsHHIRow', 'image_key', 'read_label_map',
           'read_sportshhi_csv']
