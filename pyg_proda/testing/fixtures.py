r"""Writers of synthetic raw files in the real on-disk formats of Charades
and Action Genome (CSV quirks, class files, the two annotation pickles,
frame list, fps table, per-box feature files), for the dataset tests and
the data-processing benchmark. Nothing here is copied from the real data
sets.

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> raw = write_action_genome_root(root)
    >>> sorted(os.listdir(raw))  # doctest: +NORMALIZE_WHITESPACE
    ['Charades_v1_classes.txt', 'Charades_v1_test.csv',
     'Charades_v1_train.csv', 'annotations']
"""
import csv
import io
import os
import os.path as osp
import pickle
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from pyg_proda.data.vocab import AG_OBJECT_FILE_LINES, AG_RELATION_FILE_LINES

# Charades ####################################################################

#: Columns of ``Charades_v1_{train,test}.csv``.
CHARADES_HEADER = ['id', 'subject', 'scene', 'quality', 'relevance',
                   'verified', 'script', 'objects', 'descriptions', 'actions',
                   'length']


def write_charades_csv(path: str, rows: Sequence[Dict[str, str]],
                       crlf: bool = True,
                       header: Optional[List[str]] = None) -> None:
    r"""Writes :obj:`rows` as a Charades CSV: quoted where needed, embedded
    quotes doubled, CRLF line ends as the real files have.

    Args:
        path (str): The file.
        rows (Sequence[Dict[str, str]]): One dict per video (missing
            columns are left empty).
        crlf (bool, optional): CRLF line ends, else LF. (default:
            :obj:`True`)
        header (List[str], optional): The columns. (default:
            :data:`CHARADES_HEADER`)
    """
    header = header or CHARADES_HEADER
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL,
                        lineterminator='\r\n' if crlf else '\n')
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, '') for c in header])
    with open(path, 'w', newline='', encoding='utf-8') as f:
        f.write(buf.getvalue())


def write_charades_classes(path: str, lines: Sequence[str],
                           crlf: bool = True) -> None:
    r"""Writes ``Charades_v1_classes.txt``: one ``cNNN name`` line per
    class, without a final newline."""
    with open(path, 'w', newline='') as f:
        f.write(('\r\n' if crlf else '\n').join(lines))


def charades_row(vid: str, scene: str, actions: str, length: str,
                 **extra: str) -> Dict[str, str]:
    r"""A row of a Charades CSV; :obj:`extra` overrides any column."""
    row = {'id': vid, 'subject': 'S0A1', 'scene': scene, 'quality': '6',
           'relevance': '7', 'verified': 'Yes',
           'script': 'A person walks in, then sits.', 'objects': 'chair;table',
           'descriptions': 'He said "hi";Someone sits', 'actions': actions,
           'length': length}
    row.update(extra)
    return row


#: The training videos of :func:`write_charades`, with the format's quirks.
TRAIN_ROWS = [
    # Ordinary video; c001 twice; c002 ends after `length`.
    charades_row('AAAAA', 'Kitchen', 'c001 0.00 5.00;c002 2.00 40.00;'
                 'c001 6.00 8.00', '30.00'),
    # Empty actions and empty optional fields.
    charades_row('BBBBB', 'Basement (A room below the ground floor)', '',
                 '10.00', quality='', relevance='', objects=''),
    charades_row('CCCCC', 'Bedroom', 'c004 1.00 2.00', '5.00'),
    charades_row('DDDDD', 'Garage', 'c005 1.00 2.00', '5.00'),
    # start > end.
    charades_row('FFFFF', 'Home Office / Study (A room in a house used for '
                 'work)', 'c003 9.00 2.00;c006 0.00 1.00', '12.50'),
]
#: The test videos of :func:`write_charades`.
TEST_ROWS = [
    charades_row('EEEEE', 'Living room', 'c010 0.00 1.00', '20.00'),
    charades_row('GGGGG', 'Stairs', 'c011 0.00 1.00', '20.00'),
]


def write_charades(raw: str, crlf: bool = True) -> None:
    r"""Writes the Charades files (:data:`TRAIN_ROWS`, :data:`TEST_ROWS`,
    157 classes, one name with a trailing space) into :obj:`raw`."""
    os.makedirs(raw, exist_ok=True)
    write_charades_csv(osp.join(raw, 'Charades_v1_train.csv'), TRAIN_ROWS,
                       crlf)
    write_charades_csv(osp.join(raw, 'Charades_v1_test.csv'), TEST_ROWS,
                       crlf)
    write_charades_classes(
        osp.join(raw, 'Charades_v1_classes.txt'),
        [f'c{i:03d} Class number {i}' + (' ' if i == 3 else '')
         for i in range(157)], crlf)


