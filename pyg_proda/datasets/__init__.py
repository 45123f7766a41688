from pyg_proda.datasets.base import SSGInMemoryDataset
from pyg_proda.datasets.synthetic import SyntheticSSG, generate_video

__all__ = ['SSGInMemoryDataset', 'SyntheticSSG', 'generate_video']
