r"""What the tests and the benchmarks share (like
:mod:`torch_geometric.testing`): the dense padded references of the layers
in the authors' slot layout (:mod:`~pyg_proda.testing.padding`,
:mod:`~pyg_proda.testing.dense`), random scene-graph batches
(:mod:`~pyg_proda.testing.graphs`) and writers of raw dataset files
(:mod:`~pyg_proda.testing.fixtures`, :mod:`~pyg_proda.testing.sportshhi`)."""
from pyg_proda.testing.dense import (
    DenseVGPNN,
    dense_attention,
    dense_dpm,
    dense_encoder,
    dense_readout,
    dense_vgnorm,
    no_mha_fastpath,
    to_encoder_layer,
    to_mha,
)
from pyg_proda.testing.graphs import (
    AG_GROUPS,
    AG_OUTGOING,
    FLOOR_FRAMES,
    SHHI_CLASSES,
    SSG,
    ag_graph,
    floor_graph,
    random_ssg,
    sportshhi_graph,
    sweep_graph,
)
from pyg_proda.testing.padding import (
    DenseGraph,
    all_pairs,
    pad_graph,
    star_pairs,
    track_slots,
)

__all__ = [
    'DenseGraph',
    'all_pairs',
    'star_pairs',
    'track_slots',
    'pad_graph',
    'DenseVGPNN',
    'dense_attention',
    'dense_vgnorm',
    'dense_readout',
    'dense_dpm',
    'dense_encoder',
    'no_mha_fastpath',
    'to_mha',
    'to_encoder_layer',
    'SSG',
    'random_ssg',
    'ag_graph',
    'sportshhi_graph',
    'sweep_graph',
    'floor_graph',
    'AG_GROUPS',
    'AG_OUTGOING',
    'SHHI_CLASSES',
    'FLOOR_FRAMES',
]
