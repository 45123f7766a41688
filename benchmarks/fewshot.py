r"""Few-shot action recognition: CLIP-SPM, its ablations and baselines on
5-way 1-shot and 5-shot episodes.

    python benchmarks/fewshot.py                 # embedded synthetic benchmark
    python benchmarks/fewshot.py --quick         # < 2 minutes
    python benchmarks/fewshot.py --root CACHE    # a real feature cache
    python benchmarks/fewshot.py --ssg           # on SyntheticSSG scene graphs

Every model is trained once through Lightning on episodes alternating
1-shot and 5-shot (4 queries per class), the checkpoint with the best mean
episode accuracy on the *validation* classes is kept, and it is tested on
fixed, seeded 5-way episodes of the test classes (1 query per class,
10,000 by default): mean accuracy ± 1.96·std/√E. On the synthetic
benchmark (and on any cache folder with an ``order_pairs.json``) it also
reports the order-only pairs: queries whose class's time-reversed partner
is one of the episode's ways (``order`` = 5-way accuracy on them, ``pair``
= true class scored above the partner; chance 50 %). It prints a table and
writes ``results.json`` and ``results.md`` to ``--out``.
"""
import argparse
import json
import logging
import os
import os.path as osp
import sys
import time
import warnings
from typing import Dict, List, Optional

import lightning as L
import torch

from pyg_proda.fewshot.evaluate import evaluate_episodes, temporal_contrast
from pyg_proda.fewshot.nn import class_means, otam_distance
from pyg_proda.fewshot.synthetic import SyntheticFewShot
from pyg_proda.fewshot.training import FewShotDataModule, FewShotModule
from pyg_proda.io import atomic_path, write_json_atomic

#: CLIP-SPM's reported 5-way accuracy (ViT-B/16, fine-tuned backbone).
PAPER = {'HMDB51': (78.2, 88.6), 'UCF101': (96.2, 98.7),
         'Kinetics-100': (92.8, 94.3), 'SSv2-Full': (66.7, 77.3),
         'SSv2-Small': (57.8, 66.2)}

#: Rows of ``--ssg``: the heads on frame features of the SSG encoder.
SSG_RUNS = [
    ('ProtoNet (mean-pooled)', 'protonet', {}, {}),
    ('OTAM', 'otam', {}, {}),
    ('CLIP-SPM', 'clip_spm', {}, {}),
]

#: (row name, head, model options, data options)
RUNS = [
    ('ProtoNet (mean-pooled)', 'protonet', {}, {}),
    ('TRX-style', 'trx', {}, {}),
    ('OTAM', 'otam', {}, {}),
    ('CLIP-SPM', 'clip_spm', {}, {}),
    ('  - HSMR', 'clip_spm', {'use_hsmr': False}, {}),
    ('  - SPM', 'clip_spm', {'use_spm': False}, {}),
    ('  shuffled text', 'clip_spm', {}, {'shuffle_text': True}),
    ('  - PADM', 'clip_spm', {'use_padm': False}, {}),
    ('  transductive PADM', 'clip_spm', {'transductive': True}, {}),
    ('  - anchor term', 'clip_spm', {'anchor_term': False}, {}),
    ('  + frame adapter', 'clip_spm', {'adapter': True}, {}),
]


