import numpy as np
import pytest
import torch

from pyg_proda.fewshot import FrameFeatureDataset, SyntheticFewShot


def test_splits_and_determinism(tiny_bench):
    names = {s: set(ds.class_names) for s, ds in tiny_bench.splits.items()}
    assert [len(names[s]) for s in ('train', 'val', 'test')] == [8, 4, 8]
    assert not (names['train'] & names['val'] or names['train'] &
                names['test'] or names['val'] & names['test'])
    again = SyntheticFewShot((8, 4, 8), videos_per_class=10, dim=32, seed=1)
    assert torch.equal(again.splits['test'].features,
                       tiny_bench.splits['test'].features)
    other = SyntheticFewShot((8, 4, 8), videos_per_class=10, dim=32, seed=2)
    assert not torch.equal(other.splits['test'].features,
                           tiny_bench.splits['test'].features)
    # One order-only pair per group of four classes.
    assert len(tiny_bench.order_pairs['test']) == 2


def test_order_pairs_differ_only_in_time():
    bench = SyntheticFewShot((4, 4, 4), videos_per_class=400, dim=32,
                             seed=0)
    ds = bench.splits['train']
    (a, b), = bench.order_pairs['train']
    xa = ds.features[ds.labels == a].double()
    xb = ds.features[ds.labels == b].double()
    # Time-pooled features: the same distribution (means agree within
    # noise), so mean pooling cannot tell the classes apart ...
    se = (xa.mean(1).std(0) / np.sqrt(400)).max()
    assert (xa.mean(1).mean(0) - xb.mean(1).mean(0)).abs().max() < 5 * se
    # ... while the frame order differs: first and last frames swap.
    first_a, last_b = xa[:, 0].mean(0), xb[:, -1].mean(0)
    assert (first_a - last_b).abs().max() < 5 * se * np.sqrt(8)
    assert (xa[:, 0].mean(0) - xb[:, 0].mean(0)).norm() > 1.0
    # Their text features differ (the motion direction flips).
    t = ds.text_features
    assert (t[a] - t[b]).norm() > 0.5


def test_write_round_trip(tmp_path, tiny_bench):
    paths = tiny_bench.write(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'order_pairs.json', 'test.npz', 'train.npz', 'val.npz']
    ds = FrameFeatureDataset(paths[2])
    ref = tiny_bench.splits['test']
    assert ds.class_names == ref.class_names
    order = [ref.video_ids.index(v) for v in ds.video_ids]
    assert torch.equal(ds.features, ref.features[order])
    assert ds.meta['source'] == 'SyntheticFewShot'


def test_bad_options():
    with pytest.raises(ValueError, match='multiples of 4'):
        SyntheticFewShot((6, 4, 4))
    with pytest.raises(ValueError, match='exceeds dim'):
        SyntheticFewShot((4, 4, 4), dim=8)
