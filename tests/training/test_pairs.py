import lightning as L
import numpy as np
import pytest
import torch

from pyg_proda.data import SSGLoader, SSGView
from pyg_proda.datasets import SyntheticHHI
from pyg_proda.metrics import interaction_candidates, interaction_map
from pyg_proda.models import PairBaseline, ProDAPairs
from pyg_proda.training.pairs import (
    MODEL_INPUT_KEYS,
    InteractionMeter,
    PairBaselineModule,
    PairProDAModule,
    model_input,
    pair_loss,
    pair_triplets,
)

TINY = dict(hidden_channels=16, heads=2, num_layers=1, num_temporal_layers=1,
            num_prompts=2, max_frames=8, dropout=0.0, num_node_classes=1)



@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('hhi'))
    return SyntheticHHI(root, 'val', num_videos=8, log=False)


@pytest.fixture(scope='module')
def view(dataset):
    return next(iter(SSGLoader(dataset, batch_size=4)))


def shapes(view):
    return view.x.size(1), 12, view.edge_attr.size(1)


def proda_module(view, **kwargs):
    return PairProDAModule(ProDAPairs(*shapes(view), **TINY), spec_length=4,
                           lr=3e-3, **kwargs)


def baseline_module(view, **kwargs):
    return PairBaselineModule(PairBaseline(*shapes(view), hidden_channels=16),
                              **kwargs)


def scramble_targets(view, seed=0):
    r"""A copy of :obj:`view` with random targets of the same shapes."""
    gen = torch.Generator().manual_seed(seed)
    out = view.clone()
    for key in ('y', 'frame_labels', 'edge_target'):
        out[key] = (torch.rand(out[key].shape, generator=gen) < 0.3).float()
    return out


def test_model_input_has_no_target(view):
    inp = model_input(view)
    assert sorted(inp.keys()) == sorted(MODEL_INPUT_KEYS)
    for key in ('y', 'frame_labels', 'edge_target', 'video_id'):
        assert key in view and key not in inp
    with pytest.raises(ValueError, match=r"lacks \['edge_pair'\]"):
        model_input(SSGView(**{k: view[k] for k in MODEL_INPUT_KEYS
                               if k != 'edge_pair'}))


def test_targets_never_reach_the_model(view):
    # Randomising every target leaves the model's input bit-identical, and
    # so the scores of both models.
    torch.manual_seed(0)
    proda = proda_module(view).eval()
    base = baseline_module(view).eval()
    for seed in (0, 1):
        scrambled = scramble_targets(view, seed)
        assert not torch.equal(scrambled.edge_target, view.edge_target)
        a, b = model_input(view), model_input(scrambled)
        for key in MODEL_INPUT_KEYS:
            assert torch.equal(a[key], b[key]), key
        with torch.no_grad():
            for module in (proda, base):
                assert torch.equal(module.pair_scores(view),
                                   module.pair_scores(scrambled))
            assert torch.equal(proda.eval_forward(view).video.a_t,
                               proda.eval_forward(scrambled).video.a_t)


def test_pair_triplets_match_the_official_candidates(view):
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(view.edge_target.shape, generator=gen)
    scores[scores < 0.5] = 0.001  # below the 0.002 threshold
    pred, gt = pair_triplets(view, scores, keyframe_offset=100)
    T = view.num_frames
    assert int(pred.frame.min()) >= 100
    assert int(pred.frame.max()) < 100 + int(T.sum())
    assert gt.cls.numel() == int(view.edge_target.sum())
    # Keyframe 5 of video 1: the official candidate generation over the
    # dense [n, n, C] pair scores (self-pairs included, scored 0 here).
    key = 100 + int(T[0]) + 5
    nodes = ((view.batch == 1) & (view.frame == 5)).nonzero().view(-1)
    local = torch.full((view.num_nodes, ), -1, dtype=torch.long)
    local[nodes] = torch.arange(nodes.numel())
    dense = torch.zeros(nodes.numel(), nodes.numel(), 12)
    src, dst = view.edge_index
    sel = (local[src] >= 0) & (local[dst] >= 0)
    dense[local[src[sel]], local[dst[sel]]] = scores[sel]
    ref = interaction_candidates(key, view.box[nodes], dense)
    mine = pred.frame == key

    def rows(t, mask=None):
        m = slice(None) if mask is None else mask
        def r(a):
            return np.round(np.asarray(a[m], dtype=np.float64), 5).tolist()
        return sorted(zip(r(t.box1), r(t.box2), np.asarray(t.cls[m]).tolist(),
                          r(t.score)))
    assert rows(pred, mine) == rows(ref)
    with pytest.raises(ValueError, match='do not match edge_target'):
        pair_triplets(view, scores[:, :3])


