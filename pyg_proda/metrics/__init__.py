r"""Evaluation metrics of ProDA: Charades mAP, the per-label-count
specification grid, temporal localisation, feature distances and the
SportsHHI interaction metrics."""
from pyg_proda.metrics.charades_map import (
    CharadesMAP,
    average_precision,
    charades_map,
    charades_wap,
)
from pyg_proda.metrics.distances import class_distances
from pyg_proda.metrics.localization import (
    localization_grid,
    localization_summary,
    normalize_frame_weights,
)
from pyg_proda.metrics.spec_grid import (
    format_spec_grid,
    spec_grid_map,
    summarize_spec_grid,
)
from pyg_proda.metrics.sportshhi import (
    Triplets,
    box_iou,
    interaction_candidates,
    interaction_map,
    voc_ap,
)

__all__ = [
    'CharadesMAP',
    'average_precision',
    'charades_map',
    'charades_wap',
    'class_distances',
    'localization_grid',
    'localization_summary',
    'normalize_frame_weights',
    'format_spec_grid',
    'spec_grid_map',
    'summarize_spec_grid',
    'Triplets',
    'box_iou',
    'interaction_candidates',
    'interaction_map',
    'voc_ap',
]
