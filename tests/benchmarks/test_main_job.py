import json
import os.path as osp
import runpy

import torch

SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..',
                  'benchmarks', 'charades.py')


def test_main_job_runs_end_to_end(tmp_path, capsys):
    threads = torch.get_num_threads()
    main = runpy.run_path(SCRIPT)['main']
    try:
        res = main(['--quick', '--no-progress', '--num-videos', '32',
                    '--epochs', '1', '--stage2-epochs', '1',
                    '--baseline-epochs', '1', '--out', str(tmp_path / 'out'),
                    '--data-root', str(tmp_path / 'data')])
    finally:
        torch.set_num_threads(threads)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith('Dataset: SyntheticSSG')
    with open(tmp_path / 'out' / 'results.json') as f:
        saved = json.load(f)
    for key in ('a_t_map', 'a_m_map', 'baseline_map', 'a_s',
                'localization_plain', 'localization_distractor',
                'order_pairs_ap'):
        assert key in saved, key
    assert 0 <= saved['a_t_map'] <= 100 and 0 <= saved['baseline_map'] <= 100
    assert saved['a_t_map'] == res['a_t_map']
    md = (tmp_path / 'out' / 'results.md').read_text()
    assert 'bag-of-frames baseline' in md and 'taking a cup' in md
