import os.path as osp

import lightning as L
import numpy as np
import pytest
import torch

from pyg_proda.fewshot import SyntheticFewShot, write_feature_cache
from pyg_proda.fewshot.__main__ import run_cli
from pyg_proda.fewshot.training import FewShotDataModule, FewShotModule

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(num_classes=[8, 8, 8], videos_per_class=10, dim=32, seed=1)


def trainer(tmp_path, **kwargs):
    kwargs.setdefault('max_epochs', 1)
    return L.Trainer(accelerator='cpu', devices=1, logger=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     num_sanity_val_steps=0, default_root_dir=str(tmp_path),
                     **kwargs)


@pytest.mark.parametrize('head', ['protonet', 'otam', 'trx', 'clip_spm'])
def test_fit_validate_test(tmp_path, head):
    dm = FewShotDataModule(train_shots=[1, 5], train_episodes=8,
                           episodes_per_batch=2, val_episodes=6,
                           test_episodes=10, eval_episodes_per_batch=5,
                           synthetic=SMALL)
    model = FewShotModule(head=head, channels=dm.channels,
                          num_frames=dm.num_frames, heads=2, head_channels=8,
                          ff_channels=32, trx_channels=16, lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()
              if p.requires_grad]
    ckpt = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=str(tmp_path), filename='best', monitor='val/acc',
        mode='max')
    tr = trainer(tmp_path, callbacks=[ckpt], enable_checkpointing=True,
                 val_check_interval=2, accumulate_grad_batches=2)
    tr.fit(model, dm)
    assert tr.global_step == 2  # 4 batches, accumulated in twos
    after = [p for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert 0 <= float(tr.callback_metrics['val/acc']) <= 100
    # Checkpoints load with weights_only=True.
    state = torch.load(ckpt.best_model_path, weights_only=True)
    model.load_state_dict(state['state_dict'])
    out = tr.test(model, dm, verbose=False)[0]
    assert out['test/episodes'] == 10
    assert 0 <= out['test/acc'] <= 100 and out['test/ci'] >= 0


def test_training_learns(tmp_path):
    # A short run lifts OTAM well above chance on the validation classes.
    dm = FewShotDataModule(train_episodes=240, episodes_per_batch=8,
                           val_episodes=100, eval_episodes_per_batch=50,
                           synthetic=SMALL)
    torch.manual_seed(0)
    model = FewShotModule(head='otam', channels=32, lr=3e-3)
    tr = trainer(tmp_path, enable_checkpointing=False)
    tr.fit(model, dm)
    acc = tr.validate(model, dm, verbose=False)[0]['val/acc']
    assert acc > 40  # chance: 20


def test_shuffled_text_is_a_derangement():
    dm = FewShotDataModule(shuffle_text=True, synthetic=SMALL)
    base = FewShotDataModule(synthetic=SMALL)
    t, ref = dm.text_features('test'), base.text_features('test')
    assert not any(torch.equal(t[i], ref[i]) for i in range(len(ref)))
    assert sorted(map(tuple, t.tolist())) == sorted(map(tuple, ref.tolist()))


def test_caches_must_agree(tmp_path):
    rng = np.random.default_rng(0)
    for split, T in (('train', 8), ('val', 8), ('test', 16)):
        vids = {f'{c}/v{i}': rng.standard_normal((T, 4)) for c in 'abcdef'
                for i in range(2)}
        write_feature_cache(str(tmp_path / f'{split}.npz'), vids,
                            list('abcdef'), rng.standard_normal((6, 4)))
    dm = FewShotDataModule(root=str(tmp_path))
    with pytest.raises(ValueError, match=r"test.npz' \(test\) has 16 "
                       r"frames of size 4, '.*train.npz' \(train\) 8"):
        dm.channels


def test_cache_root_and_too_few_videos(tmp_path):
    bench = SyntheticFewShot((8, 8, 8), videos_per_class=3, dim=32)
    bench.write(str(tmp_path))
    dm = FewShotDataModule(root=str(tmp_path), train_query=4)
    assert dm.channels == 32 and dm.num_frames == 8
    with pytest.raises(ValueError, match=r"train.npz'.*fewer than shot \+ "
                       r"query = 1 \+ 4 videos"):
        dm.train_dataloader()


def test_unknown_head():
    with pytest.raises(ValueError, match="Unknown head 'x'"):
        FewShotModule(head='x')


def test_cli_fit_and_test(tmp_path):
    config = osp.join(ROOT, 'configs', 'fewshot.yaml')
    synthetic = ('{num_classes: [8, 8, 8], videos_per_class: 10, dim: 32, '
                 'seed: 1}')
    common = ['--config', config, '--data.init_args.synthetic', synthetic,
              '--trainer.enable_progress_bar', 'false',
              '--trainer.default_root_dir', str(tmp_path),
              f'--trainer.logger.init_args.save_dir={tmp_path}',
              f'--trainer.callbacks.init_args.dirpath={tmp_path}']
    run_cli(['fit', *common, '--data.init_args.train_episodes', '16',
             '--data.init_args.val_episodes', '10',
             '--trainer.val_check_interval', '1'])
    best = tmp_path / 'best.ckpt'
    assert best.is_file()
    cli = run_cli(['test', *common, '--data.init_args.test_episodes', '20',
                   '--ckpt_path', str(best)])
    assert cli.trainer.callback_metrics['test/episodes'] == 20
    assert cli.model.hparams.adapter is False
    assert cli.model.hparams.head == 'clip_spm'


def test_cache_config_runs(tmp_path):
    # configs/fewshot_cache.yaml (paper-sized heads) on a tiny cache.
    SyntheticFewShot((8, 8, 8), videos_per_class=10, dim=32).write(
        str(tmp_path / 'cache'))
    config = osp.join(ROOT, 'configs', 'fewshot_cache.yaml')
    cli = run_cli(['fit', '--config', config,
                   '--data.init_args.root', str(tmp_path / 'cache'),
                   '--data.init_args.train_episodes', '2',
                   '--data.init_args.val_episodes', '2',
                   '--trainer.accumulate_grad_batches', '2',
                   '--trainer.val_check_interval', '2',
                   '--trainer.enable_progress_bar', 'false',
                   '--trainer.default_root_dir', str(tmp_path),
                   f'--trainer.logger.init_args.save_dir={tmp_path}',
                   f'--trainer.callbacks.init_args.dirpath={tmp_path}'])
    assert cli.model.hparams.heads == 8 and cli.model.hparams.channels == 32
    assert cli.trainer.global_step == 1
    assert (tmp_path / 'best.ckpt').is_file()
