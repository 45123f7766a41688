import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from pyg_proda.data import validate_video_graph
from pyg_proda.datasets import ActionGenome
from pyg_proda.features import build_backbone, extract_features, main
from pyg_proda.io import FeatureFile
from pyg_proda.testing.fixtures import ag_annotations, write_action_genome_root


def tiny_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, stride=2),
                               torch.nn.ReLU())  # [B, 6, h, w]: average-pooled


def write_frames(folder, size=(96, 54)):
    objects, _ = ag_annotations()
    for key in objects:
        path = osp.join(folder, key)
        os.makedirs(osp.dirname(path), exist_ok=True)
        w, h = size if not key.startswith('EEEEE') else size[::-1]
        rng = np.random.default_rng(len(key))
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


@pytest.mark.parametrize('suffix', ['npz', 'h5'])
def test_extract_and_load(tmp_path, suffix):
    root = str(tmp_path / 'ag')
    raw = write_action_genome_root(root)
    frames = str(tmp_path / 'frames')
    write_frames(frames)
    out = str(tmp_path / f'feats.{suffix}')
    n = extract_features(osp.join(raw, 'annotations'), frames, out, tiny_cnn(),
                         image_size=16, batch_size=5)
    # 19 frames with a person + 30 visible objects with a box.
    assert n == 49
    store = FeatureFile(out)
    vec = store.get('AAAAA.mp4/000010.png/cup/glass/bottle')
    assert vec.shape == (6, ) and np.isfinite(vec).all()
    store.close()
    if suffix == 'npz':
        assert np.load(out)['AAAAA.mp4/000010.png/person'].dtype == np.float16
    graphs = {g.video_id: g for g in ActionGenome(root, features=out, num_frames=None)}
    a = graphs['AAAAA']
    validate_video_graph(a)
    assert a['object'].x.shape == (4, 6) and a['person'].x.shape == (3, 6)
    # Table and cup of frame 10: different crops, different vectors.
    assert a['object'].x.abs().sum() > 0
    assert not torch.equal(a['object'].x[0], a['object'].x[1])


def test_include_invisible_and_atomic_failure(tmp_path):
    root = str(tmp_path / 'ag')
    raw = write_action_genome_root(root)
    frames = str(tmp_path / 'frames')
    write_frames(frames)
    out = str(tmp_path / 'feats.npz')
    n = extract_features(osp.join(raw, 'annotations'), frames, out, tiny_cnn(),
                         image_size=8, dtype='float32', include_invisible=True)
    assert n == 49 + 2  # two invisible books
    data = np.load(out)
    assert data['AAAAA.mp4/000010.png/book'].tolist() == [0.0] * 6
    loose = ActionGenome(root, features=out, num_frames=None, visible_only=False)
    assert loose[0]['object'].x.size(1) == 6

    os.remove(osp.join(frames, 'BBBBB.mp4', '000002.png'))
    bad = str(tmp_path / 'bad.npz')
    with pytest.raises(FileNotFoundError, match=r"BBBBB.mp4/000002.png"):
        extract_features(osp.join(raw, 'annotations'), frames, bad, tiny_cnn())
    assert not osp.exists(bad)
    assert [f for f in os.listdir(tmp_path) if f.endswith('.npz')] == ['feats.npz']


def test_backbone_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match='never downloaded'):
        build_backbone('torchvision:resnet18')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        build_backbone('torchvision:resnet18', weights=str(tmp_path / 'nope.pth'))
    with pytest.raises(ValueError, match="'torchvision:<arch>'"):
        build_backbone('resnet18', random_init=True)
    try:
        model, mean, std = build_backbone('torchvision:resnet18', random_init=True)
    except ImportError as e:
        assert 'pyg_proda[features]' in str(e)
    else:
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 512)
    code = main(['--annotations', str(tmp_path), '--frames', str(tmp_path),
                 '--out', str(tmp_path / 'f.h5'), '--backbone', 'torchvision:resnet18'])
    assert code == 2 and 'weight file' in capsys.readouterr().err
