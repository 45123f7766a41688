from pyg_proda.datasets.action_genome import ActionGenome
from pyg_proda.datasets.base import GeneratedSSGDataset, SSGInMemoryDataset
from pyg_proda.datasets.sportshhi import SportsHHI
from pyg_proda.datasets.synthetic import SyntheticSSG, generate_video
from pyg_proda.datasets.synthetic_hhi import SyntheticHHI, generate_hhi_video

__all__ = [
    'SSGInMemoryDataset', 'GeneratedSSGDataset', 'SyntheticSSG', 'generate_video', 'ActionGenome',
    'SportsHHI', 'SyntheticHHI', 'generate_hhi_video'
]
