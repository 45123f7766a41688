r"""Readers and writers of the on-disk formats (like
:mod:`torch_geometric.io`): Charades, Action Genome and SportsHHI
annotations, per-box feature files, few-shot frame-feature caches and split
lists, the restricted unpickler, and atomic writes."""
from pyg_proda.io.action_genome import (
    ActionGenomeReader,
    entity_key,
    iter_annotated_boxes,
    parse_frame_key,
    read_object_classes,
    read_relationship_classes,
    read_video_fps,
)
from pyg_proda.io.atomic import atomic_path, torch_save_atomic, write_json_atomic
from pyg_proda.io.charades import (
    CharadesVideo,
    read_charades_classes,
    read_charades_csv,
    read_charades_splits,
)
from pyg_proda.io.features import FeatureFile, FeatureWriter
from pyg_proda.io.frame_features import read_feature_cache, write_feature_cache
from pyg_proda.io.pickle import load_pickle_dict
from pyg_proda.io.split_lists import (
    SplitEntry,
    parse_split_list,
    split_classes,
)
from pyg_proda.io.sportshhi import (
    SportsHHIRow,
    read_label_map,
    read_sportshhi_csv,
)

__all__ = [
    'atomic_path', 'torch_save_atomic', 'write_json_atomic', 'CharadesVideo',
    'read_charades_csv', 'read_charades_classes', 'read_charades_splits',
    'ActionGenomeReader', 'entity_key', 'iter_annotated_boxes',
    'parse_frame_key', 'read_object_classes', 'read_relationship_classes',
    'read_video_fps', 'FeatureFile', 'FeatureWriter', 'load_pickle_dict',
    'SportsHHIRow', 'read_label_map', 'read_sportshhi_csv',
    'read_feature_cache', 'write_feature_cache', 'SplitEntry',
    'parse_split_list', 'split_classes'
]
