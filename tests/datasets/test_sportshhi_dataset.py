import glob
import os.path as osp

import pytest
import torch
from dataset_fixtures import B1, B2, sports_row, write_label_map, write_sportshhi_root
from torch_geometric.loader import DataLoader
from torch_geometric.nn import HeteroConv, SAGEConv, global_mean_pool

from pyg_proda.data import validate_video_graph
from pyg_proda.datasets.sportshhi import SPORTSHHI_EVALUATED, SportsHHI, read_label_map

INTER = ('person', 'interaction', 'person')


@pytest.fixture
def root(tmp_path):
    write_sportshhi_root(str(tmp_path))
    return str(tmp_path)


def write_rows(root, rows, split='train'):
    path = osp.join(root, 'raw', 'annotations', f'sports_{split}_v1.csv')
    with open(path, 'w') as f:
        f.write('\n'.join(rows) + '\n')


def test_graphs_exact(root):
    train = SportsHHI(root)
    assert train.process_stats['rows_with_excluded_class'] == 1
    graphs = {g.video_id: g for g in train}
    assert sorted(graphs) == ['v_a', 'v_b']
    a = graphs['v_a']
    validate_video_graph(a)
    # Keyframes 0 (frames 0, 2), 12 (frame 60), 23 (frame 117), sorted.
    assert a.frame_ids.tolist() == [0, 12, 23] and int(a.num_frames) == 3
    assert a['person'].frame.tolist() == [0, 0, 1, 1, 2, 2]
    # Tracks from the pair ids: 1 -> 0, 2 -> 1, 3 -> 2.
    assert a['person'].track.tolist() == [0, 1, 0, 1, 1, 2]
    assert int(a.num_tracks) == 3
    assert a['object'].num_nodes == 0 and a['object'].x.size(1) == 10
    assert torch.allclose(a['person'].box[0], torch.tensor(B1))
    e = a[INTER]
    # Both orders of the same pair are two edges; the class-1 row is dropped.
    assert e.edge_index.tolist() == [[0, 1, 2, 4], [1, 0, 3, 5]]
    assert e.frame.tolist() == [0, 0, 1, 2]
    assert e.edge_attr.shape == (4, 28)
    ids = [SPORTSHHI_EVALUATED[i] for i in e.edge_attr.argmax(-1).tolist()]
    assert ids == [2, 3, 5, 34]
    assert a.y.nonzero()[:, 1].tolist() == [0, 1, 2, 27]
    assert a.frame_labels.sum(-1).tolist() == [2.0, 1.0, 1.0]
    val = SportsHHI(root, split='val')
    assert [g.video_id for g in val] == ['v_c']


def test_all_classes_and_box_tracks(root):
    full = {g.video_id: g for g in SportsHHI(root, all_classes=True)}
    a = full['v_a']
    validate_video_graph(a)
    e = a[INTER]
    assert e.edge_attr.shape == (5, 34)
    # The class-1 row (p1 -> p3 in keyframe 0) is kept: 3 persons there.
    assert (a['person'].frame == 0).sum() == 3
    assert e.edge_attr.argmax(-1).tolist() == [1, 2, 0, 4, 33]
    boxes = SportsHHI(root, track_by='box')
    g = boxes[0]
    validate_video_graph(g)
    # The same box in keyframes 0 and 12 is one track.
    assert g['person'].track.tolist() == [0, 1, 0, 1, 1, 2]


def test_frame_sampling(root):
    g = SportsHHI(root, split='train', num_frames=2, seed=0)[0]
    assert int(g.num_frames) == 2 and g.frame_labels.shape == (2, 28)
    validate_video_graph(g)


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
    ([sports_row('v', 0, B1, B2, 1, 1, 2)], r"gives no video"),
])
def test_bad_csv(root, rows, match):
    write_rows(root, rows)
    with pytest.raises(ValueError, match=match):
        SportsHHI(root)
    assert glob.glob(osp.join(root, 'processed', '*.pt')) == []


def test_label_map(tmp_path):
    path = str(tmp_path / 'map.pbtxt')
    write_label_map(path)
    names = read_label_map(path)
    assert len(names) == 34 and names[34] == 'volleyball - interaction 34'
    with open(path, 'w') as f:  # four spaces: not read by the official parser
        f.write('label {\n    name: "a"\n    label_id: 1\n}\n')
    with pytest.raises(ValueError, match='defines no class'):
        read_label_map(path)
    with open(path, 'w') as f:
        f.write('label {\n  label_id: 1\n}\n')
    with pytest.raises(ValueError, match='line 2: id 1 has no preceding'):
        read_label_map(path)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='sports_val_v1.csv'):
        SportsHHI(str(tmp_path))


def test_hetero_model_trains_a_step(root):
    dataset = SportsHHI(root, all_classes=True)
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    conv = HeteroConv({INTER: SAGEConv(-1, 8)})
    head = torch.nn.Linear(8, 34)
    out = conv(batch.x_dict, batch.edge_index_dict)
    pooled = global_mean_pool(out['person'], batch['person'].batch, 2)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(head(pooled), batch.y)
    opt = torch.optim.SGD(list(conv.parameters()) + list(head.parameters()), lr=0.1)
    before = head.weight.detach().clone()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, head.weight)
