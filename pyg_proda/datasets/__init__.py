from pyg_proda.datasets.action_genome import ActionGenome
from pyg_proda.datasets.base import SSGInMemoryDataset
from pyg_proda.datasets.sportshhi import SportsHHI
from pyg_proda.datasets.synthetic import SyntheticSSG, generate_video

__all__ = [
    'SSGInMemoryDataset', 'SyntheticSSG', 'generate_video', 'ActionGenome',
    'SportsHHI'
]
