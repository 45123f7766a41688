import math
from itertools import combinations

import numpy as np
import pytest
import torch

from pyg_proda.fewshot.models import CLIPSPM, build_head, head_forward
from pyg_proda.fewshot.nn import (
    HSMR,
    PADM,
    SPM,
    TRX,
    EpisodeTransformer,
    ProtoNet,
    SemanticFusion,
    class_means,
    inductive_mask,
    otam_distance,
)

erf = np.vectorize(math.erf)


def np_gelu(x):
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def np_lin(layer, x):
    w = layer.weight.detach().double().numpy()
    out = x @ w.T
    if layer.bias is not None:
        out = out + layer.bias.detach().double().numpy()
    return out


def np_ln(layer, x):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return ((x - mu) / np.sqrt(var + layer.eps) *
            layer.weight.detach().double().numpy() +
            layer.bias.detach().double().numpy())


def np_transformer(block: EpisodeTransformer, x, mask=None):
    B, L, _ = x.shape
    H, C = block.heads, block.head_channels
    h = np_ln(block.norm, x)
    q, k, v = (np_lin(lin, h).reshape(B, L, H, C).transpose(0, 2, 1, 3)
               for lin in (block.lin_q, block.lin_k, block.lin_v))
    a = q @ k.transpose(0, 1, 3, 2) / math.sqrt(C)
    if mask is not None:
        a = np.where(mask, a, -np.inf)
    a = np.exp(a - a.max(-1, keepdims=True))
    a = a / a.sum(-1, keepdims=True)
    out = (a @ v).transpose(0, 2, 1, 3).reshape(B, L, H * C)
    x = x + np_lin(block.lin_out, out)
    return x + np_lin(block.ffn[3], np_gelu(np_lin(block.ffn[0], x)))


def small(cls, *args, **kwargs):
    torch.manual_seed(0)
    return cls(*args, **kwargs).double().eval()


def test_episode_transformer_against_numpy():
    block = small(EpisodeTransformer, 6, heads=2, head_channels=3,
                  ff_channels=10)
    x = torch.randn(4, 5, 6, dtype=torch.float64)
    np.testing.assert_allclose(block(x).detach().numpy(),
                               np_transformer(block, x.numpy()), atol=1e-10)
    mask = inductive_mask(4)
    np.testing.assert_allclose(block(x, mask).detach().numpy(),
                               np_transformer(block, x.numpy(),
                                              mask.numpy()), atol=1e-10)


def np_fusion(f: SemanticFusion, frames, token):
    def gate(seq, x):
        h = np_lin(seq[0], x)
        h = np.where(h > 0, h, f.negative_slope * h)
        return 1 / (1 + np.exp(-np_lin(seq[2], h)))

    fused = f.alpha * token * gate(f.gate_text, token) + \
        frames * gate(f.gate_vision, frames)
    out = np_transformer(f.transformer, np.concatenate([token, fused], 1))
    return out[:, 1:], out[:, :1]


def test_semantic_fusion_against_numpy():
    f = small(SemanticFusion, 6, alpha=0.3, heads=2, head_channels=3,
              ff_channels=10)
    frames = torch.randn(3, 5, 6, dtype=torch.float64)
    token = torch.randn(3, 1, 6, dtype=torch.float64)
    out, tok = f(frames, token)
    ref, ref_tok = np_fusion(f, frames.numpy(), token.numpy())
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=1e-10)
    np.testing.assert_allclose(tok.detach().numpy(), ref_tok, atol=1e-10)


def np_conv1d(conv, x):  # x [B, D, T], kernel 3, padding 1
    w = conv.weight.detach().double().numpy()  # [O, I, 3]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    T = x.shape[-1]
    out = np.stack([np.einsum('oik,bik->bo', w, xp[:, :, t:t + 3])
                    for t in range(T)], -1)
    return out + conv.bias.detach().double().numpy()[None, :, None]


def test_hsmr_against_numpy():
    fusion = small(SemanticFusion, 6, heads=2, head_channels=3,
                   ff_channels=10)
    hsmr = small(HSMR, 6, fusion)
    x = torch.randn(3, 5, 6, dtype=torch.float64)

    def motion(v):  # [B, T, D] -> [B, D]
        vt = v.transpose(0, 2, 1)
        c = np_conv1d(hsmr.conv2, np_conv1d(hsmr.conv1, vt))
        fwd = c[..., 1:] - vt[..., :-1]
        bwd = c[..., :-1] - vt[..., 1:]
        return (0.5 * (fwd + bwd)).mean(-1)

    m = motion(x.numpy())
    np.testing.assert_allclose(hsmr.motion(x).detach().numpy(), m,
                               atol=1e-10)
    fused, tok = np_fusion(fusion, x.numpy(), m[:, None])
    ref = ((motion(fused) - tok[:, 0]) ** 2).sum(-1)
    np.testing.assert_allclose(hsmr(x).detach().numpy(), ref, atol=1e-9)


