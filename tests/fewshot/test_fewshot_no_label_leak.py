import pytest
import torch

from pyg_proda.fewshot import EpisodeDataset, EpisodeSampler
from pyg_proda.fewshot.training import FewShotModule

HEADS = [('protonet', {}), ('otam', {}), ('trx', {}), ('clip_spm', {}),
         ('clip_spm', {'transductive': True}),
         ('clip_spm', {'adapter': True})]


class Poison:
    r"""Stands in for the query labels: any use raises."""
    def __getattr__(self, name):
        raise AssertionError(f'query labels read ({name})')

    def __getitem__(self, item):
        raise AssertionError('query labels indexed')

    def __iter__(self):
        raise AssertionError('query labels iterated')


def batch(bench, shot=1, query=2, episodes=3):
    ds = bench.splits['test']
    sampler = EpisodeSampler(ds.labels, 5, shot, query, episodes, seed=0)
    return EpisodeDataset(ds, sampler, episodes)[0]


def module(head, opts):
    torch.manual_seed(0)
    return FewShotModule(head=head, channels=32, heads=2, head_channels=8,
                         ff_channels=32, trx_channels=16, **opts).eval()


@pytest.mark.filterwarnings('ignore:You are trying to `self.log')
@pytest.mark.parametrize('head,opts', HEADS)
def test_query_labels_never_reach_the_forward_pass(tiny_bench, head, opts):
    m = module(head, opts)
    b = batch(tiny_bench)
    with torch.no_grad():
        logits, _ = m(b)
        labels = b.query_labels
        # Shuffled labels: bit-identical logits.
        b.query_labels = labels[:, torch.randperm(labels.size(1))]
        assert torch.equal(m(b)[0], logits)
        # Labels that raise on any use: the forward pass still runs.
        b.query_labels = Poison()
        assert torch.equal(m(b)[0], logits)
        # The loss is the only reader.
        b.query_labels = labels
    assert torch.isfinite(m.training_step(b, 0))


@pytest.mark.parametrize('head,opts', [h for h in HEADS
                                       if not h[1].get('transductive')])
def test_inductive_queries_are_independent(tiny_bench, head, opts):
    # Permuting the queries permutes the logits; each query alone gives
    # its own logits (nothing flows between queries).
    m = module(head, opts)
    b = batch(tiny_bench, episodes=2)
    with torch.no_grad():
        logits, _ = m(b)
        perm = torch.randperm(b.query.size(1))
        b.query = b.query[:, perm]
        assert torch.allclose(m(b)[0], logits[:, perm], atol=1e-5)
        b.query = b.query[:, perm.argsort()][:, :1]
        assert torch.allclose(m(b)[0], logits[:, :1], atol=1e-5)


def test_transductive_queries_interact(tiny_bench):
    m = module('clip_spm', {'transductive': True})
    b = batch(tiny_bench, episodes=2)
    with torch.no_grad():
        logits, _ = m(b)
        b.query = b.query[:, :1]
        assert not torch.allclose(m(b)[0], logits[:, :1], atol=1e-5)
