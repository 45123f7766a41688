r"""Few-shot action recognition: CLIP-SPM (Li et al., 2025) and baselines
on precomputed frame features or on scene graphs, with an episodic
benchmark (see ``docs/fewshot.md``)."""
from pyg_proda.fewshot.data import (
    FrameFeatureDataset,
    find_cache,
    write_feature_cache,
)
from pyg_proda.fewshot.episodes import (
    EpisodeBatch,
    EpisodeDataset,
    collate_episodes,
)
from pyg_proda.fewshot.evaluate import evaluate_episodes, mean_ci
from pyg_proda.fewshot.models import CLIPSPM, HEADS, build_head
from pyg_proda.fewshot.sampler import Episode, EpisodeSampler
from pyg_proda.fewshot.synthetic import SyntheticFewShot
from pyg_proda.io.split_lists import SplitEntry, parse_split_list

__all__ = [
    'FrameFeatureDataset', 'find_cache', 'write_feature_cache',
    'EpisodeBatch', 'EpisodeDataset', 'collate_episodes',
    'evaluate_episodes', 'mean_ci',
    'CLIPSPM', 'HEADS', 'build_head',
    'Episode', 'EpisodeSampler',
    'SplitEntry', 'parse_split_list',
    'SyntheticFewShot',
]