def test_protonet_against_numpy():
    head = small(ProtoNet, 4)
    s = torch.randn(6, 3, 4, dtype=torch.float64)  # 3 classes x 2 shots
    q = torch.randn(2, 3, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    logits = head(s, y, q).detach().numpy()
    hs = np_lin(head.lin, s.numpy()).mean(1)
    hq = np_lin(head.lin, q.numpy()).mean(1)
    protos = np.stack([hs[y.numpy() == c].mean(0) for c in range(3)])
    ref = -((hq[:, None] - protos[None]) ** 2).sum(-1)
    np.testing.assert_allclose(logits, ref, atol=1e-10)
    # Order-blind by construction.
    np.testing.assert_allclose(head(s, y, q.flip(1)).detach().numpy(), ref,
                               atol=1e-10)


def test_trx_against_loop():
    head = small(TRX, 4, out_channels=5, cardinalities=(2, 3), num_frames=4)
    s = torch.randn(1, 4, 4, 4, dtype=torch.float64)  # 2 classes x 2 shots
    q = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    y = torch.tensor([1, 0, 0, 1])  # any order of the supports
    logits = head(s, y, q)[0].detach().numpy()
    ref = np.zeros((3, 2))
    for t in head.transformers:
        pe = t.pe.double().numpy()
        tuples = list(combinations(range(4), t.cardinality))

        def tup(v):  # [T, D] -> [P, w*D]
            v = v + pe
            return np.stack([v[list(p)].reshape(-1) for p in tuples])

        for i in range(3):
            qt = tup(q[0, i].numpy())
            qk = np_ln(t.norm_k, np_lin(t.lin_k, qt))
            qv = np_lin(t.lin_v, qt)
            for c in range(2):
                st = np.concatenate([tup(s[0, j].numpy())
                                     for j in range(4) if y[j] == c])
                sk = np_ln(t.norm_k, np_lin(t.lin_k, st))
                sv = np_lin(t.lin_v, st)
                a = qk @ sk.T / math.sqrt(5)
                a = np.exp(a - a.max(1, keepdims=True))
                a = a / a.sum(1, keepdims=True)
                dist = ((qv - a @ sv) ** 2).sum() / len(tuples)
                ref[i, c] += -dist / len(head.transformers)
    np.testing.assert_allclose(logits, ref, atol=1e-10)
    # Ordered tuples: reversing the query changes its logits.
    assert not np.allclose(head(s, y, q.flip(2))[0].detach().numpy(), ref)


def identity_transformer(block: EpisodeTransformer) -> None:
    # Zero residual branches: the block is the identity.
    with torch.no_grad():
        block.lin_out.weight.zero_()
        block.lin_out.bias.zero_()
        block.ffn[3].weight.zero_()
        block.ffn[3].bias.zero_()


@pytest.mark.parametrize('transductive', [False, True])
def test_padm_tokens_and_anchor(transductive):
    padm = small(PADM, 4, transductive=transductive, heads=2,
                 head_channels=2, ff_channels=8)
    identity_transformer(padm.transformer)
    s = torch.randn(2, 6, 3, 4, dtype=torch.float64)  # 3 classes x 2 shots
    q = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    out = padm(s, y, q)
    sn, qn = s.numpy(), q.numpy()
    if transductive:
        tokens = np.stack([(sn[:, 2 * c:2 * c + 2].sum(1) + qn.sum(1)) / 5
                           for c in range(3)], 1)
    else:
        tokens = np.stack([sn[:, 2 * c:2 * c + 2].mean(1)
                           for c in range(3)], 1)
    np.testing.assert_allclose(out.class_tokens.detach().numpy(), tokens,
                               atol=1e-12)
    np.testing.assert_allclose(out.anchor.detach().numpy(),
                               tokens.mean(1, keepdims=True), atol=1e-12)
    assert torch.equal(out.support, s) and torch.equal(out.query, q)


def test_padm_inductive_vs_transductive():
    s = torch.randn(1, 5, 8, 6)
    q = torch.randn(1, 5, 8, 6)
    y = torch.arange(5)
    q2 = q.clone()
    q2[0, 3] = torch.randn(8, 6)  # change query 3 only
    for transductive in (False, True):
        padm = small(PADM, 6, transductive=transductive, heads=2,
                     head_channels=3, ff_channels=12).float()
        a, b = padm(s, y, q), padm(s, y, q2)
        others = [0, 1, 2, 4]
        same = torch.equal(a.query[0, others], b.query[0, others])
        assert same != transductive
        assert torch.equal(a.support, b.support) != transductive


def test_spm_composition():
    fusion = small(SemanticFusion, 6, heads=2, head_channels=3,
                   ff_channels=10)
    spm = small(SPM, 6, fusion, ff_channels=12)
    s = torch.randn(2, 4, 5, 6, dtype=torch.float64)  # 2 classes x 2 shots
    q = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    text = torch.randn(2, 2, 6, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    out = spm(s, y, q, text)
    token = text[:, y].mean(1)  # supports only
    scale = q.mean(dim=(-2, -1))[..., None, None]
    prompt = spm.prompt.ffn(token[:, None, None] * scale)
    assert torch.allclose(out.prompt, prompt)
    su, _ = fusion(s.reshape(8, 5, 6), text[:, y].reshape(8, 1, 6))
    qu, _ = fusion(q.reshape(6, 5, 6), prompt.reshape(6, 1, 6))
    assert torch.allclose(out.support, su.view(2, 4, 5, 6))
    assert torch.allclose(out.query, qu.view(2, 3, 5, 6))
    assert torch.allclose(out.prototypes, su.view(2, 2, 2, 5, 6).mean(2))
    # Each query on its own gives the same output (no query mixing).
    single = spm(s, y, q[:, 1:2], text)
    assert torch.allclose(single.query[:, 0], out.query[:, 1])


@pytest.mark.parametrize('flags', [dict(), dict(use_padm=False),
                                   dict(use_spm=False),
                                   dict(use_spm=False, use_padm=False),
                                   dict(adapter=True),
                                   dict(anchor_term=False)])
def test_clip_spm_composition(flags):
    model = small(CLIPSPM, 6, heads=2, head_channels=3, ff_channels=12,
                  **flags)
    s = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    q = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    text = torch.randn(2, 2, 6, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    out = model(s, y, q, text)
    if model.adapter is not None:
        s, q = model.adapter(s), model.adapter(q)
    dist = 0
    su, qu = s, q
    if model.spm is not None:
        o = model.spm(s, y, q, text)
        su, qu = o.support, o.query
        dist = dist + 0.5 * otam_distance(qu, o.prototypes)
    if model.padm is not None:
        p = model.padm(su, y, qu, 2)
        dist = dist + otam_distance(p.query, class_means(p.support, y, 2))
        if model.anchor_term:
            dist = dist + otam_distance(p.anchor, p.class_tokens)
    if model.spm is None and model.padm is None:
        dist = otam_distance(q, class_means(s, y, 2))
    assert torch.allclose(out.logits, -dist)
    assert float(out.motion_loss) == 0.0  # eval mode: not computed


def test_clip_spm_motion_loss_in_training():
    model = small(CLIPSPM, 6, heads=2, head_channels=3, ff_channels=12,
                  attn_dropout=0.0, ff_dropout=0.0)
    model.train()
    s, q = torch.randn(1, 2, 5, 6).double(), torch.randn(1, 2, 5, 6).double()
    text = torch.randn(1, 2, 6).double()
    out = model(s, torch.tensor([0, 1]), q, text)
    ref = model.hsmr(s).mean() + model.hsmr(q).mean()
    assert out.motion_loss > 0
    assert torch.allclose(out.motion_loss, ref)
    out.logits.sum().add(out.motion_loss).backward()
    assert model.hsmr.conv1.weight.grad is not None
    assert model.spm.prompt.ffn[0].weight.grad is not None


@pytest.mark.parametrize('name', ['protonet', 'otam', 'trx', 'clip_spm'])
def test_single_episode_shapes(name):
    head = build_head(name, 8, num_frames=4, heads=2, head_channels=4,
                      ff_channels=16, out_channels=8).eval()
    s, q = torch.randn(6, 4, 8), torch.randn(3, 4, 8)
    logits, aux = head_forward(head, s, torch.arange(3).repeat(2), q,
                               torch.randn(3, 8))
    assert logits.shape == (3, 3) and aux.dim() == 0


def test_bad_shapes():
    head = ProtoNet(4)
    with pytest.raises(ValueError, match='Support labels'):
        head(torch.randn(3, 2, 4), torch.tensor([0, 1]), torch.randn(2, 2, 4))
    with pytest.raises(ValueError, match='disagree'):
        head(torch.randn(1, 3, 2, 4), torch.tensor([0, 1, 2]),
             torch.randn(2, 2, 2, 4))
    with pytest.raises(ValueError, match='at least one support'):
        class_means(torch.randn(1, 2, 3), torch.tensor([0, 0]), 2)
    with pytest.raises(ValueError, match='same number of supports'):
        TRX(4, 4, num_frames=3)(torch.randn(3, 3, 4), torch.tensor([0, 0, 1]),
                                torch.randn(1, 3, 4))
    with pytest.raises(ValueError, match='Unknown few-shot head'):
        build_head('bogus', 4)
    with pytest.raises(ValueError, match='fusion of size'):
        HSMR(8, SemanticFusion(4))
