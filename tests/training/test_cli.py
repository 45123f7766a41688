import glob
import os

from pyg_proda.__main__ import main

CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'configs',
                      'synthetic.yaml')


def test_cli_fit_then_test(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the config logs under ./runs/synthetic
    common = [
        '--config', CONFIG, '--data.root', str(tmp_path / 'data'),
        '--data.dataset_kwargs', '{num_videos: 16}', '--data.batch_size',
        '8', '--model.hidden_channels', '16', '--model.heads', '2',
        '--model.num_layers', '1', '--trainer.enable_progress_bar', 'false',
        '--trainer.default_root_dir', str(tmp_path / 'runs')
    ]
    main(['fit', *common, '--trainer.max_epochs', '1'])
    ckpts = glob.glob(str(tmp_path / 'runs' / '**' / 'best-*.ckpt'),
                      recursive=True)
    assert ckpts, 'fit wrote no best checkpoint'
    assert glob.glob(str(tmp_path / 'runs' / '**' / 'events.out.tfevents*'),
                     recursive=True), 'no TensorBoard log'
    metrics = glob.glob(str(tmp_path / 'runs' / '**' / 'metrics.csv'),
                        recursive=True)
    assert metrics and 'val/a_t_map' in open(metrics[0]).read()
    main(['test', *common, '--ckpt_path', ckpts[0], '--weights_only', 'true',
          '--trainer.logger',
          'false'])
