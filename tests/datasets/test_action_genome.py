import glob
import os
import os.path as osp
import pickle

import pytest
import torch
from torch_geometric.loader import DataLoader
from torch_geometric.nn import HeteroConv, SAGEConv, global_mean_pool

from pyg_proda.data import validate_video_graph
from pyg_proda.data.vocab import AG_OBJECT_CLASSES
from pyg_proda.datasets import ActionGenome
from pyg_proda.io import load_pickle_dict
from pyg_proda.testing.fixtures import (
    TRAIN_ROWS,
    ag_annotations,
    feature_value,
    write_action_genome_root,
    write_ag_annotations,
    write_charades_csv,
    write_features,
    write_fps,
)

ATT = ('person', 'attention', 'object')
SPA = ('object', 'spatial', 'person')
CON = ('person', 'contacting', 'object')


@pytest.fixture
def root(tmp_path):
    write_action_genome_root(str(tmp_path))
    return str(tmp_path)


def by_id(dataset):
    return {d.video_id: d for d in dataset}


def processed_files(root):
    return sorted(glob.glob(osp.join(root, 'processed', '*.pt')) +
                  glob.glob(osp.join(root, 'processed', '*.tmp')))


def test_graphs_exact(root):
    train = ActionGenome(root, split='train', num_frames=None)
    stats = train.process_stats
    assert stats['train_videos'] == 3 and stats['test_videos'] == 1
    assert stats['frames without a person box'] == 2  # AAAAA/50, FFFFF/4
    assert stats['frames without a visible object'] == 1  # all invisible
    assert stats['visible objects without a bbox'] == 1
    assert stats['videos with fewer than 3 kept frames'] == 2  # 2- and 1-frame
    assert stats['videos_not_in_charades_csv'] == 1  # ZZZZZ
    assert stats['csv_videos_without_annotations'] == 1  # GGGGG

    graphs = by_id(train)
    assert sorted(graphs) == ['AAAAA', 'BBBBB', 'FFFFF']
    for g in graphs.values():
        validate_video_graph(g)
    a = graphs['AAAAA']
    # Keys were inserted out of order; frames are sorted.
    assert a.frame_ids.tolist() == [10, 20, 30] and int(a.num_frames) == 3
    assert a['person'].num_nodes == 3 and a['object'].num_nodes == 4
    assert a['object'].frame.tolist() == [0, 0, 1, 2]
    table, cup = AG_OBJECT_CLASSES.index('table'), AG_OBJECT_CLASSES.index(
        'cup/glass/bottle')
    assert a['object'].cls.tolist() == [table, cup, table, cup]
    assert a['object'].track.tolist() == [2, 1, 2, 1]  # one track per class
    assert a['person'].track.tolist() == [0, 0, 0] and int(a.num_tracks) == 3
    # Person xyxy in pixels / (480, 270); object xywh -> xyxy.
    assert torch.allclose(a['person'].box[0], torch.tensor([0.1, 0.1, 0.5, 1.0]))
    assert torch.allclose(a['object'].box[0], torch.tensor(
        [10 / 480, 20 / 270, 110 / 480, 70 / 270]))
    assert a['person'].x.shape == (3, 45)
    assert a['object'].x[0, table] == 1 and a['object'].x[0, :36].sum() == 1
    for et in (ATT, SPA, CON):
        assert a[et].edge_index.size(1) == 4
    # Directions: attention/contacting person -> object, spatial object -> person.
    assert a[ATT].edge_index.tolist() == [[0, 0, 1, 2], [0, 1, 2, 3]]
    assert a[SPA].edge_index.tolist() == [[0, 1, 2, 3], [0, 0, 1, 2]]
    assert a[ATT].edge_attr.argmax(-1).tolist() == [0, 1, 2, 0]
    assert a[SPA].edge_attr[0].nonzero().view(-1).tolist() == [1, 3]  # beneath, behind
    assert a[CON].edge_attr[0].nonzero().view(-1).tolist() == [6, 10]  # leaning, sitting
    assert a[CON].edge_attr[3].nonzero().view(-1).tolist() == [2]  # drinking_from
    assert a[CON].frame.tolist() == [0, 0, 1, 2]
    assert a.y.nonzero()[:, 1].tolist() == [1, 2]
    assert 'frame_labels' not in a  # no fps table
    b = graphs['BBBBB']
    assert b.y.sum() == 0  # empty actions: kept, no label
    assert b['object'].num_nodes == 3  # the box-less chair is skipped
    f = graphs['FFFFF']
    assert f.frame_ids.tolist() == [1, 2, 3]  # frame 4 has person bbox == []
    assert f.y.nonzero()[:, 1].tolist() == [3, 6]

    test = ActionGenome(root, split='test', num_frames=None)
    assert [g.video_id for g in test] == ['EEEEE']
    e = test[0]
    validate_video_graph(e)
    # Portrait frame (270, 480); ten object classes in frame 5.
    assert torch.allclose(e['person'].box[0], torch.tensor([0.1, 0.1, 0.5, 1.0]))
    assert torch.allclose(e['object'].box[0], torch.tensor([0.0, 0.0, 0.1, 0.1]))
    assert e['object'].num_nodes == 12 and int(e.num_tracks) == 11
    assert e.y.nonzero()[:, 1].tolist() == [10]


