import json
import os.path as osp
import runpy

import torch

SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..',
                  'benchmarks', 'charades.py')


def run(tmp_path, *extra):
    threads = torch.get_num_threads()
    main = runpy.run_path(SCRIPT)['main']
    try:
        return main(['--no-progress', '--num-videos', '32', '--eval-videos',
                     '16', '--epochs', '1', '--stage2-epochs', '1',
                     '--baseline-epochs', '1', '--hidden', '16',
                     '--out', str(tmp_path / 'out'),
                     '--data-root', str(tmp_path / 'data'), *extra])
    finally:
        torch.set_num_threads(threads)


def test_main_job_runs_end_to_end(tmp_path, capsys):
    res = run(tmp_path, '--protocol', 'paper')
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith('Dataset: SyntheticSSG')
    with open(tmp_path / 'out' / 'results.json') as f:
        saved = json.load(f)
    for key in ('a_t_map', 'a_t_map_paper_protocol', 'a_m_map',
                'baseline_map', 'a_s', 'a_s_prompt', 'ad_activity',
                'a_t_map_prompt', 'stage2_spec', 'localization_plain',
                'localization_distractor', 'order_pairs_ap'):
        assert saved.get(key) is not None, key
    assert 0 <= saved['a_t_map'] <= 100 and 0 <= saved['baseline_map'] <= 100
    assert saved['a_t_map'] == res['a_t_map']
    assert saved['settings']['config'].endswith('synthetic.yaml')
    assert set(saved['ad_activity']) == {'dis', 'rec'}
    md = (tmp_path / 'out' / 'results.md').read_text()
    assert 'bag-of-frames baseline' in md and 'taking a cup' in md
    assert 'paper protocol' in md and 'Does a_s follow its prompt' in md


def test_label_free_is_the_default_protocol(tmp_path):
    res = run(tmp_path, '--stage2-epochs', '0', '--detach-probe')
    assert res['a_t_map_paper_protocol'] is None
    assert res['settings']['model']['detach_probe'] is True
