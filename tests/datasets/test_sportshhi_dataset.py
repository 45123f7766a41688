import glob
import logging
import os.path as osp

import pytest
import torch
from torch_geometric.loader import DataLoader
from torch_geometric.nn import HeteroConv, SAGEConv, global_mean_pool

from pyg_proda.data import SSGLoader, validate_video_graph
from pyg_proda.datasets.sportshhi import (
    INTERACTION,
    SPORTSHHI_EVALUATED,
    SportsHHI,
    candidate_pairs,
    hhi_video_graph,
    pair_geometry,
)
from pyg_proda.io.sportshhi import image_key, read_label_map, read_sportshhi_csv
from pyg_proda.testing.sportshhi import (
    B1,
    B2,
    B3,
    sports_row,
    sportshhi_rows,
    write_label_map,
    write_sportshhi_csv,
    write_sportshhi_root,
)
from pyg_proda.training.pairs import model_input

#: The fields of a graph that are model input (everything but the targets).
INPUT_KEYS = [('person', k) for k in ('x', 'frame', 'track', 'cls', 'box')] + \
    [(INTERACTION, k) for k in ('edge_index', 'edge_attr', 'frame')]



@pytest.fixture
def root(tmp_path):
    write_sportshhi_root(str(tmp_path))
    return str(tmp_path)


def write_rows(root, rows, split='train'):
    write_sportshhi_csv(osp.join(root, 'raw', 'annotations',
                                 f'sports_{split}_v1.csv'), rows)


def evaluated(cls_id):
    return SPORTSHHI_EVALUATED.index(cls_id)


def test_graphs_exact(root):
    train = SportsHHI(root, log=False)
    stats = train.process_stats
    # Both splits: 6 + 1 rows; candidates 10 (v_a) + 2 (v_b) + 2 (v_c).
    assert stats['rows_with_excluded_class'] == 1 and stats['rows'] == 7
    assert stats['candidates'] == 14 and stats['self_pair_rows'] == 0
    assert stats['train_videos'] == 2 and stats['val_videos'] == 1
    graphs = {g.video_id: g for g in train}
    assert sorted(graphs) == ['v_a', 'v_b']
    a = graphs['v_a']
    validate_video_graph(a)
    # Keyframes 0 (frames 0, 2), 12 (frame 60), 23 (frame 117), sorted.
    assert a.frame_ids.tolist() == [0, 12, 23] and int(a.num_frames) == 3
    # Person 3 takes part only in the excluded-class row of keyframe 0: it
    # is still a person (the input does not depend on the classes).
    assert a['person'].frame.tolist() == [0, 0, 0, 1, 1, 2, 2]
    # Tracks from the pair ids: 1 -> 0, 2 -> 1, 3 -> 2.
    assert a['person'].track.tolist() == [0, 1, 2, 0, 1, 1, 2]
    assert int(a.num_tracks) == 3
    assert a['object'].num_nodes == 0 and a['object'].x.size(1) == 10
    assert torch.allclose(a['person'].box[2], torch.tensor(B3))
    e = a[INTERACTION]
    # Every ordered pair of distinct persons of a keyframe is a candidate.
    assert e.edge_index.tolist() == [[0, 0, 1, 1, 2, 2, 3, 4, 5, 6],
                                     [1, 2, 0, 2, 0, 1, 4, 3, 6, 5]]
    assert e.frame.tolist() == [0] * 6 + [1, 1, 2, 2]
    box = a['person'].box
    assert torch.equal(e.edge_attr, pair_geometry(box[e.edge_index[0]],
                                                  box[e.edge_index[1]]))
    # Targets: both orders of (1, 2) in keyframe 0 with their own class,
    # nothing for the excluded class-1 row (person 1 -> 3).
    assert e.target.shape == (10, 28)
    pos = [(i, c) for i, c in e.target.nonzero().tolist()]
    assert pos == [(0, evaluated(2)), (2, evaluated(3)), (6, evaluated(5)),
                   (8, evaluated(34))]
    assert a.y.nonzero()[:, 1].tolist() == [0, 1, 2, 27]
    assert a.frame_labels.sum(-1).tolist() == [2.0, 1.0, 1.0]
    val = SportsHHI(root, split='val', log=False)
    assert [g.video_id for g in val] == ['v_c']
    assert train.num_classes == 28 and train.evaluated_classes == list(
        range(28))