def test_default_frame_sampling_and_batching(root):
    train = ActionGenome(root, split='train', num_frames=2, seed=0)
    assert all(int(g.num_frames) == 2 for g in train)
    test = ActionGenome(root, split='test', num_frames=2)
    assert test[0].frame_ids.tolist() == [5, 25]  # uniform: first and last
    assert test[0].frame_ids.tolist() == test[0].frame_ids.tolist()
    seen = {tuple(train[0].frame_ids.tolist()) for _ in range(20)}
    assert len(seen) > 1  # random when training
    # A user transform runs after the sampling.
    marked = ActionGenome(root, num_frames=2,
                          transform=lambda d: setattr(d, 'mark', 1) or d)
    assert int(marked[0].num_frames) == 2 and marked[0].mark == 1
    batch = next(iter(DataLoader(ActionGenome(root), batch_size=3)))
    assert batch.num_graphs == 3 and batch.y.shape == (3, 157)
    # Tracks are offset per video (3 + 2 + 2 tracks).
    assert batch['object'].track.max() < 7


def test_frame_labels_from_fps(root):
    write_fps(osp.join(root, 'raw'), {v: 10.0 for v in
                                      ('AAAAA', 'BBBBB', 'FFFFF', 'EEEEE',
                                       'CCCCC', 'DDDDD', 'ZZZZZ')})
    a = by_id(ActionGenome(root, num_frames=None))['AAAAA']
    assert a.frame_labels.shape == (3, 157)
    # t = (frame - 1) / 10 = 0.9, 1.9, 2.9: c001 in (0, 5), c002 in (2, 40).
    assert a.frame_labels[:, 1].tolist() == [1.0, 1.0, 1.0]
    assert a.frame_labels[:, 2].tolist() == [0.0, 0.0, 1.0]
    assert a.frame_labels.sum() == 4
    validate_video_graph(a)
    sampled = ActionGenome(root, split='test', num_frames=2)[0]
    assert sampled.frame_labels.shape == (2, 157)
    write_fps(osp.join(root, 'raw'), {'AAAAA': 10.0})
    with pytest.raises(ValueError, match="Video 'BBBBB' has no frame rate"):
        ActionGenome(root)


def feature_keys():
    O, P = ag_annotations()
    keys = []
    for k, objs in O.items():
        if len(P[k]['bbox']):
            keys.append(f'{k}/person')
        seen = {}
        for o in objs:
            n = seen.get(o['class'], 0)
            seen[o['class']] = n + 1
            if o['visible'] and o['bbox'] is not None:
                keys.append(f"{k}/{o['class']}" + (f'#{n}' if n else ''))
    return keys


