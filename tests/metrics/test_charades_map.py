import math

import pytest
import torch
from sklearn.metrics import average_precision_score
from torchmetrics.functional.classification import (
    binary_average_precision,
    multilabel_average_precision,
)

from pyg_proda.metrics.charades_map import (
    CharadesMAP,
    average_precision,
    charades_map,
    charades_wap,
)


def _random(n=200, c=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(n, c, generator=gen)  # no ties (almost surely)
    labels = (torch.rand(n, c, generator=gen) < 0.3).long()
    return scores, labels


def test_agrees_with_torchmetrics_and_sklearn_without_ties():
    scores, labels = _random()
    assert scores.unique().numel() == scores.numel()
    tm = multilabel_average_precision(scores, labels, num_labels=7,
                                      average=None)
    for mode in ('default', 'official'):
        ap = average_precision(scores, labels, mode)
        assert torch.allclose(ap, tm, atol=1e-6)
    for c in range(7):
        sk = average_precision_score(labels[:, c].numpy(),
                                     scores[:, c].numpy())
        assert math.isclose(float(ap[c]), sk, abs_tol=1e-6)
    mAP, _ = charades_map(scores, labels, skip_labelless=False)
    assert math.isclose(float(mAP), float(tm.mean()), abs_tol=1e-6)
    # Ports: scoring label-less rows -inf equals dropping them.
    keep = labels.any(1)
    tm = multilabel_average_precision(scores[keep], labels[keep],
                                      num_labels=7, average=None)
    mAP, _ = charades_map(scores, labels)
    assert (~keep).any()
    assert math.isclose(float(mAP), float(tm.mean()), abs_tol=1e-6)


def test_tie_example_from_evaluation_md():
    scores = torch.tensor([[0.9], [0.5], [0.5], [0.1]])
    labels = torch.tensor([[0], [1], [0], [1]])
    assert math.isclose(float(average_precision(scores, labels, 'official')),
                        0.5, abs_tol=1e-6)
    tie = float(average_precision(scores, labels, 'default'))
    assert math.isclose(tie, 0.5 / 3 + 0.5 / 2, abs_tol=1e-6)  # 0.4167
    tm = binary_average_precision(scores[:, 0], labels[:, 0])
    assert math.isclose(float(tm), tie, abs_tol=1e-6)
    # Positive second in the tie: both rules give 0.4167.
    labels = torch.tensor([[0], [0], [1], [1]])
    for mode in ('default', 'official'):
        ap = float(average_precision(scores, labels, mode))
        assert math.isclose(ap, 0.4167, abs_tol=1e-4)


def test_tie_groups_agree_with_torchmetrics_on_coarse_scores():
    gen = torch.Generator().manual_seed(4)
    scores = torch.randint(0, 5, (60, 4), generator=gen).float() / 4
    labels = (torch.rand(60, 4, generator=gen) < 0.4).long()
    tm = multilabel_average_precision(scores, labels, num_labels=4,
                                      average=None)
    assert torch.allclose(average_precision(scores, labels), tm, atol=1e-6)
    # The default rule does not depend on the row order, the official does.
    perm = torch.randperm(60, generator=gen)
    assert torch.allclose(average_precision(scores[perm], labels[perm]),
                          average_precision(scores, labels), atol=1e-6)


def test_classes_without_positives():
    scores, labels = _random(c=5)
    labels[:, 2] = 0
    mAP, ap = charades_map(scores, labels, skip_labelless=False)
    assert math.isnan(float(ap[2]))
    keep = [0, 1, 3, 4]
    assert math.isclose(float(mAP), float(ap[keep].mean()), abs_tol=1e-7)
    official, ap_off = charades_map(scores, labels, mode='official',
                                    skip_labelless=False)
    assert math.isnan(float(official))
    assert torch.allclose(ap_off[keep], ap[keep])
    # torchmetrics agrees on the classes that have positives (it warns and
    # returns a number for the empty class, which we report as NaN).
    with pytest.warns(UserWarning, match='No positive samples'):
        tm = multilabel_average_precision(scores, labels, num_labels=5,
                                          average=None)
    assert not math.isnan(float(tm[2]))
    assert torch.allclose(ap[keep], tm[keep], atol=1e-6)


def test_labelless_rows_rank_last():
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.7], [0.99, 0.99], [0.2, 0.1]])
    labels = torch.tensor([[1, 0], [0, 1], [0, 0], [1, 0]])
    # Row 2 has no label: scored -inf, it cannot hurt either class.
    mAP, ap = charades_map(scores, labels)
    # class 0: order 1(neg), 3(pos), 0(pos) -> (1/2 + 2/3) / 2
    assert math.isclose(float(ap[0]), (0.5 + 2 / 3) / 2, abs_tol=1e-6)
    # class 1: order 0(neg), 1(pos) -> 1/2
    assert math.isclose(float(ap[1]), 0.5, abs_tol=1e-6)
    _, raw = charades_map(scores, labels, skip_labelless=False)
    assert float(raw[1]) < float(ap[1])
    assert math.isclose(float(mAP), float(ap.mean()), abs_tol=1e-7)


def test_wap_and_metric_wrapper():
    scores, labels = _random(n=50, c=4, seed=3)
    _, ap = charades_map(scores, labels)
    p = labels.sum(0).float()
    expected = (ap * p).sum() / p.sum()
    assert torch.allclose(charades_wap(scores, labels), expected)
    metric = CharadesMAP()
    metric.update(scores[:20], labels[:20])
    metric.update(scores[20:], labels[20:])
    assert torch.allclose(metric.compute(), charades_map(scores, labels)[0])


def test_errors():
    with pytest.raises(ValueError, match='mode'):
        average_precision(torch.rand(3, 2), torch.ones(3, 2), mode='x')
    with pytest.raises(ValueError, match='same shape'):
        charades_map(torch.rand(3, 2), torch.ones(3, 3))
    scores = torch.rand(3, 2)
    scores[1, 0] = float('nan')
    with pytest.raises(ValueError, match='row 1'):
        charades_map(scores, torch.ones(3, 2))
