import lightning as L
import pytest
import torch

from pyg_proda.data import random_prompt
from pyg_proda.models import ProDA
from pyg_proda.training import ProDAModule, SSGDataModule

TINY = dict(hidden_channels=16, heads=2, num_layers=1, num_temporal_layers=1,
            num_prompts=2, dropout=0.1)


def make_dm(root, **kwargs):
    return SSGDataModule('synthetic', str(root), batch_size=8,
                         dataset_kwargs=dict(num_videos=24, **kwargs))


def make_module(dm, **kwargs):
    model = ProDA(dm.in_channels, dm.num_classes, dm.edge_dim,
                  max_frames=dm.max_frames, **TINY)
    return ProDAModule(model, **{'lr': 1e-3, **kwargs})


def trainer(tmp_path, epochs, **kwargs):
    return L.Trainer(max_epochs=epochs, accelerator='cpu', devices=1,
                     default_root_dir=str(tmp_path), logger=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     num_sanity_val_steps=0, gradient_clip_val=5.0,
                     deterministic=True, **kwargs)


def test_stage1_trains_and_logs_metrics(tmp_path):
    dm = make_dm(tmp_path / 'data')
    module = make_module(dm)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    t = trainer(tmp_path, 1, enable_checkpointing=False)
    t.fit(module, dm)
    for key in ('train/loss', 'train/cls_s', 'train/cls_u', 'train/cls_t',
                'train/dis', 'train/rec', 'train/cls_m', 'val/a_t_map',
                'val/a_m_map'):
        assert key in t.callback_metrics, key
        assert torch.isfinite(t.callback_metrics[key])
    changed = [k for k, v in module.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any(k.startswith('model.convs') for k in changed)
    assert any(k.startswith('model.encoder') for k in changed)


def test_loss_switches_remove_terms(tmp_path):
    dm = make_dm(tmp_path / 'data')
    module = make_module(dm, use_dis=False, use_rec=False)
    assert module.loss_fn.terms == ('cls_s', 'cls_u', 'cls_t', 'cls_m')
    module = make_module(dm, use_margins=False)
    assert module.loss_fn.margin_dis(1) == 0.0


def test_resume_matches_uninterrupted_run(tmp_path):
    dm = make_dm(tmp_path / 'data')
    L.seed_everything(0)
    full = make_module(dm)
    init = {k: v.clone() for k, v in full.state_dict().items()}
    trainer(tmp_path / 'full', 2, enable_checkpointing=False).fit(full, dm)

    # Interrupted run: the same schedule (2 epochs) stopped after the first,
    # saved, then resumed from the file by a new trainer.
    class Crash(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            trainer.should_stop = True

    first = make_module(dm)
    first.load_state_dict(init)
    t1 = trainer(tmp_path / 'a', 2, enable_checkpointing=False,
                 callbacks=[Crash()])
    t1.fit(first, dm)
    assert t1.current_epoch == 1
    ckpt = str(tmp_path / 'crash.ckpt')
    t1.save_checkpoint(ckpt)
    resumed = make_module(dm)
    trainer(tmp_path / 'b', 2, enable_checkpointing=False).fit(
        resumed, dm, ckpt_path=ckpt, weights_only=True)
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, msg=k)


def test_stage2_freezes_all_but_classifiers(tmp_path):
    dm = make_dm(tmp_path / 'data')
    stage1 = make_module(dm)
    t = trainer(tmp_path, 1, enable_checkpointing=False)
    t.fit(stage1, dm)
    ckpt = str(tmp_path / 'stage1.ckpt')
    t.save_checkpoint(ckpt)
    stage2 = make_module(dm, stage=2, init_from=ckpt)
    trainable = {n for n, p in stage2.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(('model.head_t', 'model.head_m'))
                             for n in trainable)
    # Frozen weights come from stage 1; the classifiers are re-initialised.
    s1, s2 = stage1.state_dict(), stage2.state_dict()
    for k in s1:
        if 'head_t' not in k and 'head_m' not in k:
            assert torch.equal(s1[k], s2[k]), k
    assert not torch.equal(s1['model.head_t.4.weight'],
                           s2['model.head_t.4.weight'])
    frozen = {k: v.clone() for k, v in s2.items() if 'head_' not in k}
    trainer(tmp_path / 's2', 1, enable_checkpointing=False).fit(stage2, dm)
    assert set(stage2.loss_fn.terms) == {'cls_t', 'cls_m'}
    for k, v in frozen.items():
        assert torch.equal(stage2.state_dict()[k], v), k


def test_stage2_needs_checkpoint(tmp_path):
    dm = make_dm(tmp_path / 'data')
    with pytest.raises(ValueError, match='init_from'):
        make_module(dm, stage=2)
    with pytest.raises(ValueError, match='stage2_prompt'):
        make_module(dm, stage2_prompt='oracle')


def test_stage2_prompts_hold_no_ground_truth(tmp_path, monkeypatch):
    dm = make_dm(tmp_path / 'data')
    stage1 = make_module(dm)
    ckpt = str(tmp_path / 's1.ckpt')
    torch.save({'state_dict': stage1.state_dict()}, ckpt)
    batch = next(iter(dm.train_dataloader()))
    seen = {}

    for mode in ('random', 'spec'):
        module = make_module(dm, stage=2, init_from=ckpt, stage2_prompt=mode)
        module.log = lambda *args, **kwargs: None
        real = module.model.forward

        def spy(view, sap, uap, video=None, _real=real, _mode=mode):
            seen[_mode] = (sap.clone(), view.y.clone())
            return _real(view, sap, uap, video)

        monkeypatch.setattr(module.model, 'forward', spy)
        module.training_step(batch, 0)
    sap, y = seen['random']
    # 16 classes per video drawn from the step seed alone, not the labels ...
    B, C = y.shape
    assert (sap.sum(1) == 16).all()
    expected = random_prompt(B, C, 16, module._step_seed(), sap.device)
    torch.testing.assert_close(sap, expected)
    # ... while 'spec' draws the paper's specifications from the labels.
    sap, y = seen['spec']
    assert not torch.equal(sap, seen['random'][0])
    assert (sap * y).sum() > 0


@pytest.mark.skipif(not torch.distributed.is_available(),
                    reason='torch.distributed is not available')
def test_ddp_two_cpu_processes(tmp_path):
    dm = make_dm(tmp_path / 'data')
    dm.prepare_data()
    module = make_module(dm)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    t = L.Trainer(max_epochs=1, accelerator='cpu', devices=2,
                  strategy='ddp_spawn', default_root_dir=str(tmp_path),
                  logger=False, enable_progress_bar=False,
                  enable_model_summary=False, num_sanity_val_steps=0,
                  limit_train_batches=2, limit_val_batches=1,
                  enable_checkpointing=False)
    t.fit(module, dm)
    assert t.world_size == 2
    # ddp_spawn hands rank 0's trained weights back to this process.
    after = module.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in before.items()
               if v.is_floating_point())