@pytest.mark.parametrize('suffix', ['npz', 'h5'])
def test_feature_file(root, tmp_path, suffix):
    path = str(tmp_path / f'feats.{suffix}')
    write_features(path, feature_keys(), dim=8)
    a = by_id(ActionGenome(root, features=path, num_frames=None))['AAAAA']
    validate_video_graph(a)
    assert a['object'].x.shape == (4, 8) and a['person'].x.shape == (3, 8)
    key = 'AAAAA.mp4/000010.png/cup/glass/bottle'
    assert a['object'].x[1].tolist() == [feature_value(key)] * 8
    assert a['person'].x[2, 0] == feature_value('AAAAA.mp4/000030.png/person')

    keys = feature_keys()
    keys.remove('AAAAA.mp4/000020.png/table')
    missing = str(tmp_path / f'missing.{suffix}')
    write_features(missing, keys)
    with pytest.raises(ValueError, match="no entry 'AAAAA.mp4/000020.png/table'"):
        ActionGenome(root, features=missing)
    wrong = str(tmp_path / f'wrong.{suffix}')
    write_features(wrong, feature_keys(), dim=8)
    import numpy as np
    if suffix == 'npz':
        arrays = dict(np.load(wrong))
        arrays['EEEEE.mp4/000025.png/dish'] = np.zeros(5, np.float16)
        np.savez(wrong, **arrays)
    else:
        import h5py
        with h5py.File(wrong, 'a') as f:
            del f['EEEEE.mp4/000025.png/dish']
            f['EEEEE.mp4/000025.png/dish'] = np.zeros(5, np.float16)
    with pytest.raises(ValueError, match=r"'EEEEE.mp4/000025.png/dish' has shape "
                                         r"\[5\], expected \[8\]"):
        ActionGenome(root, features=wrong)
    with pytest.raises(FileNotFoundError, match='nope.npz'):
        ActionGenome(root, features=str(tmp_path / 'nope.npz'))
    other = tmp_path / 'feats.txt'
    other.write_text('x')
    with pytest.raises(ValueError, match='must end in .h5, .hdf5 or .npz'):
        ActionGenome(root, features=str(other))
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(b'not a zip file')
    with pytest.raises(ValueError, match='Cannot read feature file'):
        ActionGenome(root, features=str(broken))


def test_option_changes_reprocess(root, tmp_path):
    base = ActionGenome(root, num_frames=None)
    assert len(base) == 3
    names = set(base.processed_file_names)
    more = ActionGenome(root, num_frames=None, min_frames=2)
    assert len(more) == 4 and 'CCCCC' in by_id(more)
    assert not names & set(more.processed_file_names)
    assert len(ActionGenome(root, num_frames=None, require_person=False)) == 3
    loose = ActionGenome(root, split='test', num_frames=None, visible_only=False)
    g = loose[0]  # keep the parent alive: stores hold a weak reference
    assert g['object'].num_nodes == 12
    with_invisible = by_id(ActionGenome(root, num_frames=None, visible_only=False))
    a = with_invisible['AAAAA']
    # The invisible book of frame 10 is a node with a zero box and no edges.
    assert a['object'].num_nodes == 5 and a[ATT].edge_index.size(1) == 4
    assert a['object'].box[2].tolist() == [0.0, 0.0, 0.0, 0.0]
    validate_video_graph(a)
    # Reloading with the original options reuses the first files.
    stamp = [os.stat(p).st_mtime_ns for p in base.processed_paths]
    again = ActionGenome(root, num_frames=None)
    assert [os.stat(p).st_mtime_ns for p in again.processed_paths] == stamp
    assert again.process_stats == base.process_stats and len(again) == 3
    # A replaced feature file is not taken for the old one.
    path = str(tmp_path / 'f.npz')
    write_features(path, feature_keys(), dim=4)
    first = ActionGenome(root, num_frames=None, features=path)
    write_features(path, feature_keys(), dim=6)
    os.utime(path, ns=(1, 1))
    second = ActionGenome(root, num_frames=None, features=path)
    assert first[0]['person'].x.size(1) == 4 and second[0]['person'].x.size(1) == 6


