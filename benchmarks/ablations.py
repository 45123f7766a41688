r"""The ablations of the ProDA paper on the embedded SyntheticSSG: prompt
module (Table 3), normalisation (Table 4) and loss terms (Table 5).

    python benchmarks/ablations.py --quick          # 3 seeds, < 5 minutes
    python benchmarks/ablations.py                  # 3 seeds, larger runs
    python benchmarks/ablations.py --tables loss --seeds 5

Every distinct configuration is trained once per seed (the full model, DPM
+ VGNorm + both margins, is shared by the three tables), evaluated on the
test split and summarised as mean ± sample std over the seeds beside the
paper's Charades numbers (evaluation.md §7.1). It writes ``results.json``
(every run and every summary, mAP in percent) and ``results.md`` to
``--out``.

What the numbers are:

* Every run is the package's recipe (:func:`pyg_proda.training.fit_two_stage`):
  stage 1, the checkpoint of its best validation epoch (``val/a_t_map``;
  ``val/a_m_map`` for row 6), then stage 2 from it (``--stage2-epochs``; 0,
  the ``--quick`` default, skips it).
* ``a_t`` is the fused head read under the label-free protocol
  (:meth:`~pyg_proda.training.ProDAModule.eval_forward`); "stage 1" is the
  best stage-1 checkpoint, "stage 2" the model after re-training only the
  ``a_t``/``a_m`` classifiers on it. ``a_m`` is reported after stage 1
  (stage 2 re-initialises its classifier and trains it for a few epochs
  only; the stage-2 value is kept in the json as ``a_m2``).
* ``a_m`` is read from the encoder features :math:`F_o` and, as in the
  package's default, trained jointly with the encoder in every row. Row 6
  ("encoder only, no ProDA") trains the encoder through ``a_m`` alone:
  ``lambda_s = lambda_u = lambda_t = 0`` and no AD terms, so the VGPNN
  branches receive no gradient; only ``a_m`` is reported, as in the
  paper.
* The dataset (its seed) is the same for all runs; the seed changes the
  initialisation, the shuffling and the sampled specifications.

Runs are distributed over ``--workers`` processes with one intra-op thread
each (on a shared 2-core machine, several threads per process are far
slower than one).

Timings on a 2-core machine shared with other jobs (load about 5):
``--quick`` took 136-231 s (30 runs of 20 steps). A default run (240
stage-1 steps, 2 VGPNN layers, 2 stage-2 epochs at half the learning rate,
400 test videos) takes 180-290 s on one core; the default's prompt table
alone (6 runs) took 13.4 minutes, so all 30 runs need about 45 minutes on
two idle cores and over an hour on a loaded one. At both sizes the models stay close to chance
(printed in the report), so neither resolves the paper's trends; they check
the pipeline. Larger runs (``--epochs``, ``--num-videos``, ``--hidden``,
``--accelerator gpu``) are needed for that.
"""
import argparse
import json
import logging
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, List, Optional, Sequence, Tuple

import torch

#: Model switches of every configuration (ProDAModule keyword arguments).
CONFIGS: Dict[str, Dict] = {
    'full': {},
    'simple_prompt': dict(prompt='simple'),
    'layer_norm': dict(norm='layer'),
    'batch_norm': dict(norm='batch'),
    'graph_norm': dict(norm='graph'),
    'cls_only': dict(use_dis=False, use_rec=False),
    'no_margins': dict(use_margins=False),
    'dis_margin': dict(use_rec=False),
    'rec_margin': dict(use_dis=False),
    'encoder_only': dict(lambda_s=0.0, lambda_u=0.0, lambda_t=0.0,
                         use_dis=False, use_rec=False),
}
#: The switches of :data:`CONFIGS` that belong to the model (the others
#: belong to the training module).
MODEL_KEYS = ('prompt', 'norm', 'detach_probe')

