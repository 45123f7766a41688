r"""The printed report of a speed run: the table of the workloads, the
sweeps (:func:`print_sweep`) and the training throughput."""
from typing import Dict, Optional

from pyg_proda.profile.speed.steps import PHASES
from pyg_proda.profile.speed.sweeps import has_phases


def _mb(b: Optional[float]) -> str:
    return '-' if b is None else f'{b / 2**20:,.1f}'


def _x(v: Optional[float]) -> str:
    return '-' if v is None else f'{v:.2f}x'


def _us(v: float) -> str:
    # A per-edge phase cost in its column: one decimal from 100 us on, so
    # that wide layers (ms per edge) keep a space between the columns.
    return f"{v:>8.{3 if abs(v) < 100 else 1}f}"


def _print_floor(sw: Dict, floor: Dict) -> None:
    # The floor of a sweep and what it costs the smallest point.
    first = sw['points'][0]
    ops = dense = ''
    if floor.get('ops') is not None:
        ops = f"; {floor['ops']} ATen ops"
    if floor.get('dense_s') is not None:  # older JSONs lack it
        dense_ops = floor.get('dense_ops')
        dense = (f"; the dense layer's on the same batch "
                 f"{floor['dense_s'] * 1e3:.2f} ms" +
                 ('' if dense_ops is None else f' ({dense_ops} ops)'))
    # What a call may cost whatever its size for the smallest point to
    # stay in the band, if its per-edge work were the median's.
    room = 0.2 * sw['us_per_edge_median'] * first['edges'] / 1e3
    print(f"floor: a step on 1 video of {floor['frames']} frames "
          f"({floor['edges']} edges) takes "
          f"{floor['sparse_s'] * 1e3:.2f} ms (index "
          f"{floor['index_s'] * 1e3:.2f}, fwd "
          f"{floor['forward_s'] * 1e3:.2f}, bwd "
          f"{floor['backward_s'] * 1e3:.2f}; spread "
          f"{100 * floor['spread']:.0f} %{ops}){dense}")
    print(f"  over the {first['edges']:,d}-edge point: "
          f"{floor['sparse_s'] / first['edges'] * 1e6:.3f} us per edge, "
          f"whose cost is "
          f"{first['us_per_edge'] - sw['us_per_edge_median']:+.3f} "
          f"us/edge from the median; the +-20 % band leaves "
          f"{room:.2f} ms there for what every call costs (0.2 x "
          f"median x edges)")


def print_sweep(sw: Dict) -> None:
    r"""Prints the sweep :obj:`sw` (as :func:`~pyg_proda.profile.speed.sweep`
    returns it, or as saved in the JSON of an older run): its points, their
    spread and phases, the fit, the floor and the operators of a step."""
    mode = 'eager'
    if sw['compiled']:
        mode = ', '.join(['torch.compile', sw['backend'],
                          *(sw['compile_options'] or ())])
    heads = sw.get('heads', 1)  # sweeps saved before it was kept had 1
    layer = f"H={sw['hidden']}" + (f', {heads} heads' if heads > 1 else '')
    print(f"\nsweep ({layer}, {mode}): sparse cost per edge")
    split = has_phases(sw)
    print(f"{'edges':>10}{'sparse ms':>11}{'spread':>8}{'us/edge':>9}"
          f"{'added':>9}"
          + (f"{'index':>8}{'fwd':>8}{'bwd':>8}" if split else '') +
          f"{'sparse MB':>11}{'speedup':>9}{'mem ratio':>10}")
    for p in sw['points']:
        mr = p['memory_ratio']
        added = p.get('marginal_us_per_edge')
        parts = ''.join(_us(p[f'{name}_s'] / p['edges'] * 1e6)
                        for name in PHASES) if split else ''
        print(f"{p['edges']:>10,d}{p['sparse_s'] * 1e3:>11.1f}"
              f"{100 * p['spread']:>7.1f}%{p['us_per_edge']:>9.3f}"
              f"{'-' if added is None else f'{added:.3f}':>9}{parts}"
              f"{_mb(p['sparse_bytes']):>11}"
              f"{_x(p['speedup']):>9}"
              f"{'-' if mr is None else f'{mr:.3f}':>10}")
    print(f"median {sw['us_per_edge_median']:.3f} us/edge, largest "
          f"deviation {100 * sw['per_edge_max_deviation']:.1f} %; fit: "
          f"{sw['fixed_ms']:.2f} ms per call + "
          f"{sw['marginal_us_per_edge']:.3f} us per edge; 'added': cost "
          f"per edge of the edges added since the previous point; "
          f"'spread': (slowest - fastest round) / median, rounds of "
          f">= {sw['min_block_s']:g} s of consecutive runs")
    floor = sw.get('floor')  # sweeps saved before it was timed lack it
    if floor:
        _print_floor(sw, floor)
    if split:
        ph = sw['phases']
        print("phases (us/edge columns 'index', 'fwd', 'bwd'): index "
              "building; forward pass and loss on built groups; the rest "
              "of the step (backward, zero_grad). Fits: " + '; '.join(
                  f"{name} {ph[name]['fixed_ms']:.2f} ms + "
                  f"{ph[name]['marginal_us_per_edge']:.3f} us/edge"
                  for name in PHASES))
    if sw['ops_per_step'] is not None:
        ops = ''
        if split:
            ops = ' (' + ', '.join(f"{sw['phases'][name]['ops']} {name}"
                                   for name in PHASES) + ')'
        # At wide layers the fixed cost is lost in the points' noise, and
        # the fit's intercept can come out negative: no cost per op then.
        per_op = (f"the fitted fixed cost is "
                  f"{1e3 * sw['fixed_ms'] / sw['ops_per_step']:.1f} us per op"
                  if sw['fixed_ms'] > 0 else
                  "the fit finds no fixed cost above the points' noise")
        print(f"one sparse step dispatches {sw['ops_per_step']} ATen ops"
              f"{ops} whatever its size; {per_op}")


