from pyg_proda.data.action_spec import ActionSpec, ActionSpecSampler
from pyg_proda.data.homogeneous import (
    edge_type_layout,
    frame_group,
    to_homogeneous,
)
from pyg_proda.data.networkx import to_networkx
from pyg_proda.data.transforms import SampleFrames
from pyg_proda.data.video_scene_graph import (
    AG_EDGE_DIMS,
    EDGE_TYPES,
    NODE_TYPES,
    Detection,
    Relation,
    SchemaError,
    VideoSceneGraph,
    build_video_graph,
    geometry_features,
    validate_video_graph,
)

__all__ = [
    'AG_EDGE_DIMS', 'EDGE_TYPES', 'NODE_TYPES', 'Detection', 'Relation',
    'SchemaError', 'VideoSceneGraph', 'build_video_graph',
    'geometry_features', 'validate_video_graph', 'edge_type_layout',
    'frame_group', 'to_homogeneous', 'to_networkx', 'ActionSpec',
    'ActionSpecSampler', 'SampleFrames'
]