# Action Genome ###############################################################

def ag_object(cls: str, bbox: Optional[Sequence[float]],
              att: Optional[List[str]] = None,
              spa: Optional[List[str]] = None,
              con: Optional[List[str]] = None, visible: bool = True,
              split: str = 'train', key: str = '') -> dict:
    r"""An object entry of ``object_bbox_and_relationship.pkl``: class,
    ``(x, y, w, h)`` box and the three relation lists; an invisible object
    has none of them."""
    if not visible:
        bbox = att = spa = con = None
    return {'class': cls, 'bbox': bbox, 'attention_relationship': att,
            'spatial_relationship': spa, 'contacting_relationship': con,
            'metadata': {'tag': key, 'set': split}, 'visible': visible}


def ag_person(box=None, size: Tuple[int, int] = (480, 270)) -> dict:
    r"""A frame entry of ``person_bbox.pkl``: :obj:`None` gives a
    ``(0, 4)`` box array, ``[]`` an empty list, else one ``xyxy`` box."""
    if box is None:
        bbox = np.zeros((0, 4), np.float32)
    elif isinstance(box, list) and not box:
        bbox = []
    else:
        bbox = np.asarray([box], np.float32)
    n = len(bbox)
    return {'bbox': bbox, 'bbox_score': np.ones(n, np.float32),
            'bbox_size': size, 'bbox_mode': 'xyxy',
            'keypoints': np.zeros((n, 17, 3), np.float32),
            'keypoints_logits': np.zeros((n, 17), np.float32)}


#: A person box of 480 x 270 frames, normalised ``(0.1, 0.1, 0.5, 1.0)``.
PERSON = [48.0, 27.0, 240.0, 270.0]


def ag_annotations() -> Tuple[Dict[str, list], Dict[str, dict]]:
    r"""The ``(objects, persons)`` dicts of the fixture videos, with the
    format's quirks (invisible objects, frames without a person, a visible
    object without a box, a video of portrait frames, ...); key insertion
    order is shuffled."""
    O: Dict[str, list] = {}
    P: Dict[str, dict] = {}
    obj, person = ag_object, ag_person

    def add(key, objs, pers):
        O[key] = objs
        P[key] = pers

    k = 'AAAAA.mp4/{:06d}.png'.format
    add(k(30), [obj('cup/glass/bottle', (200.0, 100.0, 20.0, 30.0),
                    ['looking_at'], ['in'], ['drinking_from'])], person(PERSON))
    add(k(10), [
        obj('table', (10.0, 20.0, 100.0, 50.0), ['looking_at'],
            ['beneath', 'behind'], ['sitting_on', 'leaning_on']),
        obj('cup/glass/bottle', (200.0, 100.0, 20.0, 30.0),
            ['not_looking_at'], ['in_front_of'], ['holding']),
        obj('book', None, visible=False),
    ], person(PERSON))
    add(k(50), [obj('table', (1.0, 1.0, 5.0, 5.0), ['unsure'], ['above'],
                    ['touching'])], person(None))  # no person: dropped
    add(k(20), [obj('table', (10.0, 20.0, 100.0, 50.0), ['unsure'],
                    ['above'], ['touching'])], person(PERSON))
    add(k(40), [obj('book', None, visible=False)], person(PERSON))

    k = 'BBBBB.mp4/{:06d}.png'.format
    for f in (3, 1, 2):
        objs = [obj('door', (0.0, 0.0, 48.0, 27.0), ['unsure'], ['above'],
                    ['touching'])]
        if f == 2:  # a visible object without a box: counted skip
            bad = obj('chair', (0.0, 0.0, 1.0, 1.0), ['unsure'], ['above'],
                      ['touching'])
            bad['bbox'] = None
            objs.append(bad)
        add(k(f), objs, person(PERSON))
    k = 'CCCCC.mp4/{:06d}.png'.format
    for f in (1, 2):
        add(k(f), [obj('bed', (0.0, 0.0, 10.0, 10.0), ['unsure'], ['above'],
                       ['lying_on'])], person(PERSON))
    add('DDDDD.mp4/000007.png', [obj('bed', (0.0, 0.0, 10.0, 10.0),
                                     ['unsure'], ['above'], ['lying_on'])],
        person(PERSON))
    k = 'FFFFF.mp4/{:06d}.png'.format
    for f in (1, 2, 3, 4):
        add(k(f), [obj('laptop', (0.0, 0.0, 10.0, 10.0), ['looking_at'],
                       ['in_front_of'], ['touching'])],
            person([] if f == 4 else PERSON))  # empty list: no person
    k = 'EEEEE.mp4/{:06d}.png'.format
    ten = ['bag', 'bed', 'blanket', 'book', 'box', 'broom', 'chair',
           'closet/cabinet', 'clothes', 'dish']
    for f in (5, 15, 25):
        names = ten if f == 5 else ['dish']
        add(k(f), [obj(n, (0.0, 0.0, 27.0, 48.0), ['looking_at'], ['behind'],
                       ['holding'], split='test') for n in names],
            person([27.0, 48.0, 135.0, 480.0], size=(270, 480)))
    k = 'ZZZZZ.mp4/{:06d}.png'.format
    for f in (1, 2, 3):
        add(k(f), [obj('shoe', (0.0, 0.0, 5.0, 5.0), ['unsure'], ['above'],
                       ['wearing'])], person(PERSON))
    return O, P