def test_scenario_split(root):
    train = ActionGenome(root, split='train', scenario=1, num_frames=None)
    test = ActionGenome(root, split='test', scenario=1, num_frames=None)
    # Scenario 1 trains on Bedroom/Home Office/... and tests on Kitchen,
    # Living room, Basement, Garage, ...: CSV splits are pooled.
    assert sorted(g.video_id for g in train) == ['FFFFF']
    assert sorted(g.video_id for g in test) == ['AAAAA', 'BBBBB', 'EEEEE']
    with pytest.raises(ValueError, match='scenario must be 1..5'):
        ActionGenome(root, scenario=0)


def corrupt(root, fn):
    O, P = ag_annotations()
    result = fn(O, P)
    write_ag_annotations(osp.join(root, 'raw'), O, P, frame_list=result)


@pytest.mark.parametrize('mutate,match', [
    (lambda O, P: O.__setitem__('AAAAA.mp4/10.jpg', O.pop('AAAAA.mp4/000010.png'))
     or P.__setitem__('AAAAA.mp4/10.jpg', P.pop('AAAAA.mp4/000010.png')),
     r"key 'AAAAA.mp4/10.jpg' is not of the form"),
    (lambda O, P: O['AAAAA.mp4/000020.png'][0].__setitem__('class', 'lamp'),
     r"frame 'AAAAA.mp4/000020.png', object 0: unknown object class 'lamp'"),
    (lambda O, P: O['AAAAA.mp4/000020.png'][0].__setitem__('bbox', (1.0, 2.0, 3.0)),
     r"'AAAAA.mp4/000020.png', object 0 \(table\): bbox must have 4 values"),
    (lambda O, P: O['AAAAA.mp4/000020.png'][0].__setitem__('bbox', 'wide'),
     r"object 0 \(table\): bbox 'wide' is not a sequence of numbers"),
    (lambda O, P: O['AAAAA.mp4/000020.png'][0].__setitem__('class', 'person'),
     r"object 0: unknown object class 'person'"),
    (lambda O, P: P['AAAAA.mp4/000020.png'].__setitem__('bbox_size', None),
     r"frame 'AAAAA.mp4/000020.png': 'bbox_size' must be \(width, height\)"),
    (lambda O, P: P['AAAAA.mp4/000020.png'].__setitem__('bbox', [[1.0, 2.0, 3.0]]),
     r"person_bbox.pkl', frame 'AAAAA.mp4/000020.png': 'bbox' must be \(N, 4\)"),
    (lambda O, P: O['AAAAA.mp4/000020.png'][0].__setitem__(
        'spatial_relationship', ['holding']),
     r"'holding' in 'spatial_relationship' is not a relation of group 'spatial'"),
    (lambda O, P: P.pop('BBBBB.mp4/000001.png'),
     r"'BBBBB.mp4/000001.png' of '.*object_bbox_and_relationship.pkl' is missing"),
    (lambda O, P: list(O)[:-1],
     r"frame_list.txt' and .* disagree on frame key 'ZZZZZ.mp4/000003.png'"),
    (lambda O, P: O.__setitem__('AAAAA.mp4/000020.png', 'table'),
     r"frame 'AAAAA.mp4/000020.png': expected a list of objects"),
])
def test_bad_annotations(root, mutate, match):
    corrupt(root, mutate)
    with pytest.raises(ValueError, match=match):
        ActionGenome(root)
    # A failed process() leaves no file a later run could take as complete.
    assert processed_files(root) == []
    write_ag_annotations(osp.join(root, 'raw'))
    assert len(ActionGenome(root, num_frames=None)) == 3


