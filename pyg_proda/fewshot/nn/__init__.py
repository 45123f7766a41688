r"""Few-shot heads and their components, one paper component per module."""
from pyg_proda.fewshot.nn.episode import (
    as_episodes,
    class_means,
    gather_class_text,
)
from pyg_proda.fewshot.nn.fusion import EpisodeTransformer, SemanticFusion
from pyg_proda.fewshot.nn.hsmr import HSMR
from pyg_proda.fewshot.nn.otam import (
    OTAM,
    frame_distance,
    otam_cumulative,
    otam_distance,
)
from pyg_proda.fewshot.nn.padm import PADM, PADMOutput, inductive_mask
from pyg_proda.fewshot.nn.protonet import ProtoNet
from pyg_proda.fewshot.nn.spm import SPM, PromptGenerator, SPMOutput
from pyg_proda.fewshot.nn.trx import (
    TRX,
    TemporalCrossTransformer,
    sinusoidal_encoding,
)

__all__ = [
    'as_episodes', 'class_means', 'gather_class_text',
    'EpisodeTransformer', 'SemanticFusion',
    'HSMR',
    'OTAM', 'frame_distance', 'otam_cumulative', 'otam_distance',
    'PADM', 'PADMOutput', 'inductive_mask',
    'ProtoNet',
    'SPM', 'PromptGenerator', 'SPMOutput',
    'TRX', 'TemporalCrossTransformer', 'sinusoidal_encoding',
]
