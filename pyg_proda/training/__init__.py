r"""Training and evaluation: the Lightning data module and modules, the
two-stage recipe, the evaluation suite and the command line."""
from pyg_proda.training.data import (
    DATASETS,
    EpochSeededSampler,
    SSGDataModule,
    build_dataset,
)
from pyg_proda.training.module import PROTOCOLS, BagOfFramesModule, ProDAModule
from pyg_proda.training.pairs import (
    InteractionMeter,
    PairBaselineModule,
    PairProDAModule,
)
from pyg_proda.training.recipe import (
    MONITOR,
    TwoStageResult,
    fit_two_stage,
    make_trainer,
)

__all__ = [
    'SSGDataModule', 'EpochSeededSampler', 'build_dataset', 'DATASETS',
    'ProDAModule', 'BagOfFramesModule', 'PROTOCOLS', 'fit_two_stage',
    'make_trainer', 'TwoStageResult', 'MONITOR', 'PairProDAModule',
    'PairBaselineModule', 'InteractionMeter'
]
