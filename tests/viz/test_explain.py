import matplotlib.image as mpimg
import pytest
import torch

from pyg_proda.models import ProDA
from pyg_proda.training import ProDAModule
from pyg_proda.viz.explain import explain, graph_features, main, parse_spec

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_size(path):
    with open(path, 'rb') as f:
        assert f.read(8) == PNG_SIGNATURE
    h, w = mpimg.imread(str(path)).shape[:2]
    return w, h


@pytest.fixture(scope='module')
def tiny_module(synthetic_dataset):
    torch.manual_seed(0)
    data = synthetic_dataset[0]
    module = ProDAModule(ProDA(data['person'].x.size(1),
                               synthetic_dataset.num_classes, 26,
                               hidden_channels=16, heads=2, num_layers=2,
                               num_temporal_layers=1, num_prompts=2))
    return module.eval()


def test_parse_spec():
    names = ['taking a cup', 'putting a cup down', 'reading a book']
    assert parse_spec('2, Taking a cup,2', names) == [2, 0]
    assert parse_spec('gt,1', names, y=torch.tensor([[1., 0., 1.]])) == [0, 2, 1]
    with pytest.raises(ValueError, match='unknown class'):
        parse_spec('flying', names)
    with pytest.raises(ValueError, match='out of range'):
        parse_spec('3', names)
    with pytest.raises(ValueError, match="'gt'"):
        parse_spec('gt', names)


def test_explain_renders_three_figures(tiny_module, synthetic_dataset,
                                       tmp_path):
    data = synthetic_dataset[1]
    spec = (data.y.view(-1) > 0).nonzero().view(-1).tolist()[:2]
    paths = explain(tiny_module, synthetic_dataset, 1, spec, str(tmp_path),
                    theta=0.7, layer=0, tsne_videos=8, dpi=40)
    assert set(paths) == {'frame_weights', 'subgraph', 'tsne'}
    assert png_size(paths['frame_weights']) == (320, 144)  # 8 x 3.6 in
    # Up to 8 frames: 4 columns x 2 rows of 3 x 3 in, plus the title band.
    assert png_size(paths['subgraph']) == (480, 260)
    assert png_size(paths['tsne']) == (280, 240)  # 7 x 6 in
    assert tiny_module.training is False


def test_graph_features_one_row_per_ground_truth_class(tiny_module,
                                                       synthetic_dataset):
    feats, labels = graph_features(tiny_module, synthetic_dataset, 5,
                                   batch_size=4)
    expected = torch.cat([(synthetic_dataset[i].y.view(-1) > 0).nonzero()
                          .view(-1) for i in range(5)])
    assert labels.tolist() == expected.tolist()
    assert feats.shape == (expected.numel(), 16)


def test_explain_rejects_bad_arguments(tiny_module, synthetic_dataset,
                                       tmp_path):
    with pytest.raises(IndexError, match='out of range'):
        explain(tiny_module, synthetic_dataset, 999, [0], str(tmp_path))
    with pytest.raises(ValueError, match='--layer'):
        explain(tiny_module, synthetic_dataset, 0, [0], str(tmp_path),
                layer=5, tsne_videos=0)
    with pytest.raises(ValueError, match='--frames'):
        explain(tiny_module, synthetic_dataset, 0, [0], str(tmp_path),
                frames=[99], tsne_videos=0)


def test_cli_train_quick(tmp_path, capsys):
    out = tmp_path / 'figs'
    paths = main(['--train-quick', '--quick-epochs', '1', '--quick-videos',
                  '16', '--quick-hidden', '16', '--root', str(tmp_path),
                  '--split', 'val', '--num-videos', '10', '--video', '2',
                  '--spec', 'gt', '--frames', '0,5,9', '--relations',
                  '--tsne-videos', '6', '--dpi', '30', '--out', str(out),
                  '--quick-dir', str(tmp_path / 'ckpt')])
    printed = capsys.readouterr().out
    for key in ('frame_weights', 'subgraph', 'tsne'):
        assert f'{key}: {paths[key]}' in printed
    assert (tmp_path / 'ckpt' / 'quick.ckpt').exists()
    assert png_size(out / 'frame_weights.png') == (240, 108)
    assert png_size(out / 'subgraph.png') == (270, 105)  # 3 panels, 1 row
    assert png_size(out / 'tsne.png') == (210, 180)