def test_bad_pickles_and_csv(root):
    pkl = osp.join(root, 'raw', 'annotations', 'object_bbox_and_relationship.pkl')
    with open(pkl, 'rb') as f:
        blob = f.read()
    with open(pkl, 'wb') as f:
        f.write(blob[:len(blob) // 2])
    with pytest.raises(ValueError, match='object_bbox_and_relationship.pkl.*truncated'):
        ActionGenome(root)
    # A crafted pickle that would call a function is refused.
    with open(pkl, 'wb') as f:
        pickle.dump({'AAAAA.mp4/000001.png': os.getcwd}, f)
    with pytest.raises(ValueError, match=r"refers to '\w+\.getcwd'.*refusing"):
        ActionGenome(root)
    with open(pkl, 'wb') as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match='must hold a dict.*got list'):
        ActionGenome(root)
    write_ag_annotations(osp.join(root, 'raw'))
    csv_path = osp.join(root, 'raw', 'Charades_v1_train.csv')
    write_charades_csv(csv_path, TRAIN_ROWS, header=['id', 'subject', 'length'])
    with pytest.raises(ValueError, match=r"Charades_v1_train.csv': missing column"):
        ActionGenome(root)
    write_charades_csv(csv_path, TRAIN_ROWS[:1])
    # min_frames above every video: nothing left, a clear error.
    with pytest.raises(ValueError, match="No 'train' video .* survives"):
        ActionGenome(root, min_frames=50)
    assert processed_files(root) == []


def test_interrupted_process_is_redone(root, monkeypatch):
    calls = []

    def failing_save(data_list, path):
        calls.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(ActionGenome, 'save', staticmethod(failing_save))
    with pytest.raises(KeyboardInterrupt):
        ActionGenome(root)
    monkeypatch.undo()
    assert calls and processed_files(root) == []
    assert len(ActionGenome(root, num_frames=None)) == 3


def test_download_lists_missing_files(tmp_path):
    (tmp_path / 'raw').mkdir()
    with pytest.raises(FileNotFoundError) as info:
        ActionGenome(str(tmp_path))
    msg = str(info.value)
    assert 'person_bbox.pkl' in msg and 'Charades_v1_test.csv' in msg
    assert osp.join(str(tmp_path), 'raw', 'annotations') in msg


def test_hetero_model_trains_a_step(root):
    dataset = ActionGenome(root, num_frames=2, seed=0)
    batch = next(iter(DataLoader(dataset, batch_size=3)))
    conv = HeteroConv({et: SAGEConv((-1, -1), 16) for et in (ATT, SPA, CON)})
    head = torch.nn.Linear(32, 157)
    out = conv(batch.x_dict, batch.edge_index_dict)
    pooled = torch.cat([global_mean_pool(out['person'], batch['person'].batch, 3),
                        global_mean_pool(out['object'], batch['object'].batch, 3)],
                       dim=-1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(head(pooled), batch.y)
    params = list(conv.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.1)
    before = [p.detach().clone() for p in params]
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, params))


@pytest.mark.parametrize('protocol', [0, 2, 3, 4, 5])
def test_pickle_protocols(tmp_path, protocol):
    O, P = ag_annotations()
    for name, obj in (('o.pkl', O), ('p.pkl', P)):
        with open(tmp_path / name, 'wb') as f:
            pickle.dump(obj, f, protocol=protocol)
    assert load_pickle_dict(str(tmp_path / 'o.pkl')) == O
    persons = load_pickle_dict(str(tmp_path / 'p.pkl'))
    key = 'EEEEE.mp4/000005.png'
    assert persons[key]['bbox'].tolist() == P[key]['bbox'].tolist()
    assert persons[key]['keypoints'].shape == (1, 17, 3)
