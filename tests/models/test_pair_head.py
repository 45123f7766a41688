import pytest
import torch

from pyg_proda.data import SSGLoader
from pyg_proda.datasets import SyntheticHHI
from pyg_proda.models import PairBaseline, PairHead, ProDAPairs
from pyg_proda.training.pairs import model_input


@pytest.fixture(scope='module')
def views(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('hhi'))
    ds = SyntheticHHI(root, 'val', num_videos=4, log=False)
    return list(SSGLoader(ds, batch_size=2))


def set_frame(view, video, frame, value):
    r"""A copy of :obj:`view` whose nodes of (video, frame) get features
    and boxes :obj:`value` (the edge features follow the boxes)."""
    from pyg_proda.datasets.sportshhi import pair_geometry
    out = view.clone()
    mask = (out.batch == video) & (out.frame == frame)
    out.x[mask] = value
    out.box[mask] = torch.tensor([0.4, 0.4, 0.45, 0.6])
    src, dst = out.edge_index
    out.edge_attr = pair_geometry(out.box[src], out.box[dst])
    return out


def test_pair_head_shapes_direction_and_context():
    torch.manual_seed(0)
    head = PairHead(8, num_classes=3, dropout=0.0).eval()
    assert head.lin_out.bias.tolist() == [-4.0] * 3
    links = {'s': torch.randn(4, 2, 8), 'u': torch.randn(4, 2, 8)}
    h = torch.randn(3, 8)
    edge_index = torch.tensor([[0, 1, 0, 2], [1, 0, 1, 0]])
    pair = torch.tensor([0, 1, 0, 2])  # edges 0 and 2: one pair, 2 frames
    out = head(links, h, edge_index, pair)
    assert out.shape == (4, 3)
    # The two message directions are not interchangeable.
    flipped = {k: v.flip(1) for k, v in links.items()}
    assert not torch.allclose(head(flipped, h, edge_index, pair), out)
    # Pair context: changing edge 2 (same pair as edge 0) changes edge 0,
    # not edge 1 (another pair).
    other = {k: v.clone() for k, v in links.items()}
    other['s'][2] += 1.0
    new = head(other, h, edge_index, pair)
    assert not torch.allclose(new[0], out[0])
    assert torch.allclose(new[1], out[1])
    plain = PairHead(8, 3, pair_context=False, branches=('s', ))
    assert plain.in_channels == 4 * 8
    assert plain(links, h, edge_index).shape == (4, 3)
    nn_out = head(links, h, edge_index, pair).sum()
    nn_out.backward()
    assert head.lin_in.weight.grad is not None


def test_input_skip(views):
    view = views[1]
    kw = dict(hidden_channels=16, heads=2, num_layers=1, num_temporal_layers=1,
              num_prompts=2, max_frames=8, dropout=0.0, num_node_classes=1)
    model = ProDAPairs(view.x.size(1), 12, view.edge_attr.size(1),
                       input_skip=True, **kw).eval()
    F = view.x.size(1)
    assert model.pair_head.input_channels == 2 * (F + 4) + 7
    spec = torch.zeros(2, 12)
    out = model(model_input(view), spec, 1 - spec)
    assert out.pair_logits.shape == view.edge_target.shape
    # The skip carries the candidate's own edge features to the head.
    moved = model_input(view).clone()
    moved.edge_attr = moved.edge_attr.clone()
    moved.edge_attr[0, 1] += 0.5
    assert not torch.allclose(model(moved, spec, 1 - spec).pair_logits[0],
                              out.pair_logits[0])
    assert model.config['input_skip'] is True
    rebuilt = ProDAPairs(**model.config)
    assert rebuilt.pair_head.in_channels == model.pair_head.in_channels


def test_pair_head_errors():
    head = PairHead(8, 3)
    links = {'s': torch.randn(2, 2, 8)}
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="no link states for branch 'u'"):
        head(links, torch.randn(2, 8), ei, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"must be \[2, 2, H\]"):
        head({'s': torch.randn(2, 8), 'u': torch.randn(2, 2, 8)},
             torch.randn(2, 8), ei, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="'edge_pair' is needed"):
        head({'s': links['s'], 'u': links['s']}, torch.randn(2, 8), ei)
    with pytest.raises(ValueError, match='at least one branch'):
        PairHead(8, 3, branches=())
    skip = PairHead(8, 3, input_channels=5)
    with pytest.raises(ValueError, match=r"'pair_inputs' of shape \[2, 5\]"):
        skip({'s': links['s'], 'u': links['s']}, torch.randn(2, 8), ei,
             torch.tensor([0, 1]))


def test_baseline_is_non_temporal(views):
    torch.manual_seed(0)
    view = views[0]
    model = PairBaseline(view.x.size(1), 12, view.edge_attr.size(1),
                         hidden_channels=16, dropout=0.0).eval()
    out = model(model_input(view))
    assert out.shape == (view.edge_index.size(1), 12)
    # Changing keyframe 3 of video 0 leaves every other keyframe's scores.
    changed = model(model_input(set_frame(view, 0, 3, 0.5)))
    edge_video = view.batch[view.edge_index[0]]
    here = (edge_video == 0) & (view.edge_frame == 3)
    assert not torch.allclose(changed[here], out[here])
    assert torch.allclose(changed[~here], out[~here])
    # Reversing the keyframe order and renumbering tracks changes nothing.
    rev = view.clone()
    rev.frame = 7 - view.frame
    rev.edge_frame = 7 - view.edge_frame
    rev.track = view.track.flip(0)
    assert torch.allclose(model(model_input(rev)), out, atol=1e-6)


def test_proda_pairs_is_temporal(views):
    torch.manual_seed(0)
    view = views[0]
    model = ProDAPairs(view.x.size(1), 12, view.edge_attr.size(1),
                       hidden_channels=16, heads=2, num_layers=1,
                       num_temporal_layers=1, num_prompts=2, max_frames=8,
                       dropout=0.0, num_node_classes=1).eval()
    spec = torch.zeros(2, 12)
    spec[:, :3] = 1
    out = model(model_input(view), spec, 1 - spec)
    assert out.pair_logits.shape == view.edge_target.shape
    assert out.video.a_t.shape == (2, 12)
    # Changing keyframe 3 of video 0 also changes the scores of its other
    # keyframes (through the temporal attention), but not video 1.
    changed = model(model_input(set_frame(view, 0, 3, 0.5)), spec, 1 - spec)
    edge_video = view.batch[view.edge_index[0]]
    other = (edge_video == 0) & (view.edge_frame != 3)
    assert not torch.allclose(changed.pair_logits[other],
                              out.pair_logits[other])
    assert torch.allclose(changed.pair_logits[edge_video == 1],
                          out.pair_logits[edge_video == 1], atol=1e-5)
    # Gradients reach the head, the VGPNN layer and the encoder.
    model.train()
    model(model_input(view), spec, 1 - spec).pair_logits.sum().backward()
    for name in ('pair_head.lin_in.weight', 'proda.convs.0.edge_mlp.0.weight',
                 'proda.lin_x.0.weight'):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    before = model.pair_head.lin_out.bias.clone()
    with torch.no_grad():
        model.pair_head.lin_out.bias.zero_()
    model.reset_parameters()
    assert torch.equal(model.pair_head.lin_out.bias, before)

