r"""Figures of the ProDA analyses (frame weights, parsed subgraphs, t-SNE)
and the ``python -m pyg_proda explain`` command."""
from pyg_proda.viz.plots import (
    plot_frame_weights,
    plot_parsed_subgraph,
    plot_tsne,
    tsne_embedding,
)

__all__ = [
    'plot_frame_weights',
    'plot_parsed_subgraph',
    'plot_tsne',
    'tsne_embedding',
]
