r"""The figure of a speed run's sweeps."""
from typing import Dict, Optional

from pyg_proda.profile.speed.steps import PHASES
from pyg_proda.profile.speed.sweeps import has_phases


def plot_sweep(results: Dict, path: Optional[str] = None):
    r"""Figure of the sweeps of :obj:`results` (eager and, if run,
    compiled): left the cost per edge of a whole step (bars: fastest to
    slowest round; band: median +- 20 %) and of the edges added since the
    previous point (dashed), in the middle the sparse and dense step times
    and their floors (dash-dotted, dotted), right (where the sweep has
    them) the cost per edge of its phases
    (:data:`~pyg_proda.profile.speed.PHASES`).

    Args:
        results (Dict): A run, as :func:`~pyg_proda.profile.speed.main`
            returns it or as saved in its JSON.
        path (str, optional): Write the figure there as a PNG.
            (default: :obj:`None`)

    Returns:
        :class:`matplotlib.figure.Figure`

    Raises:
        ValueError: if :obj:`results` holds no sweep.
    """
    from matplotlib.figure import Figure
    sweeps = [results[key] for key in ('sweep', 'sweep_compiled')
              if results.get(key) and 'points' in results[key]]
    if not sweeps:
        raise ValueError('plot_sweep: the results hold no sweep')
    split = all(has_phases(sw) for sw in sweeps)
    fig = Figure(figsize=(16 if split else 11, 4.2), dpi=100)
    cost, times, *rest = fig.subplots(1, 3 if split else 2)
    for sw, color in zip(sweeps, ('tab:blue', 'tab:orange')):
        label = 'compiled' if sw['compiled'] else 'eager'
        pts = sw['points']
        e = [p['edges'] for p in pts]
        us = [p['us_per_edge'] for p in pts]
        yerr = None  # fastest to slowest round (older JSONs lack samples)
        if all('sparse_samples_s' in p for p in pts):
            yerr = [[u - min(p['sparse_samples_s']) / p['edges'] * 1e6
                     for u, p in zip(us, pts)],
                    [max(p['sparse_samples_s']) / p['edges'] * 1e6 - u
                     for u, p in zip(us, pts)]]
        mid = sw['us_per_edge_median']
        cost.axhspan(0.8 * mid, 1.2 * mid, color=color, alpha=0.12)
        cost.errorbar(e, us, yerr=yerr,
                      marker='o', color=color, capsize=3,
                      label=f'{label}: whole step')
        added = [(p['edges'], p['marginal_us_per_edge']) for p in pts
                 if 'marginal_us_per_edge' in p]
        if added:
            cost.plot(*zip(*added), ls='--', marker='x', color=color,
                      label=f'{label}: added edges')
        times.plot(e, [p['sparse_s'] * 1e3 for p in pts], marker='o',
                   color=color, label=f'sparse, {label}')
        dense = [(p['edges'], p['dense_s'] * 1e3) for p in pts
                 if p.get('dense_s') is not None]
        if dense:
            times.plot(*zip(*dense), marker='s', ls=':', color=color,
                       label=f'dense, {label}')
        floor = sw.get('floor')
        if floor:
            times.axhline(floor['sparse_s'] * 1e3, ls='-.', lw=1,
                          color=color, label=f"floor ({floor['edges']}"
                                             f" edges), {label}")
            if floor.get('dense_s') is not None:
                times.axhline(floor['dense_s'] * 1e3, ls=(0, (1, 3)), lw=1,
                              color=color, label=f'dense floor, {label}')
        if split:
            for name, ls, marker in zip(PHASES, (':', '-', '--'),
                                        ('v', '^', 'D')):
                rest[0].plot(e, [p[f'{name}_s'] / p['edges'] * 1e6
                                 for p in pts], ls=ls, marker=marker,
                             color=color, label=f'{label}: {name}')
    cost.set(xscale='log', xlabel='edges', ylabel='µs per edge',
             title=f"VGPNNConv cost per edge (H={sweeps[0]['hidden']}; "
                   f"band: median ± 20 %)")
    cost.set_ylim(bottom=0)
    cost.legend(fontsize=8)
    times.set(xscale='log', yscale='log', xlabel='edges',
              ylabel='forward + backward (ms)', title='step time')
    times.legend(fontsize=8)
    if split:
        rest[0].set(xscale='log', xlabel='edges', ylabel='µs per edge',
                    title='where a step goes (backward: the rest)')
        rest[0].set_ylim(bottom=0)
        rest[0].legend(fontsize=8, ncol=2)
    fig.suptitle(f"{results['device']}, {results['threads']} thread(s), "
                 f"torch {results.get('torch', '?')}", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=fig.dpi, format='png')
    return fig
