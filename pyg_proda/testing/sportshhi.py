r"""Writers of synthetic raw files in the real SportsHHI format (reference
``formats.md`` §3-4): header-less 13-column annotation CSVs with normalised
boxes and the two-space-indented label map. Nothing here is copied from the
real data set.

The default rows (:func:`sportshhi_rows`) cover: one ordered pair in both
orders (allowed: two rows, two candidates), a row of an excluded class
(id 1) whose third person appears in no other row of its keyframe, a
keyframe whose timestamp needs zero-padding in the image key, keyframes
listed out of order, and a second video; a duplicated ordered pair, a short
row and the other bad inputs are written by the tests themselves.

Example:
    >>> import os, tempfile
    >>> ann = write_sportshhi_root(tempfile.mkdtemp())
    >>> sorted(os.listdir(ann))  # doctest: +NORMALIZE_WHITESPACE
    ['sports_action_list.pbtxt', 'sports_train_v1.csv',
     'sports_val_v1.csv']
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

#: Boxes of the fixture rows (normalised ``x1, y1, x2, y2``).
B1 = [0.1, 0.2, 0.3, 0.6]
B2 = [0.5, 0.2, 0.7, 0.7]
B3 = [0.05, 0.05, 0.15, 0.25]


def sports_row(vid: str, frame: int, b1: Sequence[float],
               b2: Sequence[float], action: int, p1: int, p2: int) -> str:
    r"""One annotation row: ``video_id, frame_id``, the two boxes with
    three decimals, ``action_id, p1_id, p2_id``.

    Example:
        >>> sports_row('v', 5, B1, B2, 2, 1, 2)
        'v,5,0.100,0.200,0.300,0.600,0.500,0.200,0.700,0.700,2,1,2'
    """
    vals = [vid, str(frame)] + [f'{v:.3f}' for v in list(b1) + list(b2)] + [
        str(action), str(p1), str(p2)]
    return ','.join(vals)


def write_label_map(path: str, num: int = 34) -> None:
    r"""Writes a label map of :obj:`num` classes in the official block shape
    (two-space indentation, ``name:`` and ``label_id:`` lines), named
    ``'<sport> - interaction <id>'``."""
    with open(path, 'w') as f:
        for i in range(1, num + 1):
            sport = 'basketball' if i <= 17 else 'volleyball'
            f.write(f'label {{\n  name: "{sport} - interaction {i}"\n'
                    f'  label_id: {i}\n  label_type: PERSON_INTERACTION\n}}\n')


def sportshhi_rows() -> Dict[str, List[str]]:
    r"""The default fixture rows per split (see the module docs)."""
    train = [
        # video v_a keyframe 0 (frames 0..4 -> timestamp 0)
        sports_row('v_a', 0, B1, B2, 2, 1, 2),
        sports_row('v_a', 0, B2, B1, 3, 2, 1),   # reversed pair: allowed
        sports_row('v_a', 2, B1, B3, 1, 1, 3),   # excluded class 1 (28-way)
        # keyframe timestamp 23 (frame 117): needs zero padding '0023'
        sports_row('v_a', 117, B2, B3, 34, 2, 3),
        # later keyframe listed before: sorting
        sports_row('v_a', 60, B1, B2, 5, 1, 2),
        sports_row('v_b', 10, B3, B1, 8, 7, 9),
    ]
    val = [sports_row('v_c', 5, B1, B2, 6, 4, 5)]
    return {'train': train, 'val': val}


def write_sportshhi_csv(path: str, rows: Sequence[str]) -> None:
    r"""Writes annotation rows, one per line, LF-terminated."""
    with open(path, 'w') as f:
        f.write('\n'.join(rows) + ('\n' if rows else ''))


def write_sportshhi_root(root: str,
                         rows: Optional[Dict[str, List[str]]] = None) -> str:
    r"""Writes ``root/raw/annotations/`` with the two annotation CSVs (the
    default :func:`sportshhi_rows` or :obj:`rows`) and the 34-class label
    map; returns the annotation folder."""
    ann = osp.join(root, 'raw', 'annotations')
    os.makedirs(ann, exist_ok=True)
    rows = sportshhi_rows() if rows is None else rows
    for split, lines in rows.items():
        write_sportshhi_csv(osp.join(ann, f'sports_{split}_v1.csv'), lines)
    write_label_map(osp.join(ann, 'sports_action_list.pbtxt'))
    return ann


__all__ = ['B1', 'B2', 'B3', 'sports_row', 'sportshhi_rows',
           'write_label_map', 'write_sportshhi_csv', 'write_sportshhi_root']
