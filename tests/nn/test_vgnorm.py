import pytest
import torch

from pyg_proda.nn import NORMS, VGNorm, make_norm
from pyg_proda.testing import dense_vgnorm, random_ssg


def batch(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    presence = [torch.rand(4, 5, generator=gen) < 0.6,
                torch.ones(4, 1, dtype=torch.bool),
                torch.ones(4, 12, dtype=torch.bool)]
    presence[0][1] = False  # frame 1 of video 0 is empty
    g = random_ssg(presence, channels=6, edge_prob=0.0, generator=gen)
    g.x = 3 * g.x + 1
    return g


def randomised_norm(max_frames: int = 6) -> VGNorm:
    norm = VGNorm(6, max_frames=max_frames).double()
    with torch.no_grad():
        norm.mean_scale.uniform_(0.5, 1.5)
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.normal_()
        norm.running_mean.normal_()
    return norm


@pytest.mark.parametrize('training', [True, False])
def test_matches_dense_reference(training):
    g = batch()
    norm = randomised_norm().train(training)
    running = norm.running_mean.clone()
    out = norm(g.x, g.batch, g.frame, batch_size=g.num_graphs)
    d = g.pad()
    ref, mu = dense_vgnorm(norm, d.x, d.node_mask, training)
    assert torch.allclose(out, d.gather_nodes(ref, g.batch, g.frame),
                          atol=1e-10)
    if training:
        # Frames 0-3 occur and are updated with momentum; 4-5 never occur.
        expected = running.clone()
        expected[:4] = 0.9 * running[:4] + 0.1 * mu
        assert torch.allclose(norm.running_mean, expected, atol=1e-12)
    else:
        assert torch.equal(norm.running_mean, running)


def test_absent_frames_keep_buffer_and_eval_converges():
    norm = VGNorm(4, max_frames=3, momentum=0.5)
    x = torch.full((2, 4), 2.0)
    frame, b = torch.tensor([0, 0]), torch.zeros(2, dtype=torch.long)
    for _ in range(30):
        norm(x, b, frame)
    assert torch.allclose(norm.running_mean, torch.tensor([2.0, 0.0, 0.0]))
    # Evaluation uses the buffer (2), so a shifted input keeps its shift:
    # x_hat = 1, sigma^2 = 8 / (2 * 4 - 1) ...
    norm.eval()
    y = norm(x + 1, b, frame)
    assert torch.allclose(y, torch.full((2, 4), (7 / 8)**0.5), atol=1e-5)
    # ... training re-centres it with the batch mean.
    norm.train()
    assert torch.allclose(norm(x + 1, b, frame), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='frame indices'):
        norm(x, b, torch.tensor([0, 3]))


def test_single_node_single_channel_group_is_finite():
    norm = VGNorm(1, max_frames=2)
    out = norm(torch.randn(3, 1), torch.tensor([0, 1, 1]),
               torch.tensor([0, 0, 1]))
    assert torch.isfinite(out).all()


def test_batching_invariance_in_eval():
    g = batch(seed=1)
    norm = randomised_norm().eval()
    out = norm(g.x, g.batch, g.frame)
    for b in range(g.num_graphs):
        keep = g.batch == b
        alone = norm(g.x[keep], torch.zeros_like(g.batch[keep]),
                     g.frame[keep], batch_size=1)
        assert torch.allclose(alone, out[keep], atol=1e-10)


def test_gradients_and_detach_mean():
    g = batch(seed=2)
    for detach in (False, True):
        norm = VGNorm(6, max_frames=4, detach_mean=detach)
        x = g.x.float().requires_grad_()
        out = norm(x, g.batch, g.frame)
        (out * torch.randn_like(out)).sum().backward()
        for name, p in norm.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name
        assert torch.isfinite(x.grad).all()


def test_compile_fullgraph():
    g = batch(seed=3)
    norm = VGNorm(6, max_frames=4)
    x = g.x.float()
    compiled = torch.compile(norm, backend='eager', fullgraph=True)
    ref = VGNorm(6, max_frames=4)
    out = compiled(x, g.batch, g.frame, batch_size=g.num_graphs)
    assert torch.allclose(out, ref(x, g.batch, g.frame), atol=1e-5)
    assert torch.allclose(norm.running_mean, ref.running_mean)


@pytest.mark.parametrize('name', NORMS)
def test_make_norm(name):
    g = batch(seed=4)
    x = g.x.float()
    norm = make_norm(name, 6, max_frames=4)
    out = norm(x, g.batch, g.frame, batch_size=g.num_graphs)
    assert out.shape == x.shape and torch.isfinite(out).all()
    if name == 'none':
        assert torch.equal(out, x)
    if name == 'layer':
        assert torch.allclose(out.mean(-1), torch.zeros(x.size(0)), atol=1e-5)
    if name == 'graph':
        # Every (graph, frame) group is centred (GraphNorm mean_scale = 1).
        group = g.batch * 4 + g.frame
        for gid in group.unique():
            assert torch.allclose(out[group == gid].mean(0), torch.zeros(6),
                                  atol=1e-4)
    if name == 'vgnorm':
        assert isinstance(norm, VGNorm)


def test_make_norm_unknown_name():
    with pytest.raises(ValueError, match="unknown norm 'instance'"):
        make_norm('instance', 8)
