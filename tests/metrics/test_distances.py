import math

import numpy as np
import pytest
import torch

from pyg_proda.metrics.distances import class_distances


def test_hand_made_distances():
    x = torch.tensor([[0., 0.], [2., 0.], [10., 0.], [10., 4.], [0., 9.]])
    labels = torch.tensor([0, 0, 3, 3, 5])  # class 5 has one member
    out = class_distances(x, labels)
    # Distances to centroids (1,0), (10,2), (0,9): 1, 1, 2, 2, 0.
    d = np.array([1., 1., 2., 2., 0.])
    assert math.isclose(out['intra_mean'], d.mean())
    assert math.isclose(out['intra_std'], d.std())
    c = np.array([[1., 0.], [10., 2.], [0., 9.]])
    pairs = [np.linalg.norm(c[i] - c[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert math.isclose(out['inter_mean'], np.mean(pairs))
    assert math.isclose(out['inter_std'], np.std(pairs))
    assert out['num_classes'] == 3

    pair = class_distances(x, labels, intra='pairwise')
    assert math.isclose(pair['intra_mean'], 3.0)  # pairs: 2 and 4
    assert math.isclose(pair['intra_std'], 1.0)
    assert math.isclose(pair['inter_mean'], out['inter_mean'])


def test_multi_hot_labels():
    x = torch.tensor([[0., 0.], [2., 0.], [4., 0.]])
    labels = torch.tensor([[1, 0], [1, 1], [0, 1]])
    out = class_distances(x, labels)
    # Class 0: {0, 2} centroid 1; class 1: {2, 4} centroid 3.
    assert math.isclose(out['intra_mean'], 1.0)
    assert math.isclose(out['intra_std'], 0.0)
    assert math.isclose(out['inter_mean'], 2.0)
    assert math.isnan(out['inter_std']) is False


def test_single_class_and_errors():
    out = class_distances(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    assert math.isnan(out['inter_mean']) and math.isnan(out['inter_std'])
    with pytest.raises(ValueError, match='intra'):
        class_distances(torch.randn(4, 3), torch.zeros(4), intra='x')
    with pytest.raises(ValueError, match='M rows'):
        class_distances(torch.randn(4, 3), torch.zeros(3))
