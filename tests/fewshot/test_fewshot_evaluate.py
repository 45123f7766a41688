import numpy as np
import pytest
import torch

from pyg_proda.fewshot import evaluate_episodes, mean_ci
from pyg_proda.fewshot.evaluate import order_pair_stats


def test_mean_ci_matches_numpy():
    rng = np.random.default_rng(0)
    acc = rng.integers(0, 6, size=1000) / 5
    mean, ci = mean_ci(torch.from_numpy(acc))
    assert abs(mean - 100 * acc.mean()) < 1e-9
    assert abs(ci - 100 * 1.96 * acc.std() / np.sqrt(1000)) < 1e-9


def test_order_pair_stats_by_hand():
    # One episode, ways = global classes [4, 7, 2]; 7 and 2 are a pair.
    classes = torch.tensor([[4, 7, 2]])
    partner = torch.full((10, ), -1)
    partner[7], partner[2] = 2, 7
    labels = torch.tensor([[0, 1, 2]])
    logits = torch.tensor([[[5., 0., 1.],    # class 4: no partner here
                            [3., 2., 1.],    # class 7: wrong (way 0), 2 > 1
                            [0., 4., 3.]]])  # class 2: wrong, 3 < 4
    stats = order_pair_stats(logits, labels, classes, partner)
    assert stats['count'].tolist() == [2]
    assert stats['correct'].tolist() == [0]
    assert stats['pair_correct'].tolist() == [1]


def test_evaluate_with_oracle_and_chance(tiny_bench):
    ds = tiny_bench.splits['test']
    seen = []

    def oracle(batch):
        assert batch.query_labels is None  # never handed to the model
        seen.append(batch.num_episodes)
        # The true class of each query from the dataset (cheating on
        # purpose): one-hot logits.
        return torch.eye(5)[torch.arange(5)].expand(batch.num_episodes, -1,
                                                    -1)

    r = evaluate_episodes(oracle, ds, shot=1, num_episodes=120, seed=0,
                          episodes_per_batch=50,
                          order_pairs=tiny_bench.order_pairs['test'],
                          progress=False)
    assert seen == [50, 50, 20]
    assert r['acc'] == 100.0 and r['ci'] == 0.0
    assert r['order_acc'] == 100.0 and r['order_pair_acc'] == 100.0
    assert r['order_episodes'] > 0

    def constant(batch):
        return torch.zeros(batch.num_episodes, 5, 5)

    r = evaluate_episodes(constant, ds, num_episodes=100, progress=False,
                          order_pairs=tiny_bench.order_pairs['test'])
    # argmax of ties is way 0: one query of five
    assert r['acc'] == pytest.approx(20.0)
    assert r['order_pair_acc'] == 0.0  # ties never score above the partner
    # Same seed, same episodes: reproducible.
    again = evaluate_episodes(constant, ds, num_episodes=100, progress=False,
                              order_pairs=tiny_bench.order_pairs['test'])
    assert again == r