def write_ag_annotations(raw: str, objects: Optional[Dict[str, list]] = None,
                         persons: Optional[Dict[str, dict]] = None,
                         frame_list: Optional[List[str]] = None,
                         crlf: bool = True,
                         protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    r"""Writes the Action Genome files into ``raw/annotations``: the two
    pickles, ``frame_list.txt`` and the two class files.

    Args:
        raw (str): The ``raw`` folder.
        objects (Dict[str, list], optional): The object annotations.
            (default: those of :func:`ag_annotations`)
        persons (Dict[str, dict], optional): The person annotations.
            (default: those of :func:`ag_annotations`)
        frame_list (List[str], optional): The frame keys. (default: the
            keys of :obj:`objects`)
        crlf (bool, optional): CRLF line ends in the class files.
            (default: :obj:`True`)
        protocol (int, optional): The pickle protocol.
            (default: :obj:`pickle.DEFAULT_PROTOCOL`)
    """
    ann = osp.join(raw, 'annotations')
    os.makedirs(ann, exist_ok=True)
    if objects is None or persons is None:
        O, P = ag_annotations()
        objects = O if objects is None else objects
        persons = P if persons is None else persons
    with open(osp.join(ann, 'object_bbox_and_relationship.pkl'), 'wb') as f:
        pickle.dump(objects, f, protocol=protocol)
    with open(osp.join(ann, 'person_bbox.pkl'), 'wb') as f:
        pickle.dump(persons, f, protocol=protocol)
    keys = list(objects) if frame_list is None else frame_list
    with open(osp.join(ann, 'frame_list.txt'), 'w') as f:
        f.write('\n'.join(keys) + '\n')
    nl = '\r\n' if crlf else '\n'
    with open(osp.join(ann, 'object_classes.txt'), 'w', newline='') as f:
        f.write(nl.join(AG_OBJECT_FILE_LINES))
    with open(osp.join(ann, 'relationship_classes.txt'), 'w', newline='') as f:
        f.write(nl.join(AG_RELATION_FILE_LINES))


def write_action_genome_root(root: str, crlf: bool = True) -> str:
    r"""Writes the Charades and Action Genome fixture files under
    ``root/raw``; returns that folder."""
    raw = osp.join(root, 'raw')
    write_charades(raw, crlf)
    write_ag_annotations(raw, crlf=crlf)
    return raw


def write_fps(raw: str, fps: Dict[str, float]) -> None:
    r"""Writes ``video_fps.csv`` (``video_id,fps`` per video) into
    :obj:`raw`."""
    with open(osp.join(raw, 'video_fps.csv'), 'w') as f:
        f.write('video_id,fps\n')
        for vid, v in fps.items():
            f.write(f'{vid}.mp4,{v}\n')


# Feature files ###############################################################

def feature_value(key: str) -> float:
    r"""The value every entry of the vector of :obj:`key` holds in
    :func:`write_features`."""
    return float(sum(map(ord, key)) % 97)


def write_features(path: str, keys: List[str], dim: int = 8) -> None:
    r"""Writes a feature file (``.npz``, else HDF5) with one ``float16``
    vector of :obj:`dim` entries per key, filled with
    :func:`feature_value` ``(key)``."""
    arrays = {k: np.full(dim, feature_value(k), np.float16) for k in keys}
    if path.endswith('.npz'):
        np.savez(path, **arrays)
    else:
        import h5py
        with h5py.File(path, 'w') as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v)
