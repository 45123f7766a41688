import math

import numpy as np
import pytest
import torch

from pyg_proda.nn.ad_loss import (
    MarginSchedule,
    ProDALoss,
    decorrelation_loss,
    reconstruction_loss,
)


def _np_pearson(a, b):
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_decorrelation_hand_example():
    # Video 0: F_u = [1, 2], F_s = [2, 4] -> rho = 1.
    # Video 1: F_u = [1, 2, 3, 4], F_s = [4, 3, 2, 1] -> rho = -1.
    # Video 2: F_u = [1, 0, 0, 1], F_s = [1, 1, 0, 0] -> rho = 0.
    f_u = torch.tensor([[1., 2.], [1., 2.], [3., 4.], [1., 0.], [0., 1.]])
    f_s = torch.tensor([[2., 4.], [4., 3.], [2., 1.], [1., 1.], [0., 0.]])
    batch = torch.tensor([0, 1, 1, 2, 2])
    loss = decorrelation_loss(f_u, f_s, batch, margin=0.25)
    # mean(relu(1 - .25), relu(1 - .25), relu(0 - .25)) = 0.5
    assert math.isclose(float(loss), 0.5, abs_tol=1e-6)
    assert math.isclose(float(decorrelation_loss(f_u, f_s, batch)), 2 / 3,
                        abs_tol=1e-6)


def test_decorrelation_matches_numpy_per_video():
    gen = torch.Generator().manual_seed(0)
    f_u = torch.randn(11, 5, generator=gen)
    f_s = 0.5 * f_u + torch.randn(11, 5, generator=gen)
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1, 3, 3, 3, 3])
    margin = 0.1
    expected = []
    for b in (0, 1, 3):  # video 2 has no node and is left out
        m = (batch == b).numpy()
        rho = _np_pearson(f_u.numpy()[m], f_s.numpy()[m])
        expected.append(max(abs(rho) - margin, 0.0))
    loss = decorrelation_loss(f_u, f_s, batch, margin, batch_size=4)
    assert math.isclose(float(loss), float(np.mean(expected)), rel_tol=1e-5)

    # Graph level: one row per video, correlation over channels.
    rows = [max(abs(_np_pearson(f_u[i].numpy(), f_s[i].numpy())) - margin,
                0.0) for i in range(11)]
    loss = decorrelation_loss(f_u, f_s, margin=margin)
    assert math.isclose(float(loss), float(np.mean(rows)), rel_tol=1e-5)