def test_all_classes_and_box_tracks(root):
    full = SportsHHI(root, all_classes=True, log=False)
    assert full.num_classes == 34
    assert [full.class_ids[i] for i in full.evaluated_classes] == list(
        SPORTSHHI_EVALUATED)
    a = {g.video_id: g for g in full}['v_a']
    validate_video_graph(a)
    e = a[INTERACTION]
    assert e.target.shape == (10, 34)
    # The class-1 row (person 1 -> 3 in keyframe 0, edge 1) now has a target.
    assert e.target.nonzero().tolist() == [[0, 1], [1, 0], [2, 2], [6, 4],
                                           [8, 33]]
    boxes = SportsHHI(root, track_by='box', log=False)
    g = boxes[0]
    validate_video_graph(g)
    # The same box in keyframes 0 and 12 is one track.
    assert g['person'].track.tolist() == [0, 1, 2, 0, 1, 1, 2]
    with pytest.raises(ValueError, match="track_by must be 'id' or 'box'"):
        SportsHHI(root, track_by='name')
    with pytest.raises(ValueError, match='split must be one of'):
        SportsHHI(root, split='test')


def test_self_pairs(root, caplog):
    rows = [sports_row('v', 0, B1, B2, 2, 1, 2),
            sports_row('v', 0, B1, B1, 3, 1, 1)]  # the same person twice
    write_rows(root, rows)
    with caplog.at_level(logging.WARNING):
        ds = SportsHHI(root, log=False)
    assert 'sports_train_v1.csv' in caplog.text and 'line 2' in caplog.text
    assert ds.process_stats['self_pair_rows'] == 1
    e = ds[0][INTERACTION]
    assert e.edge_index.tolist() == [[0, 1], [1, 0]]
    assert e.target.nonzero().tolist() == [[0, evaluated(2)]]
    # With self-pairs every person is also paired with itself.
    ds = SportsHHI(root, self_pairs=True, log=False)
    e = ds[0][INTERACTION]
    assert e.edge_index.tolist() == [[0, 0, 1, 1], [0, 1, 0, 1]]
    assert e.target.nonzero().tolist() == [[0, evaluated(3)],
                                           [1, evaluated(2)]]
    assert ds.process_stats['self_pair_rows'] == 0


def test_excluded_only_video_is_kept(root):
    # A video whose rows are all of excluded classes keeps its persons and
    # candidates (all negatives): dropping it would leak its labels.
    write_rows(root, [sports_row('v', 0, B1, B2, 1, 1, 2),
                      sports_row('w', 0, B1, B2, 2, 1, 2)])
    ds = {g.video_id: g for g in SportsHHI(root, log=False)}
    assert ds['v'][INTERACTION].num_edges == 2
    assert ds['v'].y.sum() == 0 and ds['w'].y.sum() == 1


def test_labels_never_reach_the_input(tmp_path):
    # Permute the action ids of the rows (evaluated and excluded classes
    # alike): every input tensor of every graph stays bit-identical.
    rows = sportshhi_rows()
    ids = [2, 3, 1, 34, 5, 8]
    perm = [34, 1, 8, 2, 3, 5]
    permuted = {'train': [
        ','.join(r.split(',')[:10] + [str(p)] + r.split(',')[11:])
        for r, p in zip(rows['train'], perm)], 'val': rows['val']}
    assert [int(r.split(',')[10]) for r in rows['train']] == ids
    write_sportshhi_root(str(tmp_path / 'a'), rows)
    write_sportshhi_root(str(tmp_path / 'b'), permuted)
    a = SportsHHI(str(tmp_path / 'a'), log=False)
    b = SportsHHI(str(tmp_path / 'b'), log=False)
    differ = False
    for ga, gb in zip(a, b):
        assert ga.video_id == gb.video_id
        for store, key in INPUT_KEYS:
            assert torch.equal(ga[store][key], gb[store][key]), (store, key)
        differ |= not torch.equal(ga[INTERACTION].target,
                                  gb[INTERACTION].target)
    assert differ  # the labels did change
    # And through the loader, the model's view is bit-identical too.
    va = model_input(next(iter(SSGLoader(a, batch_size=2))))
    vb = model_input(next(iter(SSGLoader(b, batch_size=2))))
    for key in va.keys():
        assert torch.equal(va[key], vb[key]), key


