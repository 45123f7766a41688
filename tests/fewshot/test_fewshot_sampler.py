import pytest
import torch

from pyg_proda.fewshot import EpisodeSampler


def labels(classes=10, per_class=12):
    return torch.arange(classes).repeat_interleave(per_class)


@pytest.mark.parametrize('shot,query', [(1, 4), (5, 4), (1, 1), (5, 1)])
def test_n_way_k_shot(shot, query):
    y = labels()
    sampler = EpisodeSampler(y, way=5, shot=shot, query=query,
                             num_episodes=20, seed=3)
    assert len(sampler) == 20 and len(list(sampler)) == 20
    for ep in sampler:
        assert ep.classes.unique().numel() == 5
        assert ep.support.shape == (5 * shot, )
        assert ep.query.shape == (5 * query, )
        # Class-major relative labels, the same in every episode.
        assert ep.support_labels.tolist() == [c for c in range(5)
                                              for _ in range(shot)]
        assert ep.query_labels.tolist() == [c for c in range(5)
                                            for _ in range(query)]
        # Every video belongs to its way's class; supports and queries are
        # distinct videos.
        assert torch.equal(y[ep.support], ep.classes[ep.support_labels])
        assert torch.equal(y[ep.query], ep.classes[ep.query_labels])
        both = torch.cat([ep.support, ep.query])
        assert both.unique().numel() == both.numel()


def test_seeded_reproducible_and_order_free():
    y = labels()
    a = EpisodeSampler(y, 5, 1, 1, num_episodes=50, seed=7)
    b = EpisodeSampler(y, 5, 1, 1, num_episodes=50, seed=7)
    c = EpisodeSampler(y, 5, 1, 1, num_episodes=50, seed=8)
    ea, eb, ec = list(a), list(b), list(c)
    for x, z in zip(ea, eb):
        assert torch.equal(x.support, z.support)
        assert torch.equal(x.query, z.query)
    assert any(not torch.equal(x.support, z.support) for x, z in zip(ea, ec))
    # Episode i does not depend on the episodes drawn before it.
    assert torch.equal(a.episode(31).query, ea[31].query)
    # Episodes differ from each other.
    assert len({tuple(e.support.tolist()) for e in ea}) > 45


def test_train_and_test_protocol():
    y = labels()
    train = EpisodeSampler(y, 5, 5, query=4, seed=0)
    test = EpisodeSampler(y, 5, 5, query=1, seed=0)
    assert train.episode(0).query.numel() == 20
    assert test.episode(0).query.numel() == 5


def test_too_few_videos_names_file_and_class():
    y = torch.tensor([0] * 6 + [1] * 3 + [2] * 6)
    with pytest.raises(ValueError, match=r"'cache/val.h5'.*class 'b' has 3"):
        EpisodeSampler(y, way=2, shot=1, query=4, class_names=['a', 'b', 'c'],
                       source='cache/val.h5')
    # A class with no video at all is reported when the class count is known.
    with pytest.raises(ValueError, match=r"class 'd' has 0"):
        EpisodeSampler(y, way=2, shot=1, query=1, num_classes=4,
                       class_names=['a', 'b', 'c', 'd'])


def test_too_few_classes_and_bad_arguments():
    with pytest.raises(ValueError, match='fewer than way = 5'):
        EpisodeSampler(labels(classes=4), way=5)
    with pytest.raises(ValueError, match='way, shot, query >= 1'):
        EpisodeSampler(labels(), shot=0)
