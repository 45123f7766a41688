"""Writers of synthetic raw files in the real Charades / Action Genome /
SportsHHI formats (reference ``formats.md`` §4). Nothing here is copied from
the real data sets."""
import csv
import io
import os
import os.path as osp
import pickle
from typing import Dict, List, Optional

import numpy as np

from pyg_proda.data.vocab import AG_OBJECT_FILE_LINES, AG_RELATION_FILE_LINES

HEADER = ['id', 'subject', 'scene', 'quality', 'relevance', 'verified',
          'script', 'objects', 'descriptions', 'actions', 'length']

OBJECT_CLASS_LINES = AG_OBJECT_FILE_LINES
RELATION_LINES = AG_RELATION_FILE_LINES


def write_csv(path: str, rows: List[Dict[str, str]], crlf: bool = True,
              header: Optional[List[str]] = None) -> None:
    header = header or HEADER
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL,
                        lineterminator='\r\n' if crlf else '\n')
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, '') for c in header])
    with open(path, 'w', newline='', encoding='utf-8') as f:
        f.write(buf.getvalue())


def charades_row(vid: str, scene: str, actions: str, length: str,
                 **extra: str) -> Dict[str, str]:
    row = {'id': vid, 'subject': 'S0A1', 'scene': scene, 'quality': '6',
           'relevance': '7', 'verified': 'Yes',
           'script': 'A person walks in, then sits.', 'objects': 'chair;table',
           'descriptions': 'He said "hi";Someone sits', 'actions': actions,
           'length': length}
    row.update(extra)
    return row


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
TEST_ROWS = [
    charades_row('EEEEE', 'Living room', 'c010 0.00 1.00', '20.00'),
    charades_row('GGGGG', 'Stairs', 'c011 0.00 1.00', '20.00'),
]


def write_charades(raw: str, crlf: bool = True) -> None:
    os.makedirs(raw, exist_ok=True)
    write_csv(osp.join(raw, 'Charades_v1_train.csv'), TRAIN_ROWS, crlf)
    write_csv(osp.join(raw, 'Charades_v1_test.csv'), TEST_ROWS, crlf)
    lines = [f'c{i:03d} Class number {i}' + (' ' if i == 3 else '')
             for i in range(157)]
    with open(osp.join(raw, 'Charades_v1_classes.txt'), 'w', newline='') as f:
        f.write(('\r\n' if crlf else '\n').join(lines))  # no final newline


def obj(cls: str, bbox, att=None, spa=None, con=None, visible=True,
        split='train', key='') -> dict:
    if not visible:
        bbox = att = spa = con = None
    return {'class': cls, 'bbox': bbox, 'attention_relationship': att,
            'spatial_relationship': spa, 'contacting_relationship': con,
            'metadata': {'tag': key, 'set': split}, 'visible': visible}


def person(box=None, size=(480, 270)) -> dict:
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


PERSON = [48.0, 27.0, 240.0, 270.0]  # normalised: 0.1, 0.1, 0.5, 1.0


def ag_annotations() -> tuple:
    """Returns (objects, persons) dicts; key insertion order is shuffled."""
    O: Dict[str, list] = {}
    P: Dict[str, dict] = {}

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


def write_ag(raw: str, objects=None, persons=None, frame_list=None,
             crlf: bool = True) -> None:
    ann = osp.join(raw, 'annotations')
    os.makedirs(ann, exist_ok=True)
    O, P = ag_annotations()
    objects = O if objects is None else objects
    persons = P if persons is None else persons
    with open(osp.join(ann, 'object_bbox_and_relationship.pkl'), 'wb') as f:
        pickle.dump(objects, f)
    with open(osp.join(ann, 'person_bbox.pkl'), 'wb') as f:
        pickle.dump(persons, f)
    keys = list(objects) if frame_list is None else frame_list
    with open(osp.join(ann, 'frame_list.txt'), 'w') as f:
        f.write('\n'.join(keys) + '\n')
    nl = '\r\n' if crlf else '\n'
    with open(osp.join(ann, 'object_classes.txt'), 'w', newline='') as f:
        f.write(nl.join(OBJECT_CLASS_LINES))
    with open(osp.join(ann, 'relationship_classes.txt'), 'w', newline='') as f:
        f.write(nl.join(RELATION_LINES))


def write_action_genome_root(root: str, crlf: bool = True) -> str:
    raw = osp.join(root, 'raw')
    write_charades(raw, crlf)
    write_ag(raw, crlf=crlf)
    return raw


def write_fps(raw: str, fps: Dict[str, float]) -> None:
    with open(osp.join(raw, 'video_fps.csv'), 'w') as f:
        f.write('video_id,fps\n')
        for vid, v in fps.items():
            f.write(f'{vid}.mp4,{v}\n')


def feature_value(key: str) -> float:
    return float(sum(map(ord, key)) % 97)


def write_features(path: str, keys: List[str], dim: int = 8) -> None:
    """One vector per key, filled with feature_value(key)."""
    arrays = {k: np.full(dim, feature_value(k), np.float16) for k in keys}
    if path.endswith('.npz'):
        np.savez(path, **arrays)
    else:
        import h5py
        with h5py.File(path, 'w') as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v)


# SportsHHI ------------------------------------------------------------------

def sports_row(vid, frame, b1, b2, action, p1, p2) -> str:
    vals = [vid, str(frame)] + [f'{v:.3f}' for v in b1 + b2] + [
        str(action), str(p1), str(p2)]
    return ','.join(vals)


B1 = [0.1, 0.2, 0.3, 0.6]
B2 = [0.5, 0.2, 0.7, 0.7]
B3 = [0.05, 0.05, 0.15, 0.25]


def write_label_map(path: str, num: int = 34) -> None:
    with open(path, 'w') as f:
        for i in range(1, num + 1):
            sport = 'basketball' if i <= 17 else 'volleyball'
            f.write(f'label {{\n  name: "{sport} - interaction {i}"\n'
                    f'  label_id: {i}\n  label_type: PERSON_INTERACTION\n}}\n')


def sportshhi_rows() -> Dict[str, List[str]]:
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


def write_sportshhi_root(root: str) -> str:
    ann = osp.join(root, 'raw', 'annotations')
    os.makedirs(ann, exist_ok=True)
    rows = sportshhi_rows()
    for split, lines in rows.items():
        with open(osp.join(ann, f'sports_{split}_v1.csv'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    write_label_map(osp.join(ann, 'sports_action_list.pbtxt'))
    return ann