def test_frame_sampling(root):
    g = SportsHHI(root, split='train', num_frames=2, seed=0, log=False)[0]
    assert int(g.num_frames) == 2 and g.frame_labels.shape == (2, 28)
    validate_video_graph(g)
    e = g[INTERACTION]
    assert e.target.size(0) == e.num_edges
    assert bool((g.frame_labels.amax(0) <= g.y[0]).all())


@pytest.mark.parametrize('rows,match', [
    ([sports_row('v', 0, B1, B2, 2, 1, 2), sports_row('v', 3, B1, B2, 3, 1, 2)],
     r"line 2: the ordered person pair of line 1 appears again in keyframe 'v,0000'"),
    ([sports_row('v', 0, B1, B2, 2, 1, 2).rsplit(',', 1)[0]],
     r"sports_train_v1.csv', line 1: expected 13 columns, got 12"),
    ([sports_row('v', 0, B1, B2, 35, 1, 2)], r"line 1: action id 35 is not in"),
    ([sports_row('v', 0, B1, B2, 2, 1, 2).replace(',2,1,2', ',x,1,2')],
     r"line 1: invalid literal"),
    ([sports_row('v', 0, B1, B2, 2, 1, 2), sports_row('v', 0, B2, B1, 2, 1, 3)],
     r"line 2: person id 1 has another box than on line 1 .*track_by='box'"),
    ([], r"sports_train_v1.csv' gives no video"),
])
def test_bad_csv(root, rows, match):
    write_rows(root, rows)
    with pytest.raises(ValueError, match=match):
        SportsHHI(root, log=False)
    assert glob.glob(osp.join(root, 'processed', '*.pt')) == []


def test_label_map_missing_class(root):
    write_label_map(osp.join(root, 'raw', 'annotations',
                             'sports_action_list.pbtxt'), num=20)
    with pytest.raises(ValueError, match=r'does not define interaction id'):
        SportsHHI(root, log=False)


def test_read_csv(tmp_path):
    path = str(tmp_path / 'rows.csv')
    write_sportshhi_csv(path, [sports_row('v', 117, B1, B2, 34, 1, 2), '',
                               sports_row('v', 3, B2, B1, 2, 2, 1)])
    rows = read_sportshhi_csv(path, read_label_map_34(tmp_path))
    assert [r.line for r in rows] == [1, 3]
    assert [r.timestamp for r in rows] == [23, 0]
    assert image_key('v', rows[0].timestamp) == 'v,0023'
    assert rows[1].box1 == tuple(B2) and rows[1].p1_id == 2
    with pytest.raises(FileNotFoundError, match='does not exist'):
        read_sportshhi_csv(str(tmp_path / 'none.csv'))


def read_label_map_34(tmp_path):
    path = str(tmp_path / 'map.pbtxt')
    write_label_map(path)
    return read_label_map(path)


