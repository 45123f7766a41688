r"""Figures of the ProDA analyses: frame weights against ground-truth
segments (paper Fig. 3/8), the parsed subgraph with its edge gates
(Fig. 9) and a t-SNE of disentangled features (Fig. 4).

Every function draws on a fresh :class:`matplotlib.figure.Figure` (no
:mod:`matplotlib.pyplot` state, so any backend works, and the Agg canvas is
used for saving). With :obj:`path`, the figure is written as a PNG of
exactly ``figsize * dpi`` pixels (no tight bounding box, which would change
the size).
"""
import math
from typing import Dict, Optional, Sequence, Tuple

import networkx as nx
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor

from pyg_proda.metrics import class_distances, normalize_frame_weights


def _save(fig: Figure, path: Optional[str]) -> Figure:
    if path is not None:
        # The dpi of the figure, so the file has figsize * dpi pixels.
        fig.savefig(path, dpi=fig.dpi, format='png')
    return fig


def _segments(mask: np.ndarray) -> Sequence[Tuple[int, int]]:
    r"""Inclusive ``(start, end)`` runs of :obj:`True` in a 1-D mask."""
    runs, start = [], None
    for i, v in enumerate(mask.tolist() + [False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def plot_frame_weights(
    frame_weights: Tensor,
    gt: Tensor,
    class_names: Sequence[str],
    frame_mask: Optional[Tensor] = None,
    theta: float = 0.5,
    title: Optional[str] = None,
    path: Optional[str] = None,
    figsize: Tuple[float, float] = (8.0, 3.6),
    dpi: int = 100,
) -> Figure:
    r"""Draws the readout's frame weights of one video as a heat strip
    above a curve of the normalised weights
    :math:`\hat{w}_f = w_f^2 / (\max_g w_g^2 + \epsilon)`
    (:func:`~pyg_proda.metrics.normalize_frame_weights`), the ground-truth
    segments of the specified classes as shaded spans and the localisation
    threshold :math:`\theta` as a dashed line (paper Fig. 3 and 8). Frames
    with :math:`\hat{w}_f \geq \theta` form the predicted segment of
    evaluation.md §3.

    Args:
        frame_weights (torch.Tensor): Frame weights ``[T]`` (sigmoid outputs
            of the readout).
        gt (torch.Tensor): Ground-truth frames ``[T, K]`` (bool) of the
            :obj:`K` specified classes.
        class_names (Sequence[str]): The :obj:`K` class names.
        frame_mask (torch.Tensor, optional): Valid frames ``[T]`` (bool).
            (default: :obj:`None`, all valid)
        theta (float, optional): Localisation threshold :math:`\theta`.
            (default: :obj:`0.5`)
        title (str, optional): Figure title. (default: :obj:`None`)
        path (str, optional): Where to save the PNG. (default: :obj:`None`)
        figsize (Tuple[float, float], optional): Size in inches.
            (default: :obj:`(8.0, 3.6)`)
        dpi (int, optional): Dots per inch; the PNG has
            ``figsize * dpi`` pixels. (default: :obj:`100`)

    Returns:
        The :class:`~matplotlib.figure.Figure`.

    Example:
        >>> w = torch.tensor([0.1, 0.2, 0.9, 0.8, 0.1])
        >>> gt = torch.tensor([[0], [0], [1], [1], [0]]).bool()
        >>> fig = plot_frame_weights(w, gt, ['taking a cup'])
        >>> len(fig.axes)
        3

    Raises:
        ValueError: If the shapes of :obj:`frame_weights`, :obj:`gt` and
            :obj:`class_names` do not match.
    """
    w = frame_weights.detach().float().cpu().view(-1)
    T = w.numel()
    gt = gt.detach().cpu().bool()
    if gt.dim() == 1:
        gt = gt.view(-1, 1)
    if gt.size(0) != T or gt.size(1) != len(class_names):
        raise ValueError(f"plot_frame_weights: expected gt of shape [{T}, "
                         f"{len(class_names)}] (frames x classes), got "
                         f"{tuple(gt.shape)}")
    mask = (torch.ones(T, dtype=torch.bool) if frame_mask is None else
            frame_mask.detach().cpu().bool().view(-1))
    w_hat = normalize_frame_weights(w.view(1, -1), mask.view(1, -1))[0]
    w_hat = w_hat.numpy()
    frames = np.arange(T)

    fig = Figure(figsize=figsize, dpi=dpi, layout='constrained')
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 3), width_ratios=(40, 1))
    ax_strip = fig.add_subplot(grid[0, 0])
    ax = fig.add_subplot(grid[1, 0], sharex=ax_strip)
    cax = fig.add_subplot(grid[:, 1])

    strip = np.ma.masked_array(w_hat.reshape(1, -1),
                               mask=~mask.numpy().reshape(1, -1))
    im = ax_strip.imshow(strip, aspect='auto', cmap='viridis', vmin=0.0,
                         vmax=1.0, extent=(-0.5, T - 0.5, 0, 1))
    ax_strip.set_yticks([])
    ax_strip.set_ylabel('ŵ', rotation=0, labelpad=10)
    ax_strip.tick_params(labelbottom=False)
    fig.colorbar(im, cax=cax, label='normalised weight ŵ')

    colors = colormaps['tab10']
    handles = []
    for k, name in enumerate(class_names):
        col = colors(k % 10)
        runs = _segments(gt[:, k].numpy() & mask.numpy())
        for lo, hi in runs:
            # Segments of K classes stacked in K horizontal bands.
            ax.axvspan(lo - 0.5, hi + 0.5, ymin=k / len(class_names),
                       ymax=(k + 1) / len(class_names), color=col,
                       alpha=0.25, lw=0)
        label = name if runs else f'{name} (not in video)'
        handles.append(Patch(color=col, alpha=0.4, label=f'GT: {label}'))
    pred = (w_hat >= theta) & mask.numpy()
    ax.plot(frames[mask.numpy()], w_hat[mask.numpy()], '-o', color='black',
            ms=3.5, lw=1.2, label='ŵ')
    ax.scatter(frames[pred], w_hat[pred], s=28, color='crimson', zorder=3,
               label='predicted (ŵ ≥ θ)')
    ax.axhline(theta, color='crimson', ls='--', lw=1.0, label=f'θ = {theta}')
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(0.0, 1.08)
    ax.set_xticks(frames)
    ax.set_xlabel('frame')
    ax.set_ylabel('ŵ')
    line_handles, _ = ax.get_legend_handles_labels()
    # Below the axes, so that it never hides the curve.
    ax.legend(handles=handles + line_handles, fontsize=7, loc='upper center',
              bbox_to_anchor=(0.5, -0.28), ncols=3, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _frame_layout(nodes: Sequence[int], is_person: Dict[int, bool]
                  ) -> Dict[int, Tuple[float, float]]:
    r"""Persons near the centre, objects on a circle around them."""
    persons = [n for n in nodes if is_person[n]]
    objects = [n for n in nodes if not is_person[n]]
    pos = {}
    for i, n in enumerate(persons):
        off = 0.0 if len(persons) == 1 else 0.25 * (2 * i / (len(persons) - 1)
                                                     - 1)
        pos[n] = (off, 0.0)
    for i, n in enumerate(objects):
        angle = math.pi / 2 + 2 * math.pi * i / max(1, len(objects))
        pos[n] = (math.cos(angle), math.sin(angle))
    return pos


def plot_parsed_subgraph(
    edge_index: Tensor,
    edge_gates: Tensor,
    edge_frame: Tensor,
    node_frame: Tensor,
    node_names: Sequence[str],
    is_person: Tensor,
    frames: Sequence[int],
    edge_labels: Optional[Sequence[str]] = None,
    highlight: Optional[Tensor] = None,
    frame_scores: Optional[Sequence[float]] = None,
    title: Optional[str] = None,
    path: Optional[str] = None,
    ncols: int = 4,
    panel_size: Tuple[float, float] = (3.0, 3.0),
    dpi: int = 100,
) -> Figure:
    r"""Draws the parsed subgraph of one video as small multiples, one panel
    per frame (paper Fig. 9): nodes labelled by class, one arrow per
    message direction with width (and colour) proportional to the VGPNN
    gate of that message.

    A relation ``(src, dst)`` of the homogeneous view carries two gates
    (:class:`~pyg_proda.nn.VGPNNConv` with :obj:`return_gates=True`):
    column 0 gates the message to ``dst``, column 1 the message to ``src``.
    Several relations between the same two nodes (Action Genome's three
    relation groups) are merged into one arrow per direction whose gate is
    their mean.

    Args:
        edge_index (torch.Tensor): Relations ``[2, E]`` of one video.
        edge_gates (torch.Tensor): Gates ``[E, 2]`` in :math:`[0, 1]`.
        edge_frame (torch.Tensor): Frame of every relation ``[E]``.
        node_frame (torch.Tensor): Frame of every node ``[N]``.
        node_names (Sequence[str]): Label of every node (its class name).
        is_person (torch.Tensor): Person nodes ``[N]`` (bool).
        frames (Sequence[int]): Frames to draw, one panel each.
        edge_labels (Sequence[str], optional): Relation names of every
            relation ``[E]``, written on the arrows. (default: :obj:`None`)
        highlight (torch.Tensor, optional): Nodes ``[N]`` (bool) to outline,
            e.g. the objects of the specified actions. (default: :obj:`None`)
        frame_scores (Sequence[float], optional): A score per drawn frame
            (e.g. the normalised frame weight) shown in its panel title.
            (default: :obj:`None`)
        title (str, optional): Figure title. (default: :obj:`None`)
        path (str, optional): Where to save the PNG. (default: :obj:`None`)
        ncols (int, optional): Panels per row. (default: :obj:`4`)
        panel_size (Tuple[float, float], optional): Inches per panel; the
            figure is ``(min(ncols, len(frames)) * w, rows * h)``.
            (default: :obj:`(3.0, 3.0)`)
        dpi (int, optional): Dots per inch. (default: :obj:`100`)

    Returns:
        The :class:`~matplotlib.figure.Figure`.

    Example:
        >>> ei = torch.tensor([[0, 0], [1, 2]])
        >>> fig = plot_parsed_subgraph(
        ...     ei, torch.tensor([[0.9, 0.1], [0.2, 0.5]]),
        ...     torch.tensor([0, 0]), torch.tensor([0, 0, 0]),
        ...     ['person', 'cup/glass/bottle', 'table'],
        ...     torch.tensor([True, False, False]), frames=[0])
        >>> len(fig.axes)
        2

    Raises:
        ValueError: If :obj:`frames` is empty or the shapes do not match.
    """
    if len(frames) == 0:
        raise ValueError("plot_parsed_subgraph: 'frames' is empty")
    E = edge_index.size(1)
    if edge_gates.shape != (E, 2) or edge_frame.numel() != E:
        raise ValueError(f"plot_parsed_subgraph: expected edge_gates [{E}, 2] "
                         f"and edge_frame [{E}] for edge_index "
                         f"{tuple(edge_index.shape)}, got "
                         f"{tuple(edge_gates.shape)} and "
                         f"{tuple(edge_frame.shape)}")
    N = node_frame.numel()
    if len(node_names) != N or is_person.numel() != N:
        raise ValueError(f"plot_parsed_subgraph: expected {N} node names and "
                         f"person flags, got {len(node_names)} and "
                         f"{is_person.numel()}")
    ei = edge_index.detach().cpu()
    gates = edge_gates.detach().float().cpu()
    e_frame = edge_frame.detach().cpu()
    n_frame = node_frame.detach().cpu()
    person = is_person.detach().cpu().bool()
    mark = (torch.zeros(N, dtype=torch.bool) if highlight is None else
            highlight.detach().cpu().bool())

    ncols = max(1, min(ncols, len(frames)))
    nrows = math.ceil(len(frames) / ncols)
    fig = Figure(figsize=(ncols * panel_size[0], nrows * panel_size[1] + 0.5),
                 dpi=dpi, layout='constrained')
    grid = fig.add_gridspec(nrows, ncols + 1,
                            width_ratios=[20] * ncols + [1])
    cmap = colormaps['plasma']
    norm = Normalize(0.0, 1.0)
    for p, f in enumerate(frames):
        ax = fig.add_subplot(grid[p // ncols, p % ncols])
        ax.set_axis_off()
        nodes = (n_frame == int(f)).nonzero().view(-1).tolist()
        g = nx.DiGraph()
        for n in nodes:
            g.add_node(n)
        # Merge the relations of a node pair, per message direction.
        acc: Dict[Tuple[int, int], list] = {}
        names: Dict[Tuple[int, int], list] = {}
        for k in (e_frame == int(f)).nonzero().view(-1).tolist():
            s, d = int(ei[0, k]), int(ei[1, k])
            acc.setdefault((s, d), []).append(float(gates[k, 0]))
            acc.setdefault((d, s), []).append(float(gates[k, 1]))
            if edge_labels is not None and edge_labels[k]:
                names.setdefault(tuple(sorted((s, d))), []).append(
                    edge_labels[k])
        for (s, d), vals in acc.items():
            g.add_edge(s, d, gate=sum(vals) / len(vals))
        is_p = {n: bool(person[n]) for n in nodes}
        pos = _frame_layout(nodes, is_p)
        node_color = ['#f4a261' if is_p[n] else '#8ecae6' for n in nodes]
        edge_color = ['#2a9d8f' if mark[n] else '#264653' for n in nodes]
        nx.draw_networkx_nodes(g, pos, ax=ax, nodelist=nodes,
                               node_color=node_color, node_size=360,
                               edgecolors=edge_color,
                               linewidths=[2.5 if mark[n] else 0.8
                                           for n in nodes])
        edges = list(g.edges(data='gate'))
        if edges:
            nx.draw_networkx_edges(
                g, pos, ax=ax, edgelist=[(s, d) for s, d, _ in edges],
                width=[0.3 + 4.0 * w for _, _, w in edges],
                edge_color=[cmap(norm(w)) for _, _, w in edges],
                arrows=True, arrowstyle='-|>', arrowsize=9,
                connectionstyle='arc3,rad=0.15', node_size=360)
        # Labels outside the nodes: radially for objects, below persons.
        label_pos = {n: (x, y - 0.22) if is_p[n] else (1.3 * x, 1.3 * y - 0.05)
                     for n, (x, y) in pos.items()}
        nx.draw_networkx_labels(
            g, label_pos,
            labels={n: node_names[n] for n in nodes}, ax=ax, font_size=6.5)
        if names:
            labels = {}
            for (a, b), rel in names.items():
                labels[(a, b)] = '/'.join(dict.fromkeys(rel))
            nx.draw_networkx_edge_labels(g, pos, edge_labels=labels, ax=ax,
                                         font_size=5, alpha=0.8,
                                         rotate=False)
        head = f'frame {int(f)}'
        if frame_scores is not None:
            head += f'  ŵ={frame_scores[p]:.2f}'
        ax.set_title(head, fontsize=8)
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.5, 1.45)
    cax = fig.add_subplot(grid[:, ncols])
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax,
                 label='gate')
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def tsne_embedding(features: Tensor, perplexity: float = 30.0,
                   seed: int = 0, num_threads: Optional[int] = 1) -> Tensor:
    r"""Embeds :obj:`features` ``[M, D]`` in 2-D with scikit-learn's
    :class:`~sklearn.manifold.TSNE` (PCA initialisation). The perplexity
    is clipped to :math:`(M - 1) / 3` so that small sets work.

    Args:
        features (torch.Tensor): Features ``[M, D]``.
        perplexity (float, optional): t-SNE perplexity.
            (default: :obj:`30.0`)
        seed (int, optional): Random state. (default: :obj:`0`)
        num_threads (int, optional): Limit of the OpenMP/BLAS threads while
            fitting; :obj:`None` leaves them alone. One thread is the
            default because OpenMP's busy waiting makes t-SNE of a few
            thousand points many times slower on a loaded machine.
            (default: :obj:`1`)

    Raises:
        ValueError: With fewer than 4 samples.
    """
    from sklearn.manifold import TSNE
    M = features.size(0)
    if M < 4:
        raise ValueError(f"tsne_embedding: needs at least 4 samples, got {M}")
    perplexity = float(max(1.0, min(perplexity, (M - 1) / 3.0)))
    from threadpoolctl import threadpool_limits
    x = features.detach().double().cpu().numpy()
    tsne = TSNE(n_components=2, perplexity=perplexity, init='pca',
                random_state=seed)
    with threadpool_limits(limits=num_threads):
        emb = tsne.fit_transform(x)
    return torch.from_numpy(np.ascontiguousarray(emb))


def plot_tsne(
    features: Tensor,
    labels: Tensor,
    class_names: Sequence[str],
    perplexity: float = 30.0,
    seed: int = 0,
    title: Optional[str] = None,
    path: Optional[str] = None,
    figsize: Tuple[float, float] = (7.0, 6.0),
    dpi: int = 100,
    embedding: Optional[Tensor] = None,
) -> Tuple[Figure, Tensor, Dict[str, float]]:
    r"""t-SNE of (disentangled) features coloured by class (paper Fig. 4).
    The title reports the intra- and inter-class distances
    (:func:`~pyg_proda.metrics.class_distances`, mean :math:`\pm` std)
    measured **in the 2-D embedding**, as the paper does (2.08 ± 1.57 intra,
    58.58 ± 27.99 inter on its training set).

    Args:
        features (torch.Tensor): Features ``[M, D]``, e.g. the specified
            branch's graph vectors :math:`g_s` of single-action
            specifications.
        labels (torch.Tensor): Class of every sample ``[M]``.
        class_names (Sequence[str]): Names of all classes (indexed by
            :obj:`labels`).
        perplexity (float, optional): t-SNE perplexity.
            (default: :obj:`30.0`)
        seed (int, optional): t-SNE random state. (default: :obj:`0`)
        title (str, optional): First title line. (default: :obj:`None`)
        path (str, optional): Where to save the PNG. (default: :obj:`None`)
        figsize (Tuple[float, float], optional): Size in inches.
            (default: :obj:`(7.0, 6.0)`)
        dpi (int, optional): Dots per inch. (default: :obj:`100`)
        embedding (torch.Tensor, optional): A precomputed ``[M, 2]``
            embedding to draw instead of running t-SNE.
            (default: :obj:`None`)

    Returns:
        The figure, the ``[M, 2]`` embedding and the distances dictionary.

    Example:
        >>> x = torch.cat([torch.randn(10, 8), torch.randn(10, 8) + 5])
        >>> y = torch.tensor([0] * 10 + [1] * 10)
        >>> fig, emb, dist = plot_tsne(x, y, ['a', 'b'])
        >>> emb.shape, dist['num_classes']
        (torch.Size([20, 2]), 2)

    Raises:
        ValueError: If :obj:`features` and :obj:`labels` disagree in length.
    """
    labels = labels.detach().cpu().long().view(-1)
    if features.size(0) != labels.numel():
        raise ValueError(f"plot_tsne: {features.size(0)} features but "
                         f"{labels.numel()} labels")
    emb = (tsne_embedding(features, perplexity, seed) if embedding is None
           else embedding.detach().double().cpu())
    dist = class_distances(emb, labels)

    fig = Figure(figsize=figsize, dpi=dpi, layout='constrained')
    ax = fig.add_subplot(1, 1, 1)
    classes = torch.unique(labels).tolist()
    cmap = colormaps['tab20']
    markers = ('o', 's', '^', 'D', 'v')
    for i, c in enumerate(classes):
        sel = (labels == c).numpy()
        # tab20 has 20 colours; the marker tells classes 20 apart.
        ax.scatter(emb[sel, 0].numpy(), emb[sel, 1].numpy(), s=14,
                   color=cmap(i % 20), marker=markers[(i // 20) % 5],
                   label=class_names[c], alpha=0.85, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    head = (f"intra {dist['intra_mean']:.2f} ± {dist['intra_std']:.2f}   "
            f"inter {dist['inter_mean']:.2f} ± {dist['inter_std']:.2f}")
    ax.set_title(f'{title}\n{head}' if title else head, fontsize=9)
    ax.legend(fontsize=5.5, ncols=1 if len(classes) <= 20 else 2,
              loc='center left', bbox_to_anchor=(1.0, 0.5), frameon=False,
              markerscale=1.2)
    _save(fig, path)
    return fig, emb, dist
