import torch

from pyg_proda.nn import SSGReadout
from pyg_proda.testing import dense_readout, random_ssg


def batch(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    presence = [torch.rand(5, 4, generator=gen) < 0.6,
                torch.ones(5, 1, dtype=torch.bool),
                torch.ones(5, 12, dtype=torch.bool)]
    presence[0][2] = False  # an empty frame inside video 0
    presence[1][4] = False  # video 1 ends early
    return random_ssg(presence, channels=8, edge_prob=0.0, generator=gen)


def make_readout() -> SSGReadout:
    torch.manual_seed(0)
    return SSGReadout(8, dropout=0.1, max_frames=6, ff_channels=16).double()


def test_matches_dense_reference():
    g = batch()
    readout = make_readout().eval()
    out, s, mask = readout(g.x, g.batch, g.frame, batch_size=g.num_graphs)
    d = g.pad()
    ref, ref_s, ref_mask = dense_readout(readout, d.x, d.node_mask)
    assert torch.allclose(out, ref, atol=1e-10)
    assert torch.allclose(s, ref_s, atol=1e-10)
    assert torch.equal(mask, ref_mask)
    # Empty frames and frames past the end get weight 0.
    assert not mask[0, 2] and s[0, 2] == 0 and s[1, 4] == 0 and s[:, 5].eq(0).all()
    assert ((s > 0) & (s < 1)).eq(mask).all()


def test_permutation_and_batching_invariance():
    g = batch(seed=1)
    readout = make_readout().eval()
    out, s, mask = readout(g.x, g.batch, g.frame)
    perm = torch.randperm(g.x.size(0))
    out_p, s_p, _ = readout(g.x[perm], g.batch[perm], g.frame[perm])
    assert torch.allclose(out_p, out, atol=1e-10)
    assert torch.allclose(s_p, s, atol=1e-10)
    for b in range(g.num_graphs):
        keep = g.batch == b
        out_b, s_b, mask_b = readout(g.x[keep], torch.zeros_like(g.batch[keep]),
                                     g.frame[keep], batch_size=1)
        assert torch.allclose(out_b[0], out[b], atol=1e-10)
        assert torch.allclose(s_b[0], s[b], atol=1e-10)
        assert torch.equal(mask_b[0], mask[b])


def test_gradients():
    g = batch(seed=2)
    readout = SSGReadout(8, max_frames=6)
    x = g.x.float().requires_grad_()
    out, s, _ = readout(x, g.batch, g.frame)
    (out.square().sum() + s.sum()).backward()
    for name, p in readout.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


def test_compile_fullgraph():
    g = batch(seed=3)
    readout = SSGReadout(8, max_frames=6).eval()
    x = g.x.float()
    compiled = torch.compile(readout, backend='eager', fullgraph=True)
    out, s, mask = compiled(x, g.batch, g.frame, batch_size=g.num_graphs)
    ref, ref_s, ref_mask = readout(x, g.batch, g.frame)
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(s, ref_s, atol=1e-5) and torch.equal(mask, ref_mask)
