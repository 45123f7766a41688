"""Writers of synthetic raw files in the real SportsHHI format (reference
``formats.md`` §4). Nothing here is copied from the real data set. The
Charades and Action Genome writers are in :mod:`pyg_proda.testing.fixtures`."""
import os
import os.path as osp
from typing import Dict, List

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
