r"""SportsHHI interaction classification with ground-truth boxes given:
ProDA with a candidate-pair head against a non-temporal pair baseline.

    python benchmarks/sportshhi.py                            # embedded SyntheticHHI
    python benchmarks/sportshhi.py --quick                    # < 2 minutes
    python benchmarks/sportshhi.py --root datasets/sportshhi  # real annotations

Every ordered pair of annotated persons of a keyframe is a candidate; each
model scores every candidate over the classes, and SportsHHI's interaction
mAP and Recall@K are computed per keyframe with boxes matched at IoU >= 0.9
(:class:`~pyg_proda.training.pairs.InteractionMeter`). Without ``--root``
it runs on the embedded SportsHHI-shaped
:class:`~pyg_proda.datasets.SyntheticHHI` with the recipe of
``configs/synthetic_hhi.yaml`` (train on ``train``, report on ``test``);
with ``--root`` (``DIR/raw/annotations`` as in ``datasets/README.md``) on
SportsHHI with ``configs/sportshhi.yaml`` (train on ``train`` sub-sampled
to 16 keyframes per video, report on every keyframe of ``val``, the only
other split). Both models train for a fixed number of epochs and the last
epoch is evaluated (the learning rate decays to 0). It prints a table and
writes ``results.json`` (percent) and ``results.md`` to ``--out``.
"""
import argparse
import math
import os
import sys
import time
import warnings
from typing import Any, Dict, List, Optional

import lightning as L
import torch

from pyg_proda.data import SSGLoader
from pyg_proda.datasets import SportsHHI, SyntheticHHI
from pyg_proda.io.atomic import atomic_path, write_json_atomic
from pyg_proda.models import PairBaseline, ProDAPairs
from pyg_proda.training import make_trainer
from pyg_proda.training.pairs import (
    PairBaselineModule,
    PairProDAModule,
    summarize,
)
from pyg_proda.training.recipe import load_recipe

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, '..', 'configs')
#: SportsHHI val, human-human interaction classification (evaluation.md
#: §7.1): real-data numbers of the paper, for reference only.
PAPER = {
    'SportsHHI baseline': {'mAP': 10.69, 'R@50': 68.13, 'R@20': 43.72},
    'SportsHHI baseline + ProDA': {'mAP': 13.55, 'R@50': 72.69,
                                   'R@20': 47.81},
}


def parse_args(argv: Optional[List[str]] = None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default=None,
                   help='SportsHHI root (raw/annotations inside). Default: '
                   'the embedded SyntheticHHI.')
    p.add_argument('--config', default=None,
                   help='recipe (default: configs/synthetic_hhi.yaml, or '
                   'configs/sportshhi.yaml with --root)')
    p.add_argument('--out', default='results/sportshhi')
    p.add_argument('--data-root', default=None,
                   help='Where SyntheticHHI is generated (default: the '
                   "recipe's data.root)")
    p.add_argument('--quick', action='store_true',
                   help='A small run that finishes in under 2 minutes')
    p.add_argument('--epochs', type=int, default=None, help='ProDA epochs')
    p.add_argument('--baseline-epochs', type=int, default=None,
                   help='baseline epochs (default: 20, --quick: 8)')
    p.add_argument('--hidden', type=int, default=None,
                   help='ProDA hidden size')
    p.add_argument('--layers', type=int, default=None, help='VGPNN layers')
    p.add_argument('--lr', type=float, default=None,
                   help='ProDA peak learning rate')
    p.add_argument('--no-baseline', action='store_true',
                   help='train and report ProDA only (for ablations)')
    p.add_argument('--baseline-lr', type=float, default=2e-3)
    p.add_argument('--baseline-hidden', type=int, default=128)
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--video-weight', type=float, default=None,
                   help='weight of the video-level terms a_s, a_t, a_m '
                   '(a_u gets a tenth of it) next to the pair loss')
    p.add_argument('--train-prompt', default=None, choices=['spec', 'random'])
    p.add_argument('--pair-context', action=argparse.BooleanOptionalAction,
                   default=None, help='per-pair mean of the link states in '
                   'the pair head')
    p.add_argument('--input-skip', action=argparse.BooleanOptionalAction,
                   default=None, help="the candidate's own inputs in the "
                   'pair head')
    p.add_argument('--num-videos', type=int, default=None,
                   help='SyntheticHHI training videos')
    p.add_argument('--eval-videos', type=int, default=None,
                   help='SyntheticHHI test videos')
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--accelerator', default='auto')
    p.add_argument('--threads', type=int, default=1,
                   help='CPU threads for PyTorch (default: 1)')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def settings(args) -> Dict[str, Any]:
    r"""The recipe (``configs/*.yaml``) with the command line's
    overrides."""
    path = args.config or os.path.join(
        CONFIGS, 'sportshhi.yaml' if args.root else 'synthetic_hhi.yaml')
    r = load_recipe(path)
    model, module, data = dict(r.model), dict(r.module), dict(r.data)
    s: Dict[str, Any] = dict(
        config=os.path.relpath(path),
        seed=r.seed if args.seed is None else args.seed,
        epochs=r.trainer.get('max_epochs', 12),
        baseline_epochs=20, batch_size=data.get('batch_size', 16),
        train=(data.get('train_kwargs') or {}).get('num_videos'),
        eval=(data.get('dataset_kwargs') or {}).get('num_videos'),
        data_root=data.get('root', 'datasets'),
        train_kwargs=dict(data.get('train_kwargs') or {}))
    if args.quick:
        model.update(hidden_channels=32)
        s.update(epochs=6, baseline_epochs=8, train=240, eval=100)
    for key, value in (('hidden_channels', args.hidden),
                       ('num_layers', args.layers),
                       ('pair_context', args.pair_context),
                       ('input_skip', args.input_skip)):
        if value is not None:
            model[key] = value
    if args.lr is not None:
        module['lr'] = args.lr
    if args.train_prompt is not None:
        module['train_prompt'] = args.train_prompt
    if args.video_weight is not None:
        w = args.video_weight
        module.update(lambda_s=w, lambda_u=0.1 * w, lambda_t=w, lambda_m=w)
    module['seed'] = s['seed']
    for key, value in (('epochs', args.epochs),
                       ('baseline_epochs', args.baseline_epochs),
                       ('batch_size', args.batch_size),
                       ('train', args.num_videos),
                       ('eval', args.eval_videos),
                       ('data_root', args.data_root)):
        if value is not None:
            s[key] = value
    s['model'], s['module'] = model, module
    return s


