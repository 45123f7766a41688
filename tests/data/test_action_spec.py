import pytest
import torch

from pyg_proda.data.action_spec import (
    ActionSpec,
    ActionSpecSampler,
    branch_targets,
)


def test_branch_targets():
    y_s, y_u = branch_targets(torch.tensor([[1., 1., 0.], [0., 0., 0.]]),
                              torch.tensor([[1., 0., 1.], [0., 1., 0.]]))
    assert y_s.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]
    assert y_u.tolist() == [[0, 0, 1, 0], [0, 1, 0, 0]]
    # Boolean labels give float targets.
    y_s, _ = branch_targets(torch.tensor([[True]]), torch.tensor([[True]]))
    assert y_s.dtype == torch.float and y_s.tolist() == [[1.0, 0.0]]


def _labels(num_classes, label_sets):
    y = torch.zeros(len(label_sets), num_classes)
    for b, labels in enumerate(label_sets):
        y[b, list(labels)] = 1.0
    return y


def _check_invariants(spec: ActionSpec, y, length, num_classes, uap):
    gt = y[spec.video] > 0.5 if spec.video is not None else y > 0.5
    sap, y_s, y_u = spec.sap > 0.5, spec.y_s > 0.5, spec.y_u > 0.5
    num_labels = gt.sum(1)
    assert torch.equal(spec.num_labels, num_labels)
    # Specified members are exactly i ground-truth actions.
    assert torch.equal((sap & gt).sum(1), spec.num_specified)
    # Targets: SAP ∩ G and G − SAP, "no action" (index C) when empty.
    assert torch.equal(y_s[:, :num_classes], sap & gt)
    assert torch.equal(y_u[:, :num_classes], gt & ~sap)
    assert torch.equal(y_s[:, num_classes], ~(sap & gt).any(1))
    assert torch.equal(y_u[:, num_classes], ~(gt & ~sap).any(1))
    # Distractor counts: none for plain, min(K - i, C - L) otherwise.
    num_distr = (sap & ~gt).sum(1)
    expected = torch.minimum((length - spec.num_specified).clamp(min=0),
                             num_classes - num_labels)
    expected = torch.where(spec.distractor, expected, 0)
    assert torch.equal(num_distr, expected)
    assert bool((spec.num_specified[~spec.distractor] >= 1).all())
    if uap == 'complement':
        assert torch.equal(spec.uap, 1.0 - spec.sap)
    else:
        assert torch.equal(spec.uap, spec.sap)


@pytest.mark.parametrize('uap', ['complement', 'same'])
def test_sample_invariants(uap):
    num_classes, length = 12, 5
    y = _labels(num_classes, [[0, 3, 7], [1], [], [2, 4, 5, 6, 8, 9, 10],
                              list(range(11))])
    sampler = ActionSpecSampler(num_classes, length=length, uap=uap)
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        spec = sampler.sample(y, gen)
        assert spec.sap.shape == (5, num_classes)
        assert spec.y_s.shape == spec.y_u.shape == (5, num_classes + 1)
        assert spec.video is None
        _check_invariants(spec, y, length, num_classes, uap)


def test_sample_label_less_video():
    y = torch.zeros(1, 6)
    spec = ActionSpecSampler(6, length=4).sample(y)
    assert bool(spec.distractor[0]) and int(spec.num_specified[0]) == 0
    assert int(spec.sap.sum()) == 4
    expected = torch.tensor([[0., 0., 0., 0., 0., 0., 1.]])
    assert torch.equal(spec.y_s, expected) and torch.equal(spec.y_u, expected)


def test_sample_is_seeded_and_uniform_over_kinds():
    y = _labels(20, [[0, 1]] * 6000)  # L = 2: 5 pairs per video
    sampler = ActionSpecSampler(20, length=4)
    a = sampler.sample(y, torch.Generator().manual_seed(3))
    b = sampler.sample(y, torch.Generator().manual_seed(3))
    for x, z in zip(a[:-1], b[:-1]):
        assert torch.equal(x, z)
    kind = a.distractor.long() * 3 + a.num_specified  # 5 distinct values
    freq = torch.bincount(kind, minlength=6).float() / y.size(0)
    # plain i=1,2 -> 1,2; distractor i=0,1,2 -> 3,4,5
    assert freq[0] == 0
    assert torch.allclose(freq[1:], torch.full((5, ), 0.2), atol=0.02)
    # Members are uniform: class 0 specified in about half of i=1 rows.
    single = (a.num_specified == 1)
    share = a.sap[single, 0].mean()
    assert abs(float(share) - 0.5) < 0.03


def test_enumerate_grid():
    num_classes, length = 10, 4
    y = _labels(num_classes, [[1, 2, 3], [], [5]])
    sampler = ActionSpecSampler(num_classes, length=length)
    spec = sampler.enumerate(y, generator=torch.Generator().manual_seed(0))
    # (2L + 1) rows per video: 7 + 1 + 3.
    assert spec.sap.size(0) == 11
    assert spec.video.tolist() == [0] * 7 + [1] + [2] * 3
    assert spec.distractor.tolist() == [
        False, False, False, True, True, True, True, True, False, True, True
    ]
    assert spec.num_specified.tolist() == [1, 2, 3, 0, 1, 2, 3, 0, 1, 0, 1]
    _check_invariants(spec, y, length, num_classes, 'complement')

    plain = sampler.enumerate(y, kinds=('plain', ))
    assert plain.video.tolist() == [0, 0, 0, 2]
    assert not bool(plain.distractor.any())
    capped = sampler.enumerate(y, max_labels=2)
    assert capped.video.tolist() == [1, 2, 2, 2]


def test_clamped_length():
    # C - L = 2 absent classes only: K - i = 4 is clamped to 2.
    y = _labels(4, [[0, 1]])
    spec = ActionSpecSampler(4, length=6).enumerate(y, kinds=('distractor', ))
    assert spec.sap.sum(1).tolist() == [2.0, 3.0, 4.0]
    assert torch.equal(spec.sap[0], torch.tensor([0., 0., 1., 1.]))


def test_errors():
    with pytest.raises(ValueError, match="'uap'"):
        ActionSpecSampler(5, uap='other')
    sampler = ActionSpecSampler(5)
    with pytest.raises(ValueError, match='shape'):
        sampler.sample(torch.zeros(2, 4))
    with pytest.raises(ValueError, match='kind'):
        sampler.enumerate(torch.zeros(2, 5), kinds=('wrong', ))
    with pytest.raises(ValueError, match='row 0'):
        sampler.build(_labels(5, [[1]]), torch.tensor([2]),
                      torch.tensor([True]))
    with pytest.raises(ValueError, match='row 0'):
        sampler.build(_labels(5, [[1]]), torch.tensor([0]),
                      torch.tensor([False]))


def test_enumerate_is_seeded():
    y = _labels(15, [[0, 2, 4, 6, 8], [1, 3]])
    sampler = ActionSpecSampler(15, length=6)
    a = sampler.enumerate(y, generator=torch.Generator().manual_seed(5))
    b = sampler.enumerate(y, generator=torch.Generator().manual_seed(5))
    c = sampler.enumerate(y, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a.sap, b.sap) and torch.equal(a.video, b.video)
    assert not torch.equal(a.sap, c.sap)