def _print_workloads(results: Dict) -> None:
    # The table of the ag and sportshhi workloads.
    head = (f"{'workload':<22}{'edges':>8}{'rows s/d':>14}{'sparse ms':>11}"
            f"{'dense ms':>11}{'speedup':>9}{'sparse MB':>11}{'dense MB':>11}"
            f"{'mem ratio':>10}")
    if results.get('ag') or results.get('sportshhi'):  # not --workloads sweep
        print(head)
        print('-' * len(head))
    for name in ('ag', 'sportshhi'):
        for r in results.get(name, []):
            label = f"{name} H={r['hidden']} B={r['videos']}"
            layouts = [('', results['layouts'][name])]
            layouts += [(f'_{lay}', lay) for lay in ('all', )
                        if f'speedup_{lay}' in r]
            for suffix, lay in layouts:
                print(f"{label + ' ' + lay:<22}{r['edges']:>8}"
                      f"{r['sparse_rows']:>6}/{r['dense_rows' + suffix]:<7}"
                      f"{r['sparse_sdpa_s'] * 1e3:>11.1f}"
                      f"{r['dense_s' + suffix] * 1e3:>11.1f}"
                      f"{_x(r['speedup' + suffix]):>9}"
                      f"{_mb(r['sparse_sdpa_bytes']):>11}"
                      f"{_mb(r['dense_bytes' + suffix]):>11}"
                      f"{r['memory_ratio' + suffix]:>10.3f}")
            if 'sparse_scatter_s' in r:
                print(f"{'  (scatter attention)':<22}{'':>22}"
                      f"{r['sparse_scatter_s'] * 1e3:>11.1f}{'':>20}"
                      f"{_mb(r['sparse_scatter_bytes']):>11}")


def print_table(results: Dict) -> None:
    r"""Prints the report of a run (as :func:`~pyg_proda.profile.speed.main`
    returns it, or as saved in its JSON)."""
    print(f"\ndevice: {results['device']}, threads: {results['threads']}, "
          f"heap cache: {results['heap_cache']}")
    _print_workloads(results)
    for key in ('sweep', 'sweep_compiled'):
        sw = results.get(key)
        if sw and 'skipped' in sw:
            print(f"\n{key}: skipped ({sw['skipped']})")
        elif sw:
            print_sweep(sw)
    tr = results.get('train')
    if tr:
        for t in tr:
            print(f"\nProDA training on SyntheticSSG (H={t['hidden']}, batch "
                  f"{t['batch_size']}): {t['videos_per_s']:.1f} videos/s "
                  f"({1e3 * t['s_per_step']:.0f} ms/step)")
