from pyg_proda.datasets.action_genome import ActionGenome, FeatureFile
from pyg_proda.datasets.base import SSGInMemoryDataset
from pyg_proda.datasets.charades import read_charades_classes, read_charades_csv
from pyg_proda.datasets.sportshhi import SportsHHI
from pyg_proda.datasets.synthetic import SyntheticSSG, generate_video

__all__ = [
    'SSGInMemoryDataset', 'SyntheticSSG', 'generate_video', 'ActionGenome',
    'FeatureFile', 'SportsHHI', 'read_charades_csv', 'read_charades_classes'
]
