import torch

from pyg_proda.nn import DynamicPrompt, SimplePrompt
from pyg_proda.testing import dense_dpm, random_ssg


def batch(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    presence = [torch.rand(4, 5, generator=gen) < 0.6,
                torch.ones(4, 1, dtype=torch.bool),
                torch.ones(4, 12, dtype=torch.bool)]
    g = random_ssg(presence, channels=8, edge_prob=0.0, generator=gen)
    spec = (torch.rand(3, 7, generator=gen) < 0.4).double()
    return g, spec


def test_matches_dense_reference():
    g, spec = batch()
    for norm in (False, True):
        dpm = DynamicPrompt(7, 8, num_prompts=3, norm=norm).double()
        out, w = dpm(g.x, spec, g.batch, return_weights=True)
        d = g.pad()
        ref, ref_w = dense_dpm(dpm, d.x, spec)
        assert torch.allclose(out, d.gather_nodes(ref, g.batch, g.frame),
                              atol=1e-10)
        assert torch.allclose(w, d.gather_nodes(ref_w, g.batch, g.frame),
                              atol=1e-10)
        assert ((w > 0) & (w < 1)).all()  # sigmoid, not softmax
        assert not torch.allclose(w.sum(-1), torch.ones_like(w[:, 0]))


def test_prompt_depends_on_spec_and_node():
    g, spec = batch(seed=1)
    dpm = DynamicPrompt(7, 8, num_prompts=4).double()
    out = dpm(g.x, spec, g.batch)
    out2 = dpm(g.x, 1 - spec, g.batch)
    assert not torch.allclose(out, out2)
    # Batching invariance and permutation equivariance.
    for b in range(3):
        keep = g.batch == b
        alone = dpm(g.x[keep], spec[b:b + 1], torch.zeros_like(g.batch[keep]))
        assert torch.allclose(alone, out[keep], atol=1e-10)
    perm = torch.randperm(g.x.size(0))
    assert torch.allclose(dpm(g.x[perm], spec, g.batch[perm]), out[perm],
                          atol=1e-10)


def test_simple_prompt():
    g, spec = batch(seed=2)
    prompt = SimplePrompt(7, 8).double()
    out = prompt(g.x, spec, g.batch)
    expected = g.x + (spec @ prompt.lin.weight.t() + prompt.lin.bias)[g.batch]
    assert torch.allclose(out, expected, atol=1e-12)


def test_gradients_and_compile():
    g, spec = batch(seed=3)
    dpm = DynamicPrompt(7, 8, num_prompts=3)
    x = g.x.float().requires_grad_()
    out, w = dpm(x, spec.float(), g.batch, return_weights=True)
    (out.square().sum() + w.sum()).backward()
    for name, p in dpm.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    compiled = torch.compile(dpm, backend='eager', fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x, spec.float(), g.batch),
                              dpm(x, spec.float(), g.batch), atol=1e-6)