#: Rows of the paper's tables: (label, configuration, paper numbers).
#: ``a_t2``/``a_t1``: a_t after stage 2/1; ``a_m``.
TABLES: Dict[str, List[Tuple[str, str, Dict[str, Optional[float]]]]] = {
    'prompt': [
        ('SimplePrompt', 'simple_prompt', dict(a_t2=68.07, a_m=57.80)),
        ('DPM', 'full', dict(a_t2=71.10, a_m=59.04)),
    ],
    'norm': [
        ('LayerNorm', 'layer_norm', dict(a_t2=68.12, a_t1=65.44, a_m=57.96)),
        ('BatchNorm', 'batch_norm', dict(a_t2=65.39, a_t1=63.05, a_m=58.20)),
        ('GraphNorm', 'graph_norm', dict(a_t2=68.61, a_t1=65.32, a_m=58.32)),
        ('VGNorm', 'full', dict(a_t2=71.10, a_t1=71.32, a_m=59.04)),
    ],
    'loss': [
        ('1 classification only', 'cls_only',
         dict(a_t2=67.45, a_t1=65.83, a_m=57.38)),
        ('2 rec. + corr., no margins', 'no_margins',
         dict(a_t2=68.43, a_t1=18.27, a_m=8.03)),
        ('3 correlation with margin', 'dis_margin',
         dict(a_t2=67.78, a_t1=66.92, a_m=58.28)),
        ('4 reconstruction with margin', 'rec_margin',
         dict(a_t2=64.89, a_t1=61.19, a_m=57.90)),
        ('5 full (both margins)', 'full',
         dict(a_t2=71.10, a_t1=71.32, a_m=59.04)),
        ('6 encoder only, no ProDA', 'encoder_only',
         dict(a_t2=None, a_t1=None, a_m=58.01)),
    ],
}

#: Paper comparisons checked for their trend: (table, metric, better
#: configuration, worse configuration as in the paper's ordering).
COMPARISONS: List[Tuple[str, str, str, str]] = [
    ('prompt', 'a_t', 'full', 'simple_prompt'),
    ('prompt', 'a_m', 'full', 'simple_prompt'),
    ('norm', 'a_t', 'full', 'layer_norm'),
    ('norm', 'a_t', 'full', 'batch_norm'),
    ('norm', 'a_t', 'full', 'graph_norm'),
    ('loss', 'a_t', 'full', 'cls_only'),
    ('loss', 'a_t', 'full', 'no_margins'),
    ('loss', 'a_t1', 'full', 'no_margins'),
    ('loss', 'a_t', 'full', 'dis_margin'),
    ('loss', 'a_t', 'full', 'rec_margin'),
    ('loss', 'a_m', 'full', 'no_margins'),
    ('loss', 'a_m', 'full', 'encoder_only'),
]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true',
                   help='small runs, 3 seeds, under 5 minutes on 2 cores')
    p.add_argument('--tables', default='prompt,norm,loss',
                   help='comma-separated subset of prompt,norm,loss')
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--out', default='results/ablations')
    p.add_argument('--data-root', default='datasets',
                   help='where SyntheticSSG is generated (default: datasets)')
    p.add_argument('--workers', type=int, default=None,
                   help='parallel runs (default: min(2, CPU count))')
    p.add_argument('--threads', type=int, default=1,
                   help='intra-op threads per run (default: 1)')
    p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--stage2-epochs', type=int, default=None)
    p.add_argument('--hidden', type=int, default=None)
    p.add_argument('--num-videos', type=int, default=None,
                   help='SyntheticSSG training videos')
    p.add_argument('--eval-videos', type=int, default=None,
                   help='SyntheticSSG test videos')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--data-seed', type=int, default=0)
    p.add_argument('--accelerator', default='cpu')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def settings(args: argparse.Namespace) -> Dict:
    r"""Run sizes: ``--quick`` or the default, overridden by the flags."""
    if args.quick:
        # Dropout costs ~15% of a step on CPU and matters little here.
        s = dict(epochs=2, stage2=0, hidden=32, train=160, eval=96, heads=2,
                 layers=1, dropout=0.0)
    else:
        s = dict(epochs=8, stage2=2, hidden=32, train=480, eval=400,
                 heads=2, layers=2, dropout=0.1)
    for key, flag in (('epochs', args.epochs), ('stage2', args.stage2_epochs),
                      ('hidden', args.hidden), ('train', args.num_videos),
                      ('eval', args.eval_videos)):
        if flag is not None:
            s[key] = flag
    s.update(batch_size=args.batch_size, lr=args.lr, data_seed=args.data_seed,
             accelerator=args.accelerator, threads=args.threads)
    return s