def test_meter(dataset):
    loader = SSGLoader(dataset, batch_size=3)
    meter = InteractionMeter(recall_ks=(1, 20))
    for v in loader:
        meter.update(v, v.edge_target)
    perfect = meter.compute()
    assert perfect['mAP'] == 1.0 and perfect['recall@20'] == 1.0
    # Scores of each pair given to the reversed pair: the order of the
    # persons matters to the metric.
    meter.reset()
    for v in loader:
        src, dst = v.edge_index
        key = {(int(s), int(d)): i for i, (s, d) in enumerate(
            zip(src.tolist(), dst.tolist()))}
        rev = torch.tensor([key[(d, s)] for s, d in zip(src.tolist(),
                                                        dst.tolist())])
        meter.update(v, v.edge_target[rev])
    swapped = meter.compute()
    assert swapped['mAP'] < 0.5
    # The same result as one interaction_map call over the whole split.
    meter.reset()
    preds, gts, offset = [], [], 0
    for v in loader:
        s = torch.rand(v.edge_target.shape, generator=torch.Generator(
        ).manual_seed(offset))
        meter.update(v, s)
        p, g = pair_triplets(v, s, offset)
        preds.append(p)
        gts.append(g)
        offset += int(v.num_frames.sum())
    cat = InteractionMeter._cat
    ref = interaction_map(cat(preds, True), cat(gts, False),
                          recall_ks=(1, 20))
    assert meter.compute()['mAP'] == ref['mAP']
    meter.reset()
    with pytest.raises(RuntimeError, match='no batch'):
        meter.compute()


def test_losses():
    logits, target = torch.randn(5, 3), (torch.rand(5, 3) > 0.5).float()
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    assert torch.isclose(pair_loss(logits, target), 3 * ref)
    assert pair_loss(torch.zeros(0, 3), torch.zeros(0, 3)) == 0
    with pytest.raises(ValueError, match="'train_prompt' must be"):
        PairProDAModule(ProDAPairs(4, 3, 7, hidden_channels=8, heads=2),
                        train_prompt='gt')
    with pytest.raises(ValueError, match="Pass the ProDAPairs model"):
        PairProDAModule()


def trainer(tmp_path, epochs=1):
    return L.Trainer(max_epochs=epochs, accelerator='cpu', devices=1,
                     default_root_dir=str(tmp_path), logger=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     enable_checkpointing=False, num_sanity_val_steps=0,
                     gradient_clip_val=5.0, deterministic=True)


def test_meter_does_not_depend_on_batching(dataset):
    # Fixed scores per candidate (from its own features): the metrics of
    # the split are the same whatever the batch size.
    w = torch.randn(7, 12, generator=torch.Generator().manual_seed(0))
    results = []
    for batch_size in (1, 3, 8):
        meter = InteractionMeter(recall_ks=(1, 20))
        for v in SSGLoader(dataset, batch_size=batch_size):
            meter.update(v, (v.edge_attr[:, :7] @ w).sigmoid())
        results.append(meter.compute())
    for res in results[1:]:
        for key in ('mAP', 'recall@1', 'recall@20'):
            assert res[key] == pytest.approx(results[0][key], abs=1e-12)
    # A batch without ids after batches with them is refused.
    meter = InteractionMeter()
    v = next(iter(SSGLoader(dataset, batch_size=2)))
    meter.update(v, v.edge_target)
    del v.video_index
    with pytest.raises(ValueError, match="without 'video_index'"):
        meter.update(v, v.edge_target)


@pytest.mark.parametrize('train_prompt', ['spec', 'random'])
def test_proda_module_trains_and_evaluates(tmp_path, dataset, train_prompt):
    loader = SSGLoader(dataset, batch_size=4, shuffle=True)
    val = SSGLoader(dataset, batch_size=4)
    view = next(iter(val))
    module = proda_module(view, train_prompt=train_prompt)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    t = trainer(tmp_path)
    t.fit(module, loader, val)
    for key in ('train/loss', 'train/pair', 'train/cls_s', 'train/cls_u',
                'train/cls_t', 'train/cls_m', 'train/dis', 'train/rec',
                'val/pair_map', 'val/recall@20', 'val/recall@50'):
        assert key in t.callback_metrics, key
        assert torch.isfinite(t.callback_metrics[key]), key
    changed = {k for k, v in module.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])}
    for prefix in ('model.pair_head.', 'model.proda.convs.',
                   'model.proda.encoder.', 'model.proda.head_s.'):
        assert any(k.startswith(prefix) for k in changed), prefix
    res = module.evaluate(val)
    assert 0 <= res['mAP'] <= 1 and 0 <= res['recall@50'] <= 1
    again = module.evaluate(val)  # label-free prompts are seeded
    assert [res[k] for k in ('mAP', 'recall@20', 'recall@50')] == [
        again[k] for k in ('mAP', 'recall@20', 'recall@50')]
    assert 0 <= module.video_map(val) <= 1
    t.test(module, val, verbose=False)
    assert 'test/pair_map' in t.callback_metrics
    if train_prompt == 'spec':  # the checkpoint rebuilds the model
        t.save_checkpoint(tmp_path / 'm.ckpt')
        loaded = PairProDAModule.load_from_checkpoint(tmp_path / 'm.ckpt',
                                                      weights_only=True)
        with torch.no_grad():
            assert torch.equal(loaded.eval().pair_scores(view),
                               module.eval().pair_scores(view))


def test_baseline_module_trains(tmp_path, dataset):
    loader = SSGLoader(dataset, batch_size=4, shuffle=True)
    view = next(iter(loader))
    module = baseline_module(view, evaluated_classes=list(range(12)))
    before = module.model.pair[-1].weight.clone()
    t = trainer(tmp_path, epochs=2)
    t.fit(module, loader, SSGLoader(dataset, batch_size=4))
    assert torch.isfinite(t.callback_metrics['train/loss'])
    assert 'val/pair_map' in t.callback_metrics
    assert not torch.equal(before, module.model.pair[-1].weight)

