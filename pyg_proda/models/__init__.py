from pyg_proda.models.bag_of_frames import BagOfFrames
from pyg_proda.models.pair_baseline import PairBaseline
from pyg_proda.models.pair_head import PairHead
from pyg_proda.models.proda import ProDA, ProDAOutput
from pyg_proda.models.proda_pairs import ProDAPairOutput, ProDAPairs

__all__ = ['ProDA', 'ProDAOutput', 'BagOfFrames', 'PairHead', 'PairBaseline',
           'ProDAPairs', 'ProDAPairOutput']
