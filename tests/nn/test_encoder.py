import pytest
import torch

from pyg_proda.nn import IMPLS, SpatioTemporalEncoder, encoder_groups
from pyg_proda.testing import dense_encoder, random_ssg


def batch(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    reappear = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 1]], dtype=torch.bool)
    presence = [torch.rand(4, 5, generator=gen) < 0.6,
                torch.ones(4, 1, dtype=torch.bool),
                torch.ones(4, 12, dtype=torch.bool),
                reappear]
    return random_ssg(presence, channels=8, edge_prob=0.0, generator=gen)


def make_encoder(num_layers: int = 2, impl: str = 'scatter',
                 max_relative_position: int = 0) -> SpatioTemporalEncoder:
    torch.manual_seed(0)
    return SpatioTemporalEncoder(
        8, heads=2, num_layers=num_layers, ff_channels=16, max_frames=5,
        attention_impl=impl,
        max_relative_position=max_relative_position).double().eval()


@pytest.mark.parametrize('impl', IMPLS)
def test_matches_dense_reference(impl):
    g = batch()
    enc = make_encoder(impl=impl)
    out = enc(g.x, g.batch, g.frame, g.track)
    d = g.pad()
    ref = dense_encoder(enc, d.x, d.node_mask)
    assert torch.allclose(out, d.gather_nodes(ref, g.batch, g.frame),
                          atol=1e-10)


@pytest.mark.parametrize('rel', [0, 2])
def test_permutation_and_batching_invariance(rel):
    g = batch(seed=1)
    enc = make_encoder(num_layers=1, max_relative_position=rel)
    groups = encoder_groups(g.batch, g.frame, g.track)
    out = enc(g.x, g.batch, g.frame, g.track, groups=groups)
    perm = torch.randperm(g.x.size(0))
    out_p = enc(g.x[perm], g.batch[perm], g.frame[perm], g.track[perm])
    assert torch.allclose(out_p, out[perm], atol=1e-10)
    for b in range(g.num_graphs):
        keep = g.batch == b
        alone = enc(g.x[keep], torch.zeros_like(g.batch[keep]), g.frame[keep],
                    g.track[keep])
        assert torch.allclose(alone, out[keep], atol=1e-10)
    # Tracks restarting at 0 in every graph are still told apart by batch.
    local = g.track - torch.tensor([0, 5, 6, 18])[g.batch]
    assert torch.allclose(enc(g.x, g.batch, g.frame, local), out, atol=1e-10)


def test_gradients_and_compile():
    g = batch(seed=2)
    enc = SpatioTemporalEncoder(8, heads=2, ff_channels=16, max_frames=5)
    x = g.x.float().requires_grad_()
    enc(x, g.batch, g.frame, g.track).square().sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    enc.eval()
    groups = encoder_groups(g.batch, g.frame, g.track)
    compiled = torch.compile(enc, backend='eager', fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x, g.batch, g.frame, g.track, groups),
                              enc(x, g.batch, g.frame, g.track, groups),
                              atol=1e-5)
