import math

import pytest
import torch

from pyg_proda.data.action_spec import ActionSpecSampler
from pyg_proda.metrics.spec_grid import (
    format_spec_grid,
    spec_grid_map,
    summarize_spec_grid,
)


def test_hand_made_grid():
    # C = 3 classes + "no action"; one video with labels {0, 1} (n = 2).
    y_s = torch.tensor([
        [1., 0., 0., 0.],  # plain, i = 1
        [0., 1., 0., 0.],  # plain, i = 1
        [1., 1., 0., 0.],  # plain, i = 2
        [1., 1., 0., 0.],  # plain, i = 2
        [0., 0., 0., 1.],  # all distractors, i = 0
        [0., 0., 0., 1.],  # all distractors, i = 0
        [1., 0., 0., 0.],  # n = 17: ignored
        [0., 1., 0., 0.],  # distractor-injected, i = 1
        [1., 1., 0., 0.],  # distractor-injected, i = 2
    ])
    scores = torch.tensor([
        [.5, .1, 0., 0.],
        [.8, .7, 0., 0.],
        [.3, .3, 0., 0.],
        [.3, .3, 0., 0.],
        [.1, .2, .3, .9],  # "no action" ranks first: a positive
        [.9, .2, .3, .4],  # a positive below ...
        [0., 1., 0., 0.],
        [.1, .9, .0, .5],  # ... this negative
        [.8, .8, .0, .1],
    ])
    num_labels = torch.tensor([2, 2, 2, 2, 2, 2, 17, 2, 2])
    distractor = torch.tensor([False] * 4 + [True] * 2 + [False] +
                              [True] * 2)
    grid = spec_grid_map(scores, y_s, num_labels, distractor)
    # i = 1: class 0 AP 1/2 (a negative scores higher), class 1 AP 1 -> .75
    # i = 2: 1.0. Mean .875, population std .125.
    plain = grid[('plain', 2)]
    assert math.isclose(plain['mean'], 0.875, abs_tol=1e-6)
    assert math.isclose(plain['std'], 0.125, abs_tol=1e-6)
    assert plain['num_subsets'] == 2 and plain['num_samples'] == 4
    # "no action" column over the distractor rows (i = 0, 0, 1, 2):
    # .9 (pos), .5 (neg), .4 (pos), .1 (neg) -> AP = (1 + 2/3) / 2.
    assert math.isclose(grid[('no_action', 2)]['mean'], 5 / 6, abs_tol=1e-6)
    # The distractor rows with i >= 1 have their own entry.
    assert grid[('distractor', 2)]['num_samples'] == 2
    assert all(n == 2 for _, n in grid)
    # A model that always ranks "no action" first gets the positives' share
    # there, not 100 % (the authors' top-1 accuracy would).
    blind = scores.clone()
    blind[:, 3] = 2.0
    g = spec_grid_map(blind, y_s, num_labels, distractor)
    assert math.isclose(g[('no_action', 2)]['mean'], 0.5, abs_tol=1e-6)

    pooled = spec_grid_map(scores, y_s, num_labels, distractor,
                           per_subset=False)
    # class 0: b(neg) a(pos) then a tie of two positives -> (1/2+3/4+3/4)/3
    # class 1: b(pos) then the tie -> 1. mAP = (2/3 + 1) / 2.
    assert math.isclose(pooled[('plain', 2)]['mean'], 5 / 6, abs_tol=1e-6)
    assert pooled[('plain', 2)]['std'] == 0.0

    summary = summarize_spec_grid(grid)
    assert math.isclose(summary['plain']['mean'], 0.875, abs_tol=1e-6)
    text = format_spec_grid(grid)
    assert '87.50 ± 12.50' in text and '83.33 ± 0.00' in text


def test_perfect_scores_on_enumerated_specs():
    gen = torch.Generator().manual_seed(0)
    y = (torch.rand(12, 9, generator=gen) < 0.3).float()
    y[0] = 0.0
    spec = ActionSpecSampler(9, length=5).enumerate(y, generator=gen)
    grid = spec_grid_map(spec.y_s, spec.y_s, spec.num_labels,
                         spec.distractor)
    assert len(grid) > 0
    for key, value in grid.items():
        assert value['mean'] == 1.0, key
    counts = sorted({n for _, n in grid})
    # Label-less videos (n = 0) have only the all-distractor row: nothing to
    # rank it against, so no entry.
    assert counts == sorted(set(spec.num_labels.tolist()) - {0})


def test_errors():
    with pytest.raises(ValueError, match='spec_grid_map'):
        spec_grid_map(torch.rand(3, 4), torch.rand(3, 5), torch.ones(3),
                      torch.zeros(3))
    with pytest.raises(ValueError, match="'num_labels'"):
        spec_grid_map(torch.rand(3, 4), torch.rand(3, 4), torch.ones(2),
                      torch.zeros(3))