def parse_args(argv: Optional[List[str]] = None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default=None,
                   help='folder with train/val/test feature caches (see '
                   'python -m pyg_proda.fewshot.cache); default: the embedded '
                   'synthetic benchmark')
    p.add_argument('--ssg', action='store_true',
                   help='run on scene graphs: SyntheticSSG single-action '
                   'videos, a few-shot split of its actions, frame features '
                   'from the SSG encoder trained with each head')
    p.add_argument('--data-root', default='datasets',
                   help='where --ssg generates SyntheticSSG')
    p.add_argument('--out', default=None,
                   help='default: results/fewshot (results/fewshot_ssg with '
                   '--ssg)')
    p.add_argument('--quick', action='store_true',
                   help='a smoke run in under 2 minutes')
    p.add_argument('--runs', nargs='*', default=None,
                   help='row names (or prefixes) to run; default: all')
    p.add_argument('--steps', type=int, default=None,
                   help='training batches per model (default: 300, quick 40)')
    p.add_argument('--episodes-per-batch', type=int, default=None,
                   help='episodes stacked per training batch (default: 8, '
                   '4 with --ssg)')
    p.add_argument('--accumulate', type=int, default=1,
                   help='batches accumulated per optimizer step')
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--test-episodes', type=int, default=None,
                   help='test episodes per shot (default: 10000, quick 500)')
    p.add_argument('--val-episodes', type=int, default=None,
                   help='validation episodes per shot (default: 300)')
    p.add_argument('--stage-episodes', type=int, default=None,
                   help='1-shot test episodes of the CLIP-SPM stage analysis '
                   '(default: 2000, quick 500)')
    p.add_argument('--val-every', type=int, default=None,
                   help='validate every N batches (default: 100)')
    p.add_argument('--trx-cardinalities', type=int, nargs='+', default=[2],
                   help='TRX tuple sizes (default: 2; TRX\'s own best, '
                   '2 3, costs about 5x more on CPU)')
    p.add_argument('--motion-scale', type=float, default=None,
                   help='synthetic benchmark: scale of the motion pattern '
                   '(default: 1.0)')
    p.add_argument('--seed', type=int, default=6,
                   help='training seed (the authors use 6)')
    p.add_argument('--eval-seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--accelerator', default='cpu')
    p.add_argument('--progress', action='store_true',
                   help='show progress bars')
    return p.parse_args(argv)