def load_data(args, s: Dict[str, Any]):
    if args.root is None:
        root = os.path.join(s['data_root'], 'synthetic_hhi')
        kw = dict(seed=s['seed'], log=False)
        train = SyntheticHHI(root, 'train', num_videos=s['train'], **kw)
        test = SyntheticHHI(root, 'test', num_videos=s['eval'], **kw)
        return train, test, 'SyntheticHHI', 'test'
    frames = s['train_kwargs'].get('num_frames')
    train = SportsHHI(args.root, 'train', num_frames=frames, seed=s['seed'],
                      log=False)
    val = SportsHHI(args.root, 'val', log=False)
    return train, val, 'SportsHHI', 'val'


def trainer(args, epochs: int, root: str) -> L.Trainer:
    # The recipe's trainer (gradient clipping at 5), no validation: the
    # last epoch is evaluated.
    return make_trainer(root, epochs, monitor=None,
                        progress=not args.no_progress, logger=False,
                        accelerator=args.accelerator, devices=1,
                        limit_val_batches=0)


def fmt(x: float) -> str:
    return '   nan' if math.isnan(x) else f'{x:6.2f}'


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    start, cpu_start = time.time(), time.process_time()
    if args.root is None:
        print('Dataset: SyntheticHHI (embedded SportsHHI-shaped synthetic '
              'default; pass --root DIR for the SportsHHI annotations)',
              flush=True)
    else:
        print(f'Dataset: SportsHHI from {args.root}', flush=True)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for pattern in ('.*does not have many workers.*', '.*LeafSpec.*',
                    '.*no `val_dataloader`.*'):
        warnings.filterwarnings('ignore', pattern)
    s = settings(args)
    L.seed_everything(s['seed'], verbose=False)

    t0 = time.time()
    train, test, name, eval_split = load_data(args, s)
    C = int(train.num_classes)
    classes = list(train.evaluated_classes)
    max_frames = max(train.max_frames, test.max_frames)
    first = train[0]
    in_channels = int(first['person'].x.size(1))
    edge_dim = int(first['person', 'interaction', 'person'].edge_attr.size(1))
    print(f'Data: {len(train)} train / {len(test)} {eval_split} videos, '
          f'{C} classes ({len(classes)} evaluated), up to {max_frames} '
          f'keyframes ({time.time() - t0:.1f}s); recipe {s["config"]}',
          flush=True)
    loader = SSGLoader(train, batch_size=s['batch_size'], shuffle=True,
                       max_frames=max_frames)
    test_loader = SSGLoader(test, batch_size=2 * s['batch_size'],
                            max_frames=max_frames)
    run_root = os.path.join(args.out, 'runs')
    timings: Dict[str, float] = {}
    metric_kw = dict(evaluated_classes=classes, recall_ks=(20, 50))

    # ProDA with the pair head.
    t0 = time.time()
    model = ProDAPairs(in_channels, C, edge_dim, max_frames=max_frames,
                       **s['model'])
    proda = PairProDAModule(model, **s['module'], **metric_kw)
    trainer(args, s['epochs'], os.path.join(run_root, 'proda')).fit(
        proda, loader)
    timings['proda_train_s'] = time.time() - t0

    # Non-temporal pair baseline.
    base = None
    if not args.no_baseline:
        t0 = time.time()
        base = PairBaselineModule(
            PairBaseline(in_channels, C, edge_dim,
                         hidden_channels=args.baseline_hidden, dropout=0.0),
            lr=args.baseline_lr, seed=s['seed'], **metric_kw)
        trainer(args, s['baseline_epochs'],
                os.path.join(run_root, 'baseline')).fit(base, loader)
        timings['baseline_train_s'] = time.time() - t0

    # Evaluation.
    t0 = time.time()
    res_p = proda.evaluate(test_loader)
    res_b = None if base is None else base.evaluate(test_loader)
    video_map = proda.video_map(test_loader)
    timings['eval_s'] = time.time() - t0
    timings['total_s'] = time.time() - start
    timings['total_cpu_s'] = time.process_time() - cpu_start

    conf = {k: v for k, v in s.items() if k not in ('train_kwargs', )}
    conf.update(baseline_lr=args.baseline_lr,
                baseline_hidden=args.baseline_hidden,
                threads=torch.get_num_threads())
    return report(args, name, eval_split, train, res_p, res_b, video_map,
                  timings, conf)


