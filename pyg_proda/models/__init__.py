from pyg_proda.models.bag_of_frames import BagOfFrames
from pyg_proda.models.proda import ProDA, ProDAOutput

__all__ = ['ProDA', 'ProDAOutput', 'BagOfFrames']
