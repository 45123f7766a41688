import os.path as osp

import pytest
import torch

from pyg_proda.io.charades import (
    SCENARIO_SCENES,
    SCENE_NAMES,
    canonical_scene,
    read_charades_classes,
    read_charades_csv,
    scenario_split,
)
from pyg_proda.testing.fixtures import (
    TRAIN_ROWS,
    write_charades,
    write_charades_csv,
)


def test_csv_quirks_crlf_and_lf(tmp_path):
    crlf, lf = tmp_path / 'crlf', tmp_path / 'lf'
    write_charades(str(crlf), crlf=True)
    write_charades(str(lf), crlf=False)
    path = osp.join(crlf, 'Charades_v1_train.csv')
    with open(path, 'rb') as f:
        raw = f.read()
    assert raw.endswith(b'\r\n') and raw.count(b'\r\n') == len(TRAIN_ROWS) + 1
    assert b'"A person walks in, then sits."' in raw  # comma: quoted
    assert b'"He said ""hi"";Someone sits"' in raw  # embedded quote: doubled

    videos = read_charades_csv(path)
    assert videos == read_charades_csv(osp.join(lf, 'Charades_v1_train.csv'))
    by_id = {v.id: v for v in videos}
    a = by_id['AAAAA']
    # c001 twice, c002 ends after `length` (kept unclipped).
    assert a.actions == [(1, 0.0, 5.0), (2, 2.0, 40.0), (1, 6.0, 8.0)]
    assert a.labels(157).nonzero().view(-1).tolist() == [1, 2]
    b = by_id['BBBBB']  # empty actions and optional fields
    assert b.actions == [] and b.labels(157).sum() == 0
    assert b.quality is None and b.relevance is None
    f = by_id['FFFFF']  # start > end is kept as is
    assert f.actions[0] == (3, 9.0, 2.0)
    times = torch.tensor([0.5, 3.0, 8.0])
    fl = f.frame_labels(times, 157)
    assert fl[:, 3].sum() == 0  # reversed interval is never active
    assert fl[:, 6].tolist() == [1.0, 0.0, 0.0]
    # Strict start < t < end.
    assert a.frame_labels(torch.tensor([0.0, 2.0, 2.5]), 157)[:, 2].tolist() == [
        0.0, 0.0, 1.0]


def test_csv_errors_name_file_and_line(tmp_path):
    path = str(tmp_path / 'missing.csv')
    write_charades_csv(path, TRAIN_ROWS, header=['id', 'subject', 'scene', 'length'])
    with pytest.raises(ValueError, match=r"missing.csv.*missing column.*actions"):
        read_charades_csv(path)
    bad = dict(TRAIN_ROWS[0], actions='c001 0.00 5.00;c01 1.00 2.00')
    path = str(tmp_path / 'bad.csv')
    write_charades_csv(path, [TRAIN_ROWS[1], bad])
    with pytest.raises(ValueError, match=r"bad.csv', line 3 .*'c01 1.00 2.00'"):
        read_charades_csv(path)
    write_charades_csv(path, [dict(TRAIN_ROWS[0], actions='c157 0.00 1.00')])
    with pytest.raises(ValueError, match='c157 is outside'):
        read_charades_csv(path)
    write_charades_csv(path, [TRAIN_ROWS[0], TRAIN_ROWS[0]])
    with pytest.raises(ValueError, match="line 3: video 'AAAAA' appears twice"):
        read_charades_csv(path)
    with pytest.raises(FileNotFoundError, match='nope.csv'):
        read_charades_csv(str(tmp_path / 'nope.csv'))


def test_classes_file(tmp_path):
    for crlf in (True, False):
        write_charades(str(tmp_path), crlf=crlf)
        names = read_charades_classes(osp.join(tmp_path, 'Charades_v1_classes.txt'))
        assert len(names) == 157 and names[3] == 'Class number 3'
    path = tmp_path / 'bad.txt'
    path.write_text('c000 A\nc002 B\n')
    with pytest.raises(ValueError, match="line 2: expected class id c001"):
        read_charades_classes(str(path))


def test_scenarios_are_scene_disjoint_partitions():
    assert len(SCENE_NAMES) == 16
    for k, (train, test) in SCENARIO_SCENES.items():
        assert not set(train) & set(test)
        assert sorted(train + test) == sorted(SCENE_NAMES)
    assert scenario_split('Kitchen', 1) == 'test'
    assert scenario_split('Kitchen', 4) == 'train'
    assert scenario_split('Basement (A room below the ground floor)', 3) == 'train'
    assert canonical_scene('Home Office / Study (A room in a house used for '
                           'work)') == 'Home Office'
    assert canonical_scene('Recreation room / Man cave') == 'Recreation room'
    assert canonical_scene('closet / walk-in closet / spear closet') == 'Closet'
    assert canonical_scene('LIVING ROOM') == 'Living room'
    with pytest.raises(ValueError, match="'Garden' matches none"):
        canonical_scene('Garden')
    with pytest.raises(ValueError, match='1..5'):
        scenario_split('Kitchen', 6)


def test_csv_with_byte_order_mark(tmp_path):
    path = tmp_path / 'bom.csv'
    write_charades_csv(str(path), TRAIN_ROWS[:1])
    path.write_bytes(b'\xef\xbb\xbf' + path.read_bytes())
    assert [v.id for v in read_charades_csv(str(path))] == ['AAAAA']