def test_decorrelation_gradient_and_constant_features():
    f_u = torch.randn(4, 3, requires_grad=True)
    f_s = torch.ones(4, 3, requires_grad=True)  # zero variance: rho = 0
    loss = decorrelation_loss(f_u, f_s, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert torch.isfinite(f_u.grad).all() and torch.isfinite(f_s.grad).all()
    with pytest.raises(ValueError, match='shapes differ'):
        decorrelation_loss(torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match="'batch'"):
        decorrelation_loss(f_s, f_s, torch.tensor([0, 1]))


def test_reconstruction_hand_example():
    f_o = torch.zeros(5, 2)
    f_r = torch.tensor([[1., 1.], [1., 3.], [1., 1.], [0., 0.], [0., 2.]])
    batch = torch.tensor([0, 0, 0, 1, 1])
    # Video 0: squared errors 1,1,1,9,1,1 -> MSE 14/6; video 1: 4/4 = 1.
    loss = reconstruction_loss(f_o, f_r, batch, margin=1.5)
    expected = (max(14 / 6 - 1.5, 0.0) + max(1.0 - 1.5, 0.0)) / 2
    assert math.isclose(float(loss), expected, rel_tol=1e-6)
    loss = reconstruction_loss(f_o, f_r, batch)
    assert math.isclose(float(loss), (14 / 6 + 1) / 2, rel_tol=1e-6)


def test_margin_schedule():
    sched = MarginSchedule(0.7, 0.2, total_epochs=10)
    assert math.isclose(sched(1), 0.65)
    assert math.isclose(sched(10), 0.2)
    assert math.isclose(sched(15), 0.2)  # clamped after the last epoch
    assert math.isclose(sched(0), 0.7)
    assert MarginSchedule(0.4, mode='fixed')(7) == 0.4
    assert MarginSchedule(enabled=False)(3) == 0.0
    with pytest.raises(ValueError, match='mode'):
        MarginSchedule(mode='cosine')


def _bce(logits, target):
    p = 1 / (1 + np.exp(-logits))
    return float(np.mean(-(target * np.log(p) + (1 - target) * np.log(1 - p))))


def test_proda_loss_terms_and_weights():
    gen = torch.Generator().manual_seed(2)
    a_s, a_u = torch.randn(3, 5, generator=gen), torch.randn(3, 5,
                                                             generator=gen)
    a_t = torch.randn(3, 4, generator=gen)
    y_s = torch.tensor([[1., 0., 0., 0., 0.], [0., 0., 0., 0., 1.],
                        [0., 1., 1., 0., 0.]])
    y_u = torch.tensor([[0., 0., 1., 0., 0.], [1., 0., 0., 0., 0.],
                        [0., 0., 0., 0., 1.]])
    y = torch.tensor([[1., 0., 1., 0.], [1., 0., 0., 0.], [0., 1., 1., 0.]])
    f_u, f_s = torch.randn(7, 6, generator=gen), torch.randn(7, 6,
                                                             generator=gen)
    f_o, f_r = torch.randn(7, 6, generator=gen), torch.randn(7, 6,
                                                             generator=gen)
    batch = torch.tensor([0, 0, 1, 1, 1, 2, 2])

    loss_fn = ProDALoss(lambda_s=0.5, lambda_u=2.0, lambda_t=3.0,
                        lambda_dis=4.0, lambda_rec=5.0,
                        margin_dis=MarginSchedule(0.7, 0.2, 5),
                        margin_rec=0.1)
    out = loss_fn(a_s=a_s, y_s=y_s, a_u=a_u, y_u=y_u, a_t=a_t, y=y,
                  f_s=f_s, f_u=f_u, f_o=f_o, f_r=f_r, batch=batch, epoch=2)
    assert math.isclose(float(out['cls_s']), _bce(a_s.numpy(), y_s.numpy()),
                        rel_tol=1e-5)
    assert math.isclose(float(out['cls_u']), _bce(a_u.numpy(), y_u.numpy()),
                        rel_tol=1e-5)
    assert math.isclose(float(out['cls_t']), _bce(a_t.numpy(), y.numpy()),
                        rel_tol=1e-5)
    dis = decorrelation_loss(f_u, f_s, batch, margin=0.5)
    rec = reconstruction_loss(f_o, f_r, batch, margin=0.1)
    assert torch.allclose(out['dis'], dis)
    assert torch.allclose(out['rec'], rec)
    total = (0.5 * out['cls_s'] + 2 * out['cls_u'] + 3 * out['cls_t'] +
             4 * out['dis'] + 5 * out['rec'])
    assert torch.allclose(out['loss'], total)

    only = ProDALoss(terms=('cls_t', 'rec'), margin_rec=0.0)
    out = only(a_t=a_t, y=y, f_o=f_o, f_r=f_r, batch=batch)
    assert sorted(out) == ['cls_t', 'loss', 'rec']
    assert torch.allclose(out['loss'], out['cls_t'] + out['rec'])


def test_proda_loss_errors():
    with pytest.raises(ValueError, match='Unknown loss term'):
        ProDALoss(terms=('cls_x', ))
    with pytest.raises(ValueError, match='no active'):
        ProDALoss(terms=())
    with pytest.raises(ValueError, match="'dis' is active"):
        ProDALoss(terms=('dis', ))(f_u=torch.randn(2, 3))
    with pytest.raises(ValueError, match="'epoch'"):
        ProDALoss(terms=('dis', ))(f_u=torch.randn(2, 3),
                                   f_s=torch.randn(2, 3))