def _datamodule(root: str, s: Dict, seed: int):
    from pyg_proda.training import SSGDataModule
    return SSGDataModule('synthetic', root, batch_size=s['batch_size'],
                         eval_batch_size=64, seed=seed,
                         dataset_kwargs=dict(num_videos=s['eval'],
                                             seed=s['data_seed'], log=False),
                         train_kwargs=dict(num_videos=s['train']))


def _quiet() -> None:
    warnings.filterwarnings('ignore')
    for name in ('lightning', 'lightning.pytorch', 'lightning.fabric'):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_one(config: str, seed: int, root: str, s: Dict) -> Dict:
    r"""Trains configuration :obj:`config` with :obj:`seed` through the
    package's two-stage recipe and returns its test mAPs (percent) and wall
    time."""
    import lightning as L

    from pyg_proda.models import ProDA
    from pyg_proda.training import ProDAModule, fit_two_stage, make_trainer
    from pyg_proda.training.evaluate import evaluate_proda
    _quiet()
    torch.set_num_threads(s['threads'])
    t0 = time.time()
    dm = _datamodule(root, s, seed)
    test = dm.test_dataloader()
    L.seed_everything(seed, verbose=False)
    switches = CONFIGS[config]
    model = ProDA(dm.in_channels, dm.num_classes, dm.edge_dim,
                  max_frames=dm.max_frames, hidden_channels=s['hidden'],
                  heads=s['heads'], num_layers=s['layers'],
                  num_temporal_layers=1, num_prompts=4, dropout=s['dropout'],
                  **{k: v for k, v in switches.items() if k in MODEL_KEYS})
    encoder_only = config == 'encoder_only'
    module = ProDAModule(
        model, lr=s['lr'], seed=seed, stage2_lr=s['lr'] / 2,
        stage2_epochs=0 if encoder_only else s['stage2'],
        **{k: v for k, v in switches.items() if k not in MODEL_KEYS})
    kw = dict(progress=False, logger=False, accelerator=s['accelerator'],
              devices=1,
              monitor='val/a_m_map' if encoder_only else 'val/a_t_map')
    with tempfile.TemporaryDirectory() as tmp:
        res = fit_two_stage(
            module, dm, make_trainer(os.path.join(tmp, 's1'), s['epochs'],
                                     **kw),
            lambda e: make_trainer(os.path.join(tmp, 's2'), e, **kw))
        best1 = ProDAModule.load_from_checkpoint(res.stage1_ckpt,
                                                 weights_only=True)
        ev = evaluate_proda(best1, test, seed=seed, grid=False,
                            progress=False)
        out = dict(config=config, seed=seed, a_t1=100 * ev['a_t_map'],
                   a_m1=100 * ev['a_m_map'])
        if res.stage2_ckpt is not None:
            ev = evaluate_proda(res.module, test, seed=seed, grid=False,
                                progress=False)
            out.update(a_t2=100 * ev['a_t_map'], a_m2=100 * ev['a_m_map'])
    if encoder_only:
        out['a_t1'] = None  # its a_t head was never trained
    out['time_s'] = time.time() - t0
    return out


def _stats(values: Sequence[Optional[float]]) -> Tuple[float, float]:
    vals = [v for v in values if v is not None]
    if not vals:
        return float('nan'), float('nan')
    t = torch.tensor(vals, dtype=torch.float64)
    std = float(t.std()) if t.numel() > 1 else 0.0  # sample std (n - 1)
    return float(t.mean()), std


def summarize(runs: List[Dict], staged: bool) -> Dict[str, Dict]:
    r"""Mean and sample std over seeds of every configuration. ``a_t`` is
    the headline value (after stage 2 when it ran), ``a_m`` that of stage 1
    (``a_m2`` keeps the stage-2 value)."""
    out = {}
    for config in sorted({r['config'] for r in runs}):
        rs = [r for r in runs if r['config'] == config]
        row = {'seeds': [r['seed'] for r in rs]}
        for key in ('a_t1', 'a_m1', 'a_t2', 'a_m2'):
            if any(r.get(key) is not None for r in rs):
                row[key] = _stats([r.get(key) for r in rs])
        two = staged and 'a_t2' in row
        row['a_t'] = row.get('a_t2' if two else 'a_t1',
                             (float('nan'), float('nan')))
        # a_m of stage 1: its probe trained through all of stage 1, while
        # stage 2 re-initialises it for a few epochs only.
        row['a_m'] = row.get('a_m1', (float('nan'), float('nan')))
        out[config] = row
    return out


