import glob
import os

import pytest

from pyg_proda.__main__ import main
from pyg_proda.training.recipe import load_recipe

CONFIGS = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')
CONFIG = os.path.join(CONFIGS, 'synthetic.yaml')


def test_cli_fit_runs_both_stages_then_test(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the config logs under ./runs/synthetic
    root = tmp_path / 'runs'
    common = [
        '--config', CONFIG, '--data.root', str(tmp_path / 'data'),
        '--data.dataset_kwargs', '{num_videos: 16}', '--data.batch_size',
        '8', '--model.model.init_args.hidden_channels', '16',
        '--model.model.init_args.heads', '2',
        '--trainer.enable_progress_bar', 'false',
        '--trainer.default_root_dir', str(root)
    ]
    main(['fit', *common, '--trainer.max_epochs', '1',
          '--trainer.check_val_every_n_epoch', '1',
          '--model.stage2_epochs', '1'])
    out = capsys.readouterr().out
    assert 'Stage 2:' in out and 'stage2-best' in out
    best = root / 'best.ckpt'
    assert best.exists(), 'fit left no final checkpoint'
    assert glob.glob(str(root / '**' / 'events.out.tfevents*'),
                     recursive=True), 'no TensorBoard log'
    metrics = glob.glob(str(root / '**' / 'metrics.csv'), recursive=True)
    assert metrics and 'val/a_t_map' in open(metrics[0]).read()
    main(['test', *common, '--ckpt_path', str(best), '--weights_only',
          'true', '--trainer.logger', 'false'])
    out = capsys.readouterr().out
    # The config asks for both protocols.
    assert 'test/a_t_map' in out and 'test/a_t_paper_protocol_map' in out


def test_configs_hold_a_recipe():
    for name in ('synthetic.yaml', 'charades.yaml'):
        r = load_recipe(os.path.join(CONFIGS, name))
        assert r.model['hidden_channels'] > 0 and r.module['lr'] > 0
        assert r.module['stage2_epochs'] > 0


def test_load_recipe_errors(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('model:\n  hidden_channels: 8\n')
    with pytest.raises(ValueError, match='bad.yaml'):
        load_recipe(str(bad))


def test_cli_pairs_fit_on_synthetic_hhi(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / 'runs'
    main(['pairs', 'fit', '--config',
          os.path.join(CONFIGS, 'synthetic_hhi.yaml'),
          '--data.root', str(tmp_path / 'data'),
          '--data.dataset_kwargs', '{num_videos: 8}',
          '--model.model.init_args.hidden_channels', '16',
          '--model.model.init_args.heads', '2',
          '--trainer.max_epochs', '1', '--trainer.check_val_every_n_epoch',
          '1', '--trainer.enable_progress_bar', 'false',
          '--trainer.default_root_dir', str(root)])
    metrics = glob.glob(str(root / '**' / 'metrics.csv'), recursive=True)
    assert metrics and 'val/pair_map' in open(metrics[0]).read()