def report(args, name, eval_split, train, res_p, res_b, video_map, timings,
           conf) -> Dict[str, Any]:
    p = summarize(res_p)
    nan = float('nan')
    b = summarize(res_b) if res_b is not None else {
        'mAP': nan, 'R@50': nan, 'R@20': nan}
    res: Dict[str, Any] = {
        'dataset': name, 'eval_split': eval_split,
        'proda': p, 'baseline': b if res_b is not None else None,
        'proda_minus_baseline_map': p['mAP'] - b['mAP'],
        'proda_video_a_t_map': 100 * video_map,
        'paper_real_sportshhi_val': PAPER,
        'timings_s': {k: round(v, 1) for k, v in timings.items()},
        'settings': conf,
    }
    lines = [f'# SportsHHI interaction classification on {name} '
             f'({eval_split} split, GT boxes given, IoU 0.9)', '',
             '| model | pair mAP (%) | R@50 (%) | R@20 (%) |',
             '|---|---|---|---|',
             f"| ProDA + pair head | {fmt(p['mAP'])} | {fmt(p['R@50'])} | "
             f"{fmt(p['R@20'])} |",
             f"| non-temporal pair baseline | {fmt(b['mAP'])} | "
             f"{fmt(b['R@50'])} | {fmt(b['R@20'])} |"
             + (' (not run)' if res_b is None else ''), '',
             'Paper, real SportsHHI val (reference only, not comparable to '
             'the synthetic run):', '',
             '| method | mAP | R@50 | R@20 |', '|---|---|---|---|']
    for method, v in PAPER.items():
        lines.append(f"| {method} | {v['mAP']} | {v['R@50']} | "
                     f"{v['R@20']} |")
    lines.append('')
    pairs = list(getattr(train, 'order_pairs', []))
    if pairs:
        names = list(train.interaction_names)
        lines += ['## Per-class AP (%) of the classes that differ only in '
                  'temporal order', '',
                  '| interaction | ProDA | baseline |', '|---|---|---|']
        per = {}
        for pair in pairs:
            for c in pair:
                ap_p = 100 * float(res_p['ap'].get(c, nan))
                ap_b = nan if res_b is None else \
                    100 * float(res_b['ap'].get(c, nan))
                per[names[c]] = {'proda': ap_p, 'baseline': ap_b}
                lines.append(f'| {names[c]} | {fmt(ap_p)} | {fmt(ap_b)} |')
        res['order_pairs_ap'] = per
        lines.append('')
    lines.append(f"ProDA video-level a_t mAP (label-free prompts): "
                 f"{fmt(res['proda_video_a_t_map'])}")
    lines.append(f"Timings (s): {res['timings_s']}")
    lines.append(f"Settings: {res['settings']}")
    md = '\n'.join(lines)
    print('\n' + md, flush=True)
    os.makedirs(args.out, exist_ok=True)
    write_json_atomic(res, os.path.join(args.out, 'results.json'))
    with atomic_path(os.path.join(args.out, 'results.md')) as tmp, \
            open(tmp, 'w') as f:
        f.write(md + '\n')
    print(f'\nWrote {args.out}/results.json and results.md', flush=True)
    return res


if __name__ == '__main__':
    main(sys.argv[1:])
