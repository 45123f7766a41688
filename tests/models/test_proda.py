import pytest
import torch
from torch_geometric.loader import DataLoader

from pyg_proda.data import to_homogeneous
from pyg_proda.datasets import SyntheticSSG
from pyg_proda.models import BagOfFrames, ProDA, ProDAOutput


@pytest.fixture(scope='module')
def view(tmp_path_factory):
    ds = SyntheticSSG(str(tmp_path_factory.mktemp('ssg')), num_videos=6,
                      log=False)
    return to_homogeneous(next(iter(DataLoader(ds, batch_size=6))))


def tiny(view, **kwargs):
    return ProDA(view.x.size(1), view.y.size(1), view.edge_attr.size(1),
                 hidden_channels=16, heads=2, num_layers=2,
                 num_temporal_layers=1, num_prompts=3, **kwargs)


@pytest.mark.parametrize('prompt', ['dynamic', 'simple'])
@pytest.mark.parametrize('norm', ['vgnorm', 'layer', 'batch', 'graph'])
def test_forward_shapes_and_gradients(view, prompt, norm):
    torch.manual_seed(0)
    model = tiny(view, prompt=prompt, norm=norm)
    B, C = view.y.shape
    sap = torch.zeros(B, C)
    sap[:, :3] = 1
    out = model(view, sap, 1 - sap)
    assert isinstance(out, ProDAOutput)
    assert out.a_s.shape == out.a_u.shape == (B, C + 1)
    assert out.a_t.shape == out.a_m.shape == (B, C)
    assert set(out.frame_weights) == {'s', 'u', 't', 'm'}
    assert out.frame_weights['s'].shape == out.frame_mask.shape == (B, 16)
    w = out.frame_weights['s']
    assert ((w > 0) & (w < 1))[out.frame_mask].all()
    assert (w[~out.frame_mask] == 0).all()
    N, H = view.num_nodes, 16
    for f in (out.f_o, out.f_s, out.f_u, out.f_r):
        assert f.shape == (N, H)
    assert len(out.edge_gates) == 2
    assert out.edge_gates[0].shape == (view.edge_index.size(1), 2)
    loss = sum(t.sum() for t in (out.a_s, out.a_u, out.a_t, out.a_m,
                                 out.f_r))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_prompts_change_branches(view):
    torch.manual_seed(0)
    model = tiny(view).eval()
    B, C = view.y.shape
    a, b = torch.zeros(B, C), torch.zeros(B, C)
    a[:, 0], b[:, 1] = 1, 1
    out_a, out_b = model(view, a, 1 - a), model(view, b, 1 - b)
    assert not torch.allclose(out_a.a_s, out_b.a_s)
    # a_m reads the encoder only: the prompt cannot change it.
    torch.testing.assert_close(out_a.a_m, out_b.a_m)


def test_probe_is_detached_by_default(view):
    B, C = view.y.shape
    spec = torch.zeros(B, C)
    for detach, expect_grad in ((True, False), (False, True)):
        model = tiny(view, detach_probe=detach)
        model(view, spec, 1 - spec).a_m.sum().backward()
        grad = model.encoder.parameters().__next__().grad
        assert (grad is not None and grad.abs().sum() > 0) == expect_grad


def test_relative_time_switch(view):
    B, C = view.y.shape
    spec = torch.zeros(B, C)
    on, off = tiny(view), tiny(view, relative_time=False)
    names = [n for n, _ in on.named_parameters() if n.endswith('rel_bias')]
    # Encoder temporal blocks (2 streams) and the VGPNN temporal blocks.
    assert len(names) == 2 + 2
    assert not any(n.endswith('rel_bias') for n, _ in off.named_parameters())
    for model in (on, off):
        out = model(view, spec, 1 - spec)
        assert torch.isfinite(out.a_t).all()


def test_unknown_prompt_type(view):
    with pytest.raises(ValueError, match='prompt type'):
        tiny(view, prompt='fancy')


def test_bag_of_frames_ignores_frame_order(view):
    torch.manual_seed(0)
    model = BagOfFrames(view.x.size(1), view.y.size(1),
                        view.edge_attr.size(1), hidden_channels=16).eval()
    rev = view.clone()
    T = view.num_frames[view.batch]
    rev.frame = T - 1 - view.frame
    rev.edge_frame = T[view.edge_index[0]] - 1 - view.edge_frame
    torch.testing.assert_close(model(view), model(rev))