def head_options(channels: int, real: bool) -> Dict:
    r"""Head sizes: the paper's on a real cache, a CPU-sized version
    (same structure) on the synthetic one. Dropout is off on CPU, where
    the masks cost a large share of a step on features this small."""
    if real:
        return dict(heads=8, head_channels=256, ff_channels=2048,
                    trx_channels=1152, attn_dropout=0.2, ff_dropout=0.05)
    return dict(heads=4, head_channels=max(1, channels // 4),
                ff_channels=2 * channels, trx_channels=channels,
                attn_dropout=0.0, ff_dropout=0.0)


def load_order_pairs(root: str, dm: FewShotDataModule) -> Optional[list]:
    path = osp.join(root, 'order_pairs.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        names = json.load(f).get('test', [])
    index = {c: i for i, c in enumerate(dm.splits['test'].class_names)}
    pairs = []
    for a, b in names:
        if a not in index or b not in index:
            raise ValueError(f"{path}: order pair ({a!r}, {b!r}) names a "
                             f"class that is not in the test cache")
        pairs.append((index[a], index[b]))
    return pairs


def make_data(args, settings: Dict, data_opts: Dict) -> FewShotDataModule:
    common = dict(way=5, shot=1, train_shots=[1, 5],
                  train_episodes=settings['steps'] * args.episodes_per_batch,
                  val_episodes=settings['val_episodes'], test_episodes=0,
                  episodes_per_batch=args.episodes_per_batch,
                  eval_episodes_per_batch=settings['eval_batch'],
                  seed=args.seed, eval_seed=args.eval_seed, **data_opts)
    if args.ssg:
        from pyg_proda.fewshot.ssg import SSGFewShotDataModule
        return SSGFewShotDataModule(root=args.data_root, text_dim=32,
                                    **common)
    return FewShotDataModule(root=args.root,
                             synthetic=settings['synthetic'], **common)


def train_one(args, name: str, head: str, model_opts: Dict, data_opts: Dict,
              settings: Dict, out: str) -> Dict:
    torch.manual_seed(args.seed)
    dm = make_data(args, settings, data_opts)
    opts = dict(head_options(dm.channels, args.root is not None))
    opts.update(model_opts)
    if args.ssg:
        opts['encoder'] = {'in_channels': dm.in_channels,
                           'edge_dim': dm.edge_dim, 'heads': 4}
    model = FewShotModule(head=head, channels=dm.channels,
                          num_frames=dm.num_frames, lr=args.lr,
                          trx_cardinalities=args.trx_cardinalities, **opts)
    slug = ''.join(c if c.isalnum() else '_' for c in name.strip()).strip('_')
    ckpt_dir = osp.join(out, 'checkpoints', slug)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=ckpt_dir, filename='best', monitor='val/acc', mode='max',
        save_top_k=1, enable_version_counter=False)
    trainer = L.Trainer(
        max_epochs=1, accelerator=args.accelerator, devices=1,
        val_check_interval=settings['val_every'],
        accumulate_grad_batches=args.accumulate,
        logger=L.pytorch.loggers.CSVLogger(osp.join(out, 'logs'), name=slug),
        callbacks=[checkpoint], enable_progress_bar=args.progress,
        enable_model_summary=False, num_sanity_val_steps=0,
        log_every_n_steps=20)
    t0 = time.time()
    trainer.fit(model, dm)
    train_s = time.time() - t0
    state = torch.load(checkpoint.best_model_path, map_location='cpu',
                       weights_only=True)['state_dict']
    model.load_state_dict(state)
    pairs = (dm.order_pairs.get('test') if args.root is None else
             load_order_pairs(args.root, dm))
    row = {'name': name.strip(), 'head': head, 'options': model_opts,
           'test_classes': len(dm.splits['test'].class_names),
           'data_options': data_opts,
           'params': sum(p.numel() for p in model.parameters()
                         if p.requires_grad),
           'best_val_acc': float(checkpoint.best_model_score),
           'best_step': int(torch.load(checkpoint.best_model_path,
                                       map_location='cpu',
                                       weights_only=True)['global_step']),
           'train_s': train_s}
    t0 = time.time()
    for shot in (1, 5):
        row[f'{shot}shot'] = evaluate_episodes(
            model.predict_logits, dm.splits['test'], way=5, shot=shot,
            query=1, num_episodes=settings['test_episodes'],
            seed=args.eval_seed, episodes_per_batch=settings['eval_batch'],
            order_pairs=pairs, text_features=dm.text_features('test'),
            collate=getattr(dm.splits['test'], 'collate', None),
            progress=args.progress, desc=f'{name.strip()} {shot}-shot')
    row['eval_s'] = time.time() - t0
    if head == 'clip_spm' and name.strip() in settings['analyse']:
        row['stages'] = stage_analysis(model, dm, pairs,
                                       settings['stage_episodes'])
    return row


@torch.no_grad()
def stage_analysis(model: FewShotModule, dm: FewShotDataModule,
                   pairs: Optional[list], episodes: int) -> Dict:
    r"""Where CLIP-SPM keeps or loses temporal order: a plain OTAM
    classifier (per-frame class means, :func:`otam_distance`) on the frame
    features *entering* the head, *leaving* SPM and *leaving* PADM, beside
    the full logits, on 1-shot test episodes; with the temporal contrast
    (:func:`temporal_contrast`) of each stage's queries."""
    head = model.head.eval()
    out: Dict[str, Dict] = {}

    def stages(b):
        s, q, y, t = b.support, b.query, b.support_labels, b.class_text
        if head.adapter is not None:
            s, q = head.adapter(s), head.adapter(q)
        res = {'input': (s, q)}
        if head.spm is not None:
            o = head.spm(s, y, q, t)
            res['spm'] = (o.support, o.query)
            s, q = o.support, o.query
        if head.padm is not None:
            p = head.padm(s, y, q, 5)
            res['padm'] = (p.support, p.query)
        return res

    def no_anchor(b):
        s, q, y, t = b.support, b.query, b.support_labels, b.class_text
        if head.adapter is not None:
            s, q = head.adapter(s), head.adapter(q)
        o = head.spm(s, y, q, t)
        p = head.padm(o.support, y, o.query, 5)
        return -(0.5 * otam_distance(o.query, o.prototypes) +
                 otam_distance(p.query, class_means(p.support, y, 5)))

    for stage in ('input', 'spm', 'padm', 'no_anchor', 'logits'):
        if stage == 'spm' and head.spm is None or \
                stage == 'padm' and head.padm is None or \
                stage == 'no_anchor' and (head.spm is None or
                                          head.padm is None or
                                          not head.anchor_term):
            continue
        seen: List[float] = []

        def predict(b, stage=stage, seen=seen):
            if stage == 'logits':
                return model(b)[0]
            if stage == 'no_anchor':
                return no_anchor(b)
            s, q = stages(b)[stage]
            seen.append(temporal_contrast(q))
            return -otam_distance(q, class_means(s, b.support_labels, 5))

        r = evaluate_episodes(predict, dm.splits['test'], shot=1,
                              num_episodes=episodes, seed=dm.eval_seed,
                              episodes_per_batch=50, order_pairs=pairs,
                              text_features=dm.text_features('test'),
                              progress=False)
        r['contrast'] = sum(seen) / len(seen) if seen else None
        out[stage] = r
    return out


def fmt(r: Dict, key: str = 'acc', ci: str = 'ci') -> str:
    if key not in r:
        return '—'
    return f"{r[key]:5.1f} ± {r[ci]:.1f}"


def table(rows: List[Dict], with_order: bool) -> str:
    head = ['model', '1-shot', '5-shot']
    if with_order:
        head += ['order 1-shot', 'order 5-shot', 'pair 1-shot',
                 'pair 5-shot']
    head += ['val', 'train s', 'test s']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '|'.join(['---'] * len(head)) + '|']
    for r in rows:
        cells = [r['name'], fmt(r['1shot']), fmt(r['5shot'])]
        if with_order:
            cells += [fmt(r['1shot'], 'order_acc', 'order_ci'),
                      fmt(r['5shot'], 'order_acc', 'order_ci'),
                      fmt(r['1shot'], 'order_pair_acc', 'order_pair_ci'),
                      fmt(r['5shot'], 'order_pair_acc', 'order_pair_ci')]
        cells += [f"{r['best_val_acc']:.1f}", f"{r['train_s']:.0f}",
                  f"{r['eval_s']:.0f}"]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def stage_table(rows: List[Dict]) -> str:
    lines = ['| model | stage | 1-shot | pair 1-shot | contrast |',
             '|---|---|---|---|---|']
    names = {'input': 'OTAM on the head\'s input',
             'spm': 'OTAM after SPM', 'padm': 'OTAM after PADM',
             'no_anchor': 'logits without the anchor term',
             'logits': 'full logits'}
    for r in rows:
        for stage, res in r.get('stages', {}).items():
            c = res['contrast']
            lines.append(
                f"| {r['name']} | {names[stage]} | {fmt(res)} | "
                f"{fmt(res, 'order_pair_acc', 'order_pair_ci')} | "
                f"{'' if c is None else f'{c:.2f}'} |")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    start, cpu_start = time.time(), time.process_time()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore', '.*does not have many workers.*')
    warnings.filterwarnings('ignore', '.*val_check_interval.*')
    for log in ('lightning', 'lightning.pytorch', 'lightning.fabric'):
        logging.getLogger(log).setLevel(logging.ERROR)
    if args.ssg and args.root is not None:
        raise ValueError("--ssg and --root exclude each other")
    out = args.out or ('results/fewshot_ssg' if args.ssg else
                       'results/fewshot')
    synthetic = {}
    if args.ssg:
        print("Embedded SyntheticSSG few-shot benchmark (scene graphs, no "
              "download): single-action videos, 8 frames, a 20/6/12 "
              "train/val/test split of the 38 actions with the order-only "
              "pairs kept together; frame features from the SSG encoder "
              "trained with each head.", flush=True)
    elif args.root is None:
        if args.motion_scale is not None:
            synthetic['motion_scale'] = args.motion_scale
        bench = SyntheticFewShot(**synthetic)
        n = bench.options['num_classes']
        print(f"Embedded synthetic few-shot benchmark (SyntheticFewShot, "
              f"no download): {n[0]}/{n[1]}/{n[2]} train/val/test classes, "
              f"{bench.options['videos_per_class']} videos each, "
              f"T={bench.options['num_frames']}, D={bench.options['dim']}, "
              f"{len(bench.order_pairs['test'])} order-only pairs among the "
              f"test classes. Pass --root DIR for a feature cache.",
              flush=True)
    else:
        print(f"Feature cache {args.root}", flush=True)
    if args.ssg:
        settings = dict(
            steps=args.steps or (10 if args.quick else 200),
            val_episodes=args.val_episodes or (20 if args.quick else 100),
            val_every=args.val_every or (5 if args.quick else 50),
            test_episodes=args.test_episodes or (50 if args.quick else 1000),
            eval_batch=20, stage_episodes=0, analyse=(), synthetic={})
    else:
        settings = dict(
            steps=args.steps or (40 if args.quick else 300),
            val_episodes=args.val_episodes or (100 if args.quick else 300),
            val_every=args.val_every or (20 if args.quick else 100),
            test_episodes=args.test_episodes or (500 if args.quick
                                                 else 10000),
            eval_batch=50,
            stage_episodes=args.stage_episodes or (500 if args.quick
                                                   else 2000),
            analyse=('CLIP-SPM', ), synthetic=synthetic)
    if args.episodes_per_batch is None:
        args.episodes_per_batch = 4 if args.ssg else 8
    runs = SSG_RUNS if args.ssg else RUNS
    if args.runs:
        runs = [r for r in runs
                if any(r[0].strip().startswith(p) for p in args.runs)]
    print(f"{len(runs)} models, {settings['steps']} batches of "
          f"{args.episodes_per_batch} episodes each (1-/5-shot alternating), "
          f"test: {settings['test_episodes']} episodes per shot", flush=True)
    rows = []
    for name, head, model_opts, data_opts in runs:
        row = train_one(args, name, head, model_opts, data_opts, settings,
                        out)
        rows.append(row)
        msg = (f"{name.strip():24s} 1-shot {fmt(row['1shot'])}  5-shot "
               f"{fmt(row['5shot'])}")
        if 'order_acc' in row['1shot']:
            msg += (f"  pair {fmt(row['1shot'], 'order_pair_acc', 'order_pair_ci')}"
                    f" / {fmt(row['5shot'], 'order_pair_acc', 'order_pair_ci')}")
        print(msg + f"  ({row['train_s']:.0f} s train, {row['eval_s']:.0f} s "
              f"test)", flush=True)
    wall = time.time() - start
    cpu = time.process_time() - cpu_start
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    with_order = all('order_acc' in r['1shot'] for r in rows)
    md = table(rows, with_order)
    command = 'python benchmarks/fewshot.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    ct = stage_table(rows)
    print()
    print(md)
    if ct.count('\n') > 1:
        print(f"\nStages of CLIP-SPM ({settings['stage_episodes']} 1-shot "
              f"test episodes; contrast = share of the query frame features "
              f"that varies over time):\n")
        print(ct)
    print(f"\nwall time {wall / 60:.1f} min, CPU time {cpu / 60:.1f} min "
          f"({torch.get_num_threads()} torch thread(s), load average "
          f"{load:.1f} at the end)")
    result = {'command': command.strip(), 'wall_s': wall, 'cpu_s': cpu,
              'load_average': load,
              'threads': torch.get_num_threads(), 'settings': settings,
              'args': vars(args), 'rows': rows,
              'paper_clip_spm_vitb16': PAPER}
    os.makedirs(out, exist_ok=True)
    write_json_atomic(result, osp.join(out, 'results.json'))
    with atomic_path(osp.join(out, 'results.md')) as tmp, \
            open(tmp, 'w') as f:
        f.write(f"`{command.strip()}` ({wall / 60:.1f} min wall, "
                f"{cpu / 60:.1f} min CPU, {torch.get_num_threads()} "
                f"thread)\n\n{md}\n\n"
                f"Stages of CLIP-SPM ({settings['stage_episodes']} 1-shot "
                f"test episodes):\n\n{ct}\n")
    return result


if __name__ == '__main__':
    main()
