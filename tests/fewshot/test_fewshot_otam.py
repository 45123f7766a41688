import numpy as np
import pytest
import torch

from pyg_proda.fewshot.nn import (
    OTAM,
    class_means,
    frame_distance,
    otam_cumulative,
    otam_distance,
)


def numpy_otam(dists: np.ndarray, lbda: float) -> float:
    # A literal transcription of the authors' OTAM_cum_dist_v2 for one
    # matrix: pad a zero column on both sides, top row a hard cumulative
    # sum, soft minimum elsewhere.
    d = np.pad(dists, ((0, 0), (1, 1)))
    L, M = d.shape
    cum = np.zeros_like(d)

    def softmin(*xs):
        xs = np.array(xs)
        return -lbda * np.log(np.exp(-xs / lbda).sum())

    for m in range(1, M):
        cum[0, m] = d[0, m] + cum[0, m - 1]
    for l in range(1, L):
        cum[l, 1] = d[l, 1] + softmin(cum[l - 1, 0], cum[l - 1, 1],
                                      cum[l, 0])
        for m in range(2, M - 1):
            cum[l, m] = d[l, m] + softmin(cum[l - 1, m - 1], cum[l, m - 1])
        cum[l, -1] = d[l, -1] + softmin(cum[l - 1, -2], cum[l - 1, -1],
                                        cum[l, -2])
    return cum[-1, -1]


def test_hand_example():
    # Hard minimum (lbda -> 0) by hand: rows are query frames.
    # C[1,1] = 0.8 + min(0, 0.1, 0) = 0.8; C[1,2] = 0.2 + min(0.1, 0.8) = 0.3;
    # end = min(C[0,2] = 1.0, C[0,3] = 1.0, C[1,2] = 0.3) = 0.3.
    d = torch.tensor([[0.1, 0.9], [0.8, 0.2]], dtype=torch.float64)
    assert float(otam_cumulative(d, lbda=1e-6)) == pytest.approx(0.3,
                                                                 abs=1e-5)
    # The soft version, written out for this 2 x 2 case.
    lb = 0.5

    def sm(*xs):
        return -lb * np.log(np.sum(np.exp(-np.array(xs) / lb)))

    c11 = 0.8 + sm(0.0, 0.1, 0.0)
    c12 = 0.2 + sm(0.1, c11)
    end = sm(1.0, 1.0, c12)
    assert float(otam_cumulative(d, lb)) == pytest.approx(end, abs=1e-12)
    # The reversed order costs more.
    assert float(otam_cumulative(d.flip(0), 1e-6)) > 0.3 + 0.5


@pytest.mark.parametrize('shape', [(8, 8), (5, 7), (7, 5), (1, 4), (4, 1),
                                   (2, 2)])
@pytest.mark.parametrize('lbda', [0.5, 0.1])
def test_matches_numpy_dp(shape, lbda):
    rng = np.random.default_rng(sum(shape))
    d = rng.uniform(0, 2, size=(3, *shape))
    out = otam_cumulative(torch.from_numpy(d), lbda)
    ref = [numpy_otam(m, lbda) for m in d]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_frame_distance_and_bidirectional():
    rng = np.random.default_rng(0)
    q, s = rng.standard_normal((2, 4, 6)), rng.standard_normal((3, 4, 6))
    d = frame_distance(torch.from_numpy(q), torch.from_numpy(s))  # [2,3,4,4]
    num = np.einsum('qtd,psd->qpts', q, s)
    den = (np.linalg.norm(q, axis=-1)[:, None, :, None] *
           np.linalg.norm(s, axis=-1)[None, :, None, :]) + 0.01
    np.testing.assert_allclose(d.numpy(), 1 - num / den, rtol=1e-12)
    full = otam_distance(torch.from_numpy(q), torch.from_numpy(s))
    ref = np.array([[numpy_otam(d[i, j].numpy(), 0.5) +
                     numpy_otam(d[i, j].numpy().T, 0.5) for j in range(3)]
                    for i in range(2)])
    np.testing.assert_allclose(full.numpy(), ref, rtol=1e-10)
    one = otam_distance(torch.from_numpy(q), torch.from_numpy(s),
                        bidirectional=False)
    assert not torch.allclose(one, full)


def test_order_sensitivity():
    # A sequence is closer to itself than to its time reversal.
    x = torch.randn(1, 8, 16, dtype=torch.float64).cumsum(1)
    d_same = otam_distance(x, x)
    d_rev = otam_distance(x, x.flip(1))
    assert float(d_same) < float(d_rev)


def test_otam_head_against_numpy():
    torch.manual_seed(0)
    head = OTAM(6, project=False).double()
    s = torch.randn(2, 4, 5, 6, dtype=torch.float64)  # 2 classes x 2 shots
    q = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    logits = head(s, y, q)
    protos = s.view(2, 2, 2, 5, 6).mean(2).numpy()
    for e in range(2):
        for i in range(3):
            for c in range(2):
                dm = frame_distance(q[e, i][None], torch.from_numpy(
                    protos[e, c])[None])[0, 0].numpy()
                ref = numpy_otam(dm, 0.5) + numpy_otam(dm.T, 0.5)
                assert float(logits[e, i, c]) == pytest.approx(-ref,
                                                               abs=1e-10)
    assert torch.equal(class_means(s, y, 2),
                       torch.from_numpy(protos))


def test_gradients_finite():
    head = OTAM(8)
    s = torch.randn(3, 4, 8, requires_grad=True)
    q = torch.randn(2, 4, 8, requires_grad=True)
    head(s, torch.tensor([0, 1, 2]), q).sum().backward()
    assert torch.isfinite(s.grad).all() and torch.isfinite(q.grad).all()
    assert head.lin.weight.grad is not None
