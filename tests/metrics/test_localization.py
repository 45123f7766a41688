import math

import pytest
import torch

from pyg_proda.metrics.localization import (
    localization_grid,
    localization_summary,
    normalize_frame_weights,
)


def _case():
    w = torch.tensor([
        [1.0, 0.8, 0.6, 0.0],  # class 0: IoU 2/3, 1, 1/2 at θ .2/.5/.7
        [0.0, 0.0, 1.0, 1.0],  # class 0: IoU 0
        [0.5, 0.5, 0.5, 0.5],  # class 2: IoU 1/4
        [1.0, 1.0, 1.0, 1.0],  # class 1: no positive frame, skipped
    ])
    gt = torch.tensor([
        [True, True, False, False],
        [True, True, False, False],
        [False, False, False, True],
        [False, False, False, False],
    ])
    return w, gt, torch.tensor([0, 0, 2, 1])


def test_normalize_frame_weights():
    w = torch.tensor([[0.5, 1.0, 0.1, 5.0]])
    mask = torch.tensor([[True, True, True, False]])
    out = normalize_frame_weights(w, mask)
    expected = torch.tensor([[0.25, 1.0, 0.01, 0.0]]) / (1 + 1e-5)
    assert torch.allclose(out, expected)


def test_hand_made_grid():
    w, gt, cls = _case()
    grid = localization_grid(w, gt, cls, num_classes=4)
    expected = torch.tensor([[0.375, 0.125, 0.0], [0.375, 0.125, 0.125],
                             [0.375, 0.0, 0.0]])
    assert grid.shape == (3, 3)
    assert torch.allclose(grid, expected)
    present = localization_grid(w, gt, cls, num_classes=4,
                                average='present')
    assert torch.allclose(present, 2 * expected)
    one = localization_grid(w, gt, cls, num_classes=4, thetas=[0.5],
                            taus=[0.7])
    assert torch.allclose(one, torch.tensor([[0.125]]))

    summary = localization_summary(grid)
    assert math.isclose(summary['theta=0.5'], (0.375 + 0.125 * 2) / 3,
                        rel_tol=1e-6)
    assert math.isclose(summary['tau=0.2'], 0.375)
    assert math.isclose(summary['theta=0.2,tau=0.5'], 0.125)


def test_frame_mask_ignores_padded_frames():
    w = torch.tensor([[0.5, 1.0, 0.1, 5.0]])
    gt = torch.tensor([[False, True, False, True]])
    mask = torch.tensor([[True, True, True, False]])
    cls = torch.tensor([0])
    masked = localization_grid(w, gt, cls, 1, frame_mask=mask,
                               thetas=[0.5], taus=[0.7])
    assert float(masked) == 1.0  # IoU 1 on the valid frames
    unmasked = localization_grid(w, gt, cls, 1, thetas=[0.5], taus=[0.2])
    assert float(unmasked) == 1.0  # IoU 1/2 > 0.2
    unmasked = localization_grid(w, gt, cls, 1, thetas=[0.5], taus=[0.5])
    assert float(unmasked) == 0.0  # IoU 1/2 is not > 0.5 (strict)


def test_errors():
    w, gt, cls = _case()
    with pytest.raises(ValueError, match='average'):
        localization_grid(w, gt, cls, 4, average='some')
    with pytest.raises(ValueError, match=r'\[M, T\]'):
        localization_grid(w, gt[:, :3], cls, 4)
    with pytest.raises(ValueError, match='class ids'):
        localization_grid(w, gt, cls, 2)
    with pytest.raises(ValueError, match="'cls'"):
        localization_grid(w, gt, cls[:2], 4)
