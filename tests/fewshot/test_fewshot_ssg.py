import lightning as L
import pytest
import torch

from pyg_proda.data import SampleFrames, SSGLoader
from pyg_proda.datasets import SyntheticSSG
from pyg_proda.fewshot import EpisodeDataset, EpisodeSampler
from pyg_proda.fewshot.ssg import (
    FrameReadout,
    SSGFewShotDataModule,
    SSGFewShotSplit,
    SSGFrameEncoder,
    class_split,
    hashed_text_features,
)
from pyg_proda.fewshot.training import FewShotModule


@pytest.fixture(scope='module')
def ssg_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('ssg_fewshot'))


def test_frame_readout_by_hand():
    torch.manual_seed(0)
    readout = FrameReadout(3, num_frames=2).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    batch = torch.tensor([0, 0, 0, 1])
    frame = torch.tensor([0, 0, 1, 1])
    z, mask = readout(x, batch, frame, batch_size=3)
    alpha = torch.sigmoid(readout.gate(x))
    ref = readout.norm(alpha[0] * x[0] + alpha[1] * x[1])
    assert torch.allclose(z[0, 0], ref)
    assert torch.allclose(z[1, 1], readout.norm(alpha[3] * x[3]))
    assert mask.tolist() == [[True, True], [False, True], [False, False]]
    assert z[2].abs().sum() == 0


def test_encoder_on_sampled_graphs(ssg_root):
    ds = SyntheticSSG(ssg_root, split='val', num_videos=6, max_actions=1,
                      transform=SampleFrames(8), log=False)
    enc = SSGFrameEncoder(ds[0]['person'].x.size(-1), 16, edge_dim=26,
                          heads=2)
    batch = next(iter(SSGLoader(ds, batch_size=6)))
    out = enc(batch)
    assert out.shape == (6, 8, 16)
    # The relations reach the encoder: other relation labels, other output.
    view = batch.clone()
    view.edge_attr = view.edge_attr.flip(-1)
    assert not torch.allclose(enc(view), out)
    with pytest.raises(ValueError, match='Relation features of size 26'):
        SSGFrameEncoder(view.x.size(-1), 16, edge_dim=5)(batch)
    raw = SyntheticSSG(ssg_root, split='val', num_videos=6, max_actions=1,
                       log=False)  # 16 frames
    with pytest.raises(ValueError, match='SampleFrames'):
        enc(next(iter(SSGLoader(raw, batch_size=2))))


def test_class_split_keeps_pairs():
    split = class_split(38, SyntheticSSG.order_pairs, (20, 6, 12), seed=3)
    assert [len(split[s]) for s in ('train', 'val', 'test')] == [20, 6, 12]
    allc = split['train'] + split['val'] + split['test']
    assert sorted(allc) == list(range(38))
    where = {c: s for s, cs in split.items() for c in cs}
    for a, b in SyntheticSSG.order_pairs:
        assert where[a] == where[b]
    assert sum(where[a] == 'test' for a, _ in SyntheticSSG.order_pairs) == 4
    assert class_split(38, SyntheticSSG.order_pairs, seed=3) == split
    with pytest.raises(ValueError, match='adding up to 38'):
        class_split(38, SyntheticSSG.order_pairs, (20, 6, 11))


def test_hashed_text_deterministic():
    a = hashed_text_features(['taking a cup', 'putting a cup down'], 16)
    assert torch.equal(a, hashed_text_features(['taking a cup',
                                                'putting a cup down'], 16))
    assert not torch.equal(a, hashed_text_features(['taking a cup',
                                                    'putting a cup down'],
                                                   16, seed=1))
    with pytest.raises(ValueError, match='empty'):
        hashed_text_features([''], 4)


def test_split_filters_single_action_videos(ssg_root):
    ds = SyntheticSSG(ssg_root, split='test', num_videos=40, max_actions=2,
                      log=False)
    names = SyntheticSSG.action_names
    text = hashed_text_features(names, 8)
    ys = [ds.get(i).y.view(-1) for i in range(len(ds))]
    single = [y.nonzero().view(-1).tolist() for y in ys if (y > 0).sum() == 1]
    present = sorted({c[0] for c in single})
    split = SSGFewShotSplit(ds, present, names, text)
    assert len(split) == len(single) < len(ds)
    for j, lab in zip(split.index.tolist(), split.labels.tolist()):
        assert ds.get(j).y.view(-1).nonzero().view(-1).tolist() == [
            present[lab]]
    assert torch.equal(split.text_features, text[present])
    with pytest.raises(ValueError, match=r"tiny: class\(es\) .* have no "
                       r"single-action video"):
        SSGFewShotSplit(ds, list(range(38)), names, text, path='tiny')


def test_episodes_of_graphs_train_end_to_end(ssg_root, tmp_path):
    dm = SSGFewShotDataModule(root=ssg_root, num_videos=(400, 220, 220),
                              ssg_options={'num_frames': 8,
                                           'num_distractors': 1},
                              text_dim=16, train_query=1,
                              train_shots=[1], train_episodes=4,
                              episodes_per_batch=2, val_episodes=4,
                              test_episodes=4, eval_episodes_per_batch=2)
    assert dm.channels == 16 and dm.num_frames == 8
    test = dm.splits['test']
    assert test.num_classes == 12
    # Four order-only pairs among the 12 test classes (local ids).
    assert len(dm.order_pairs['test']) == 4
    model = FewShotModule(head='clip_spm', channels=16, num_frames=8,
                          heads=2, head_channels=4, ff_channels=16,
                          attn_dropout=0.0, ff_dropout=0.0, lr=1e-3,
                          encoder={'in_channels': dm.in_channels,
                                   'edge_dim': dm.edge_dim, 'heads': 2})
    tr = L.Trainer(max_epochs=1, accelerator='cpu', logger=False,
                   enable_progress_bar=False, enable_model_summary=False,
                   enable_checkpointing=False, num_sanity_val_steps=0,
                   default_root_dir=str(tmp_path))
    before = model.encoder.lin_in.weight.detach().clone()
    tr.fit(model, dm)
    assert not torch.equal(before, model.encoder.lin_in.weight)
    out = tr.test(model, dm, verbose=False)[0]
    assert out['test/episodes'] == 4
    # No query label reaches the forward pass here either.
    sampler = EpisodeSampler(test.labels, 5, 1, 1, 2, seed=0)
    batch = EpisodeDataset(test, sampler, 2, collate=test.collate)[0]
    assert batch.support is None and batch.support_graphs.num_graphs == 10
    model.eval()
    with torch.no_grad():
        logits, _ = model(batch)
        batch.query_labels = None
        assert torch.equal(model(batch)[0], logits)
    assert logits.shape == (2, 5, 5)