def test_label_map(tmp_path):
    names = read_label_map_34(tmp_path)
    assert len(names) == 34 and names[34] == 'volleyball - interaction 34'
    path = str(tmp_path / 'map.pbtxt')
    with open(path, 'w') as f:  # four spaces: not read by the official parser
        f.write('label {\n    name: "a"\n    label_id: 1\n}\n')
    with pytest.raises(ValueError, match='defines no class'):
        read_label_map(path)
    with open(path, 'w') as f:
        f.write('label {\n  label_id: 1\n}\n')
    with pytest.raises(ValueError, match='line 2: id 1 has no preceding'):
        read_label_map(path)
    with open(path, 'w') as f:
        f.write('label {\n  name: "a"\n  label_id: x\n}\n')
    with pytest.raises(ValueError, match='line 3: id is not an integer'):
        read_label_map(path)
    with open(path, 'w') as f:
        f.write('label {\n  name: "a"\n  id: 1\n}\nlabel {\n  name: "b"\n'
                '  label_id: 1\n}\n')
    with pytest.raises(ValueError, match='line 7: id 1 appears twice'):
        read_label_map(path)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='sports_val_v1.csv'):
        SportsHHI(str(tmp_path))


def test_candidate_pairs_and_builder():
    frame = torch.tensor([1, 0, 1, 1, 0])
    ei = candidate_pairs(frame)
    assert ei.size(1) == 2 * 1 + 3 * 2
    assert bool((frame[ei[0]] == frame[ei[1]]).all())
    assert bool((ei[0] != ei[1]).all())
    assert candidate_pairs(frame, self_pairs=True).size(1) == 4 + 9
    assert candidate_pairs(torch.zeros(0, dtype=torch.long)).shape == (2, 0)
    box = torch.rand(5, 2).repeat(1, 2) + torch.tensor([0., 0., .1, .2])
    kw = dict(video_id='v', num_frames=2, x=torch.zeros(5, 3), box=box,
              frame=frame, track=torch.tensor([0, 0, 1, 2, 1]),
              num_classes=3)
    g = hhi_video_graph(labels=torch.tensor([[0, 2, 1], [1, 4, 0]]), **kw)
    e = g[INTERACTION]
    src, dst = e.edge_index
    labelled = e.target.nonzero().tolist()
    assert sorted((int(src[i]), int(dst[i]), c) for i, c in labelled) == [
        (0, 2, 1), (1, 4, 0)]
    assert g.frame_labels.tolist() == [[1., 0., 0.], [0., 1., 0.]]
    with pytest.raises(ValueError, match=r'pair \(0, 1\) is not a candidate'):
        hhi_video_graph(labels=torch.tensor([[0, 1, 0]]), **kw)
    with pytest.raises(ValueError, match=r'pair \(0, 0\) is not a candidate'):
        hhi_video_graph(labels=torch.tensor([[0, 0, 0]]), **kw)
    with pytest.raises(ValueError, match='outside 0..2'):
        hhi_video_graph(labels=torch.tensor([[0, 2, 3]]), **kw)
    with pytest.raises(ValueError, match=r'expected two \[E, 4\]'):
        pair_geometry(torch.zeros(2, 4), torch.zeros(3, 4))


def test_pair_geometry_direction():
    a, b = torch.tensor([[0., 0., .2, .4]]), torch.tensor([[.3, .1, .4, .3]])
    ab, ba = pair_geometry(a, b)[0], pair_geometry(b, a)[0]
    assert ab[0] == 1 and torch.allclose(ab[1:3], -ba[1:3])
    assert torch.allclose(ab[4:6], -ba[4:6]) and torch.isclose(ab[3], ba[3])
    assert ab[6] == ba[6] == 0


def test_hetero_model_trains_a_step(root):
    dataset = SportsHHI(root, all_classes=True, log=False)
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    assert batch[INTERACTION].target.size(0) == batch[INTERACTION].num_edges
    conv = HeteroConv({INTERACTION: SAGEConv(-1, 8)})
    head = torch.nn.Linear(8, 34)
    out = conv(batch.x_dict, batch.edge_index_dict)
    pooled = global_mean_pool(out['person'], batch['person'].batch, 2)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(head(pooled), batch.y)
    opt = torch.optim.SGD(list(conv.parameters()) + list(head.parameters()), lr=0.1)
    before = head.weight.detach().clone()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, head.weight)

