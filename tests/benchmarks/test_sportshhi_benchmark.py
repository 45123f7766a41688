import json
import math
import os.path as osp
import runpy

import torch

from pyg_proda.testing.sportshhi import write_sportshhi_root

SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..',
                  'benchmarks', 'sportshhi.py')
TINY = ['--no-progress', '--epochs', '1', '--baseline-epochs', '1',
        '--hidden', '16', '--baseline-hidden', '16', '--batch-size', '4']


def run(argv):
    threads = torch.get_num_threads()
    main = runpy.run_path(SCRIPT)['main']
    try:
        return main(argv)
    finally:
        torch.set_num_threads(threads)


def test_synthetic_default_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / 'out'
    res = run(['--quick', '--num-videos', '8', '--eval-videos', '4',
               '--out', str(out), '--data-root', str(tmp_path / 'data')] +
              TINY)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith('Dataset: SyntheticHHI (embedded')
    with open(out / 'results.json') as f:
        saved = json.load(f)
    for key in ('proda', 'baseline', 'order_pairs_ap', 'timings_s',
                'paper_real_sportshhi_val', 'proda_video_a_t_map'):
        assert key in saved, key
    for model in ('proda', 'baseline'):
        for metric in ('mAP', 'R@50', 'R@20'):
            v = saved[model][metric]
            assert math.isnan(v) or 0 <= v <= 100, (model, metric, v)
    assert saved['proda']['R@50'] == res['proda']['R@50']
    assert saved['settings']['threads'] == 1
    assert saved['settings']['config'].endswith('synthetic_hhi.yaml')
    md = (out / 'results.md').read_text()
    assert 'non-temporal pair baseline' in md and 'basketball - screen' in md
    assert 'real SportsHHI val' in md and '13.55' in md


def test_real_format_root_runs(tmp_path, capsys):
    # The --root path on raw files in the SportsHHI format.
    write_sportshhi_root(str(tmp_path / 'shhi'))
    out = tmp_path / 'out'
    res = run(['--root', str(tmp_path / 'shhi'), '--out', str(out),
               '--no-baseline'] + TINY)
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"Dataset: SportsHHI from {tmp_path / 'shhi'}"
    assert res['dataset'] == 'SportsHHI' and res['eval_split'] == 'val'
    assert res['baseline'] is None and 0 <= res['proda']['R@50'] <= 100
    assert '(not run)' in (out / 'results.md').read_text()
    assert res['settings']['module']['spec_length'] == 16
    assert res['settings']['config'].endswith('sportshhi.yaml')
