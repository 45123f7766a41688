import json
import os.path as osp
import runpy

from pyg_proda.fewshot import SyntheticFewShot

SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..',
                  'benchmarks', 'fewshot.py')


def test_benchmark_runs_end_to_end(tmp_path, capsys):
    main = runpy.run_path(SCRIPT)['main']
    out = tmp_path / 'out'
    res = main(['--quick', '--runs', 'ProtoNet', 'CLIP-SPM', '--steps', '4',
                '--val-every', '2', '--val-episodes', '10',
                '--test-episodes', '30', '--stage-episodes', '20',
                '--threads', '0', '--out', str(out)])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith('Embedded synthetic few-shot benchmark')
    saved = json.loads((out / 'results.json').read_text())
    assert [r['name'] for r in saved['rows']] == ['ProtoNet (mean-pooled)',
                                                  'CLIP-SPM']
    for row in saved['rows']:
        for shot in ('1shot', '5shot'):
            r = row[shot]
            assert r['episodes'] == 30 and 0 <= r['acc'] <= 100
            assert 'order_pair_acc' in r
    stages = saved['rows'][1]['stages']
    assert set(stages) == {'input', 'spm', 'padm', 'no_anchor', 'logits'}
    assert res['rows'][1]['stages'].keys() == stages.keys()
    md = (out / 'results.md').read_text()
    assert md.startswith('`python benchmarks/fewshot.py --quick')
    assert '| CLIP-SPM |' in md and 'Stages of CLIP-SPM' in md


def test_benchmark_on_a_cache_root(tmp_path, capsys):
    SyntheticFewShot((8, 8, 8), videos_per_class=10, dim=32).write(
        str(tmp_path / 'cache'))
    main = runpy.run_path(SCRIPT)['main']
    main(['--root', str(tmp_path / 'cache'), '--runs', 'OTAM', '--steps',
          '2', '--val-every', '1', '--val-episodes', '5', '--test-episodes',
          '10', '--threads', '0', '--out', str(tmp_path / 'out')])
    assert capsys.readouterr().out.startswith('Feature cache ')
    saved = json.loads((tmp_path / 'out' / 'results.json').read_text())
    # order_pairs.json in the cache folder: order-pair metrics reported.
    assert 'order_pair_acc' in saved['rows'][0]['1shot']
