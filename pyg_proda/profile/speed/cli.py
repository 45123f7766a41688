r"""The command line of the speed benchmark (``benchmarks/speed.py``):
its flags, the run of the chosen workloads, the JSON and the report."""
import argparse
import json
import os
import os.path as osp
import tempfile
from typing import Dict, List, Optional

import torch

from pyg_proda.profile import keep_freed_memory
from pyg_proda.profile.speed.plot import plot_sweep
from pyg_proda.profile.speed.report import print_table
from pyg_proda.profile.speed.steps import compare, default_heads, sweep_heads
from pyg_proda.profile.speed.sweeps import compiled_sweep, sweep
from pyg_proda.profile.speed.train import train_throughput
from pyg_proda.testing import ag_graph, sportshhi_graph

#: The workloads of a run, in the order they run (``--workloads``).
WORKLOADS = ('ag', 'sportshhi', 'sweep', 'train')

#: The sweep's sizes in edges, up to ``--sweep-max``.
SWEEP_TARGETS = (1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    r"""The flags of ``benchmarks/speed.py`` (:obj:`argv`, default: the
    command line)."""
    p = argparse.ArgumentParser(
        description='Speed and memory of the sparse VGPNNConv against the '
        'dense padded layout of the authors (see docs/speed.md)')
    p.add_argument('--quick', action='store_true',
                   help='Small sizes; finishes in under a minute')
    p.add_argument('--workloads', nargs='+', choices=WORKLOADS,
                   default=list(WORKLOADS), metavar='NAME',
                   help='Run only these of ' + ', '.join(WORKLOADS) +
                   ' (default: all), e.g. "--workloads sweep" for the '
                   'sweep alone')
    p.add_argument('--json', default=None, help='Write the figures here')
    p.add_argument('--plot', default=None,
                   help='Draw the sweeps into this PNG (plot_sweep)')
    p.add_argument('--from-json', default=None, metavar='PATH',
                   help='Measure nothing: print the table of a saved run '
                   '(and draw it with --plot)')
    p.add_argument('--device', default=None,
                   help='cpu or cuda (default: cuda if available)')
    p.add_argument('--hidden', type=int, nargs='+', default=None,
                   help='Hidden sizes of ag/sportshhi (default: 256 768)')
    p.add_argument('--videos', type=int, default=None,
                   help='Videos per ag batch; sportshhi uses half '
                   '(default: 8)')
    p.add_argument('--repeats', type=int, default=None)
    p.add_argument('--sweep-hidden', type=int, default=None)
    p.add_argument('--sweep-max', type=float, default=None,
                   help='Largest sweep point in edges (default: 1e6)')
    p.add_argument('--min-block', type=float, default=None,
                   help='Seconds of consecutive runs per timed sample of a '
                   'sweep point (default: 0.2, 0.05 with --quick)')
    p.add_argument('--compile', action=argparse.BooleanOptionalAction,
                   default=None,
                   help='Also run the sweep with both layers under '
                   'torch.compile (default: on, off with --quick)')
    p.add_argument('--compile-backend', default='inductor',
                   help='torch.compile backend of the compiled sweep')
    p.add_argument('--max-dense-gb', type=float, default=6.0,
                   help='Skip dense runs (sweep points, --all-pairs) whose '
                   'peak would exceed this')
    p.add_argument('--all-pairs', action='store_true',
                   help='Also run the all-pairs dense layout on ag')
    p.add_argument('--scatter', action='store_true',
                   help="Also time attention_impl='scatter'")
    p.add_argument('--train-hidden', type=int, nargs='*', default=None,
                   help='Hidden sizes of the training throughput run '
                   '(none: skip)')
    p.add_argument('--no-heap-cache', action='store_true',
                   help='Leave glibc malloc as it is (see keep_freed_memory)')
    p.add_argument('--data-root', default=None,
                   help='Where SyntheticSSG is generated (default: temp)')
    p.add_argument('--threads', type=int, default=None,
                   help='CPU threads (default: 1, for stable figures on a '
                   'shared machine)')
    args = p.parse_args(argv)
    if args.plot and not args.from_json and 'sweep' not in args.workloads:
        p.error('--plot draws the sweep: add sweep to --workloads')
    return args


def _report(results: Dict, plot: Optional[str]) -> None:
    print_table(results)
    if plot:
        plot_sweep(results, plot)
        print(f'\nwrote {plot}')


def _run_sweeps(args: argparse.Namespace, results: Dict,
                device: torch.device, repeats: int, budget: float) -> None:
    # The sweep, eager and (unless --quick or --no-compile) compiled.
    q = args.quick
    sweep_hidden = args.sweep_hidden or 8
    sweep_max = args.sweep_max or (1e4 if q else 1e6)
    min_block = (args.min_block if args.min_block is not None else
                 0.05 if q else 0.2)
    targets = [t for t in SWEEP_TARGETS if t <= sweep_max]
    heads = sweep_heads(sweep_hidden)
    print(f'sweep, hidden {sweep_hidden}, {heads} head(s) ...', flush=True)
    results['sweep'] = sweep(targets, sweep_hidden, heads, device, repeats,
                             args.max_dense_gb * 2**30, budget,
                             min_block_s=min_block)
    if args.compile if args.compile is not None else not q:
        print(f'sweep, hidden {sweep_hidden}, torch.compile ...', flush=True)
        results['sweep_compiled'] = compiled_sweep(
            targets, sweep_hidden, heads, device, repeats,
            args.max_dense_gb * 2**30, budget, args.compile_backend,
            min_block_s=min_block)


def main(argv: Optional[List[str]] = None) -> Dict:
    r"""Runs ``benchmarks/speed.py`` with the flags :obj:`argv` (default:
    the command line): measures the chosen workloads, writes the JSON,
    prints the report and draws the figure; returns the results (with
    ``--from-json``, those of the saved run)."""
    args = parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        _report(results, args.plot)
        return results
    device = torch.device(args.device or
                          ('cuda' if torch.cuda.is_available() else 'cpu'))
    if args.threads or device.type == 'cpu':
        torch.set_num_threads(args.threads or 1)
    heap = (device.type == 'cpu' and not args.no_heap_cache and
            keep_freed_memory())
    q = args.quick
    hiddens = args.hidden or ([32] if q else [256, 768])
    videos = args.videos or (4 if q else 8)
    shhi_videos = max(1, videos // 2)  # ~3x the dense rows of `ag`
    repeats = args.repeats or (2 if q else 5)
    budget = 5.0 if q else 60.0
    train_hidden = (args.train_hidden if args.train_hidden is not None else
                    ([32] if q else [256]))

    results: Dict = {'device': str(device), 'threads':
                     torch.get_num_threads(), 'quick': q,
                     'torch': torch.__version__, 'heap_cache': heap,
                     'workloads': list(args.workloads),
                     'layouts': {'ag': 'star', 'sportshhi': 'all'},
                     'ag': [], 'sportshhi': []}
    run = set(args.workloads)
    for hidden in hiddens:
        heads = default_heads(hidden)
        impls = ('sdpa', 'scatter') if args.scatter else ('sdpa', )
        if 'ag' in run:
            print(f'ag, hidden {hidden} ...', flush=True)
            results['ag'].append(compare(
                ag_graph(videos, hidden), hidden, heads, device, repeats,
                impls, layouts=('all', ) if args.all_pairs else (),
                budget_s=budget, max_dense_bytes=args.max_dense_gb * 2**30))
        if 'sportshhi' in run:
            print(f'sportshhi, hidden {hidden} ...', flush=True)
            results['sportshhi'].append(compare(
                sportshhi_graph(shhi_videos, hidden), hidden, heads, device,
                repeats, impls, budget_s=budget))
    if 'sweep' in run:
        _run_sweeps(args, results, device, repeats, budget)
    if train_hidden and 'train' in run:
        root = args.data_root or tempfile.mkdtemp(prefix='pyg_proda_speed_')
        results['train'] = []
        for hidden in train_hidden:
            heads = default_heads(hidden)
            print(f'training throughput, hidden {hidden} ...', flush=True)
            results['train'].append(train_throughput(
                hidden, heads, batch_size=8 if q else 32,
                steps=3 if q else 6, warmup=1,
                num_videos=32 if q else 384, device=device,
                root=root))
    if args.json:  # before the report, so that a failing plot loses nothing
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    _report(results, args.plot)
    if args.json:
        print(f'\nwrote {args.json}')
    return results
