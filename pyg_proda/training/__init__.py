from pyg_proda.training.data import EpochSeededSampler, SSGDataModule, build_dataset
from pyg_proda.training.module import BagOfFramesModule, ProDAModule, random_prompt

__all__ = ['SSGDataModule', 'EpochSeededSampler', 'build_dataset', 'ProDAModule',
           'BagOfFramesModule', 'random_prompt']
