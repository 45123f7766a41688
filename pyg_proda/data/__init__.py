from pyg_proda.data.action_spec import (
    ActionSpec,
    ActionSpecSampler,
    branch_targets,
    random_prompt,
    unspecified_prompt,
)
from pyg_proda.data.homogeneous import (
    SSGCollater,
    SSGLoader,
    SSGView,
    edge_type_layout,
    select_videos,
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
    make_video_graph,
    validate_video_graph,
)
from pyg_proda.utils import frame_group

__all__ = [
    'AG_EDGE_DIMS', 'EDGE_TYPES', 'NODE_TYPES', 'Detection', 'Relation',
    'SchemaError', 'VideoSceneGraph', 'build_video_graph', 'make_video_graph',
    'geometry_features', 'validate_video_graph', 'edge_type_layout',
    'frame_group', 'to_homogeneous', 'SSGView', 'SSGLoader', 'SSGCollater',
    'select_videos', 'to_networkx', 'ActionSpec',
    'ActionSpecSampler', 'SampleFrames', 'branch_targets', 'random_prompt', 'unspecified_prompt'
]
