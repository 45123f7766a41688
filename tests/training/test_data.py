import pytest
import torch

from pyg_proda.datasets import ActionGenome
from pyg_proda.models import ProDA
from pyg_proda.testing.fixtures import write_action_genome_root
from pyg_proda.training import SSGDataModule


def test_loaders_yield_views_with_edge_pairs(tmp_path):
    dm = SSGDataModule('synthetic', str(tmp_path), batch_size=4,
                       dataset_kwargs=dict(num_videos=8, log=False))
    view = next(iter(dm.train_dataloader()))
    assert view.num_graphs == 4
    assert view.edge_pair.shape == view.edge_type.shape
    assert view.video_index.shape == (4, )


def test_max_frames_covers_every_split(tmp_path):
    # The first training videos are short, the test videos long: a model
    # sized from the training split alone would crash on the test split.
    dm = SSGDataModule('synthetic', str(tmp_path), batch_size=4,
                       dataset_kwargs=dict(num_videos=6, num_frames=12,
                                           log=False),
                       train_kwargs=dict(num_frames=8))
    assert dm.split('train').max_frames == 8
    assert dm.max_frames == 12
    view = next(iter(dm.test_dataloader()))
    model = ProDA(dm.in_channels, dm.num_classes, dm.edge_dim,
                  hidden_channels=8, heads=2, num_layers=1, max_frames=8)
    sap = torch.zeros(view.num_graphs, dm.num_classes)
    with pytest.raises(ValueError, match="synthetic_test_00000' has 12 "
                       "frames, more than max_frames=8"):
        model(view, sap, 1 - sap)


def test_validation_is_carved_from_train_without_official_val(tmp_path):
    root = str(tmp_path / 'ag')
    write_action_genome_root(root)
    dm = SSGDataModule('action_genome', root, batch_size=2,
                       dataset_kwargs=dict(log=False), val_fraction=0.4)
    train, val = dm.split('train'), dm.split('val')
    full = ActionGenome(root, split='train', log=False)
    ids = [d.video_id for d in train] + [d.video_id for d in val]
    assert sorted(ids) == sorted(d.video_id for d in full)
    assert len(val) >= 1 and not set(d.video_id for d in train) & set(
        d.video_id for d in val)
    test_ids = {d.video_id for d in dm.split('test')}
    assert not test_ids & set(ids)
    # val_fraction=0: the authors' practice, validation on the test split.
    dm0 = SSGDataModule('action_genome', root, batch_size=2,
                        dataset_kwargs=dict(log=False), val_fraction=0)
    assert {d.video_id for d in dm0.split('val')} == test_ids
    assert len(dm0.split('train')) == len(full)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match='Unknown dataset'):
        SSGDataModule('kinetics', str(tmp_path))
    with pytest.raises(ValueError, match='val_fraction'):
        SSGDataModule('synthetic', str(tmp_path), val_fraction=1.0)