def trends(runs: List[Dict], staged: bool, tables: Sequence[str]
           ) -> List[Dict]:
    r"""Paired (same seed) differences for every paper comparison, and
    whether our sign and the paper's agree. A difference counts as
    resolved when its mean exceeds twice its standard error."""
    key = {'a_t': 'a_t2' if staged else 'a_t1', 'a_t1': 'a_t1',
           'a_m': 'a_m1'}
    paper = {}
    for table in TABLES.values():
        for _, config, nums in table:
            paper[config] = nums
    out = []
    for table, metric, good, bad in COMPARISONS:
        if table not in tables or (metric == 'a_t1' and not staged):
            continue  # without stage 2, a_t1 is the a_t row already
        k = key[metric]
        by_seed = {}
        for r in runs:
            if r['config'] in (good, bad) and r.get(k) is not None:
                by_seed.setdefault(r['seed'], {})[r['config']] = r[k]
        diffs = [v[good] - v[bad] for v in by_seed.values()
                 if good in v and bad in v]
        if not diffs:
            continue
        mean, std = _stats(diffs)
        se = std / math.sqrt(len(diffs)) if len(diffs) > 1 else float('inf')
        p_key = {'a_t': 'a_t2', 'a_t1': 'a_t1', 'a_m': 'a_m'}[metric]
        p_diff = paper[good][p_key] - paper[bad][p_key]
        same = (mean > 0) == (p_diff > 0)
        resolved = abs(mean) > 2 * se
        verdict = ('agrees' if same and resolved else
                   'same sign, within noise' if same else
                   'disagrees' if resolved else 'opposite sign, within noise')
        out.append(dict(table=table, metric=metric, better=good, worse=bad,
                        ours_mean=mean, ours_std=std, n=len(diffs),
                        paper=p_diff, verdict=verdict))
    return out


def chance_map(root: str, s: Dict, draws: int = 20) -> Tuple[float, float]:
    r"""Test mAP (percent) of uniformly random scores, mean and std over
    :obj:`draws` draws: the floor that every number is to be read
    against."""
    from pyg_proda.metrics import charades_map
    ds = _datamodule(root, s, 0).split('test')
    y = torch.cat([ds[i].y for i in range(len(ds))])
    gen = torch.Generator().manual_seed(0)
    maps = [100 * float(charades_map(torch.rand(y.shape, generator=gen),
                                     y)[0]) for _ in range(draws)]
    return _stats(maps)


def _fmt(ms: Optional[Tuple[float, float]]) -> str:
    if ms is None or math.isnan(ms[0]):
        return '–'
    return f'{ms[0]:5.2f} ± {ms[1]:4.2f}'


def _p(x: Optional[float]) -> str:
    return '–' if x is None else f'{x:.2f}'


def report(summary: Dict, trend: List[Dict], tables: Sequence[str],
           s: Dict, staged: bool, chance: Tuple[float, float], wall: float,
           n_seeds: int) -> str:
    r"""The markdown report."""
    stage = ('stage 2' if staged else 'stage 1')
    lines = ['# ProDA ablations on SyntheticSSG', '',
             f"{n_seeds} seeds; {s['train']} training / {s['eval']} test "
             f"videos, hidden {s['hidden']}, {s['layers']} VGPNN layer(s), "
             f"dropout {s['dropout']}, "
             f"{s['epochs']} stage-1 epochs"
             + (f", {s['stage2']} stage-2 epochs" if staged else
                ' (stage 2 not run)')
             + f"; mean ± sample std of the test mAP (%). Chance (random "
             f"scores, 20 draws): {_fmt(chance)}. Paper: Charades "
             f"(evaluation.md §7.1). "
             f"Wall time {wall / 60:.1f} min.", '']
    if 'prompt' in tables:
        lines += ['## Prompt module (paper Table 3)', '',
                  f'| prompt | a_t ({stage}) | paper a_t | a_m | paper a_m |',
                  '|---|---|---|---|---|']
        for label, config, p in TABLES['prompt']:
            r = summary.get(config, {})
            lines.append(f"| {label} | {_fmt(r.get('a_t'))} | "
                         f"{_p(p['a_t2'])} | {_fmt(r.get('a_m'))} | "
                         f"{_p(p['a_m'])} |")
        lines.append('')
    for table, head in (('norm', 'Normalisation (paper Table 4)'),
                        ('loss', 'Loss terms (paper Table 5)')):
        if table not in tables:
            continue
        lines += [f'## {head}', '',
                  '| row | a_t stage 2 | paper | a_t stage 1 | paper | '
                  'a_m | paper |', '|---|---|---|---|---|---|---|']
        for label, config, p in TABLES[table]:
            r = summary.get(config, {})
            lines.append(
                f"| {label} | {_fmt(r.get('a_t2'))} | {_p(p['a_t2'])} | "
                f"{_fmt(r.get('a_t1'))} | {_p(p['a_t1'])} | "
                f"{_fmt(r.get('a_m'))} | {_p(p['a_m'])} |")
        lines.append('')
    means = [r[k][0] for r in summary.values() for k in ('a_t', 'a_m')
             if k in r and not math.isnan(r[k][0])]
    if means and max(means) < chance[0] + 2 * chance[1]:
        lines += ['**Every mean is within two standard deviations of chance: '
                  'the models have not learned the task at this size, so no '
                  'trend below is meaningful (the verdicts compare noise). '
                  'Train longer or larger (--epochs, --num-videos, '
                  '--hidden).**', '']
    lines += ['## Trends: ours vs the paper', '',
              f'Paired differences over seeds (a_t: {stage}, a_t1: stage 1; '
              'paper a_t: stage 2); resolved = '
              '|mean| > 2 standard errors.', '',
              '| table | metric | difference | ours | paper | verdict |',
              '|---|---|---|---|---|---|']
    for t in trend:
        lines.append(f"| {t['table']} | {t['metric']} | {t['better']} − "
                     f"{t['worse']} | {t['ours_mean']:+.2f} ± "
                     f"{t['ours_std']:.2f} | {t['paper']:+.2f} | "
                     f"{t['verdict']} |")
    lines.append('')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    tables = [t.strip() for t in args.tables.split(',') if t.strip()]
    for t in tables:
        if t not in TABLES:
            raise SystemExit(f'--tables: unknown table {t!r} (expected '
                             f'{list(TABLES)})')
    s = settings(args)
    staged = s['stage2'] > 0
    _quiet()
    t_start = time.time()
    # Generate the data once; the workers only load it.
    dm = _datamodule(args.data_root, s, 0)
    dm.prepare_data()
    configs = list(dict.fromkeys(c for t in tables for _, c, _ in TABLES[t]))
    jobs = [(c, seed) for seed in range(args.seeds) for c in configs]
    workers = args.workers or min(2, os.cpu_count() or 1)
    print(f'{len(jobs)} runs ({len(configs)} configurations x {args.seeds} '
          f'seeds) on {workers} worker(s); settings {s}', flush=True)

    from tqdm.auto import tqdm
    runs: List[Dict] = []
    bar = tqdm(total=len(jobs), desc='ablation runs',
               disable=args.no_progress)
    if workers > 1:
        ctx = mp.get_context('spawn')
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = [pool.submit(run_one, c, seed, args.data_root, s)
                       for c, seed in jobs]
            for fut in as_completed(futures):
                runs.append(fut.result())
                bar.update(1)
    else:
        for c, seed in jobs:
            runs.append(run_one(c, seed, args.data_root, s))
            bar.update(1)
    bar.close()
    runs.sort(key=lambda r: (configs.index(r['config']), r['seed']))
    wall = time.time() - t_start

    summary = summarize(runs, staged)
    trend = trends(runs, staged, tables)
    chance = chance_map(args.data_root, s)
    md = report(summary, trend, tables, s, staged, chance, wall, args.seeds)
    print('\n' + md, flush=True)
    os.makedirs(args.out, exist_ok=True)
    result = dict(settings=s, seeds=args.seeds, tables=tables,
                  stage=2 if staged else 1, chance_map=list(chance),
                  wall_time_s=round(wall, 1), runs=runs, summary=summary,
                  trends=trend,
                  paper={t: {c: p for _, c, p in TABLES[t]} for t in tables})
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(args.out, 'results.md'), 'w') as f:
        f.write(md)
    print(f'Wrote {args.out}/results.json and results.md', flush=True)
    return result


if __name__ == '__main__':
    main(sys.argv[1:])
