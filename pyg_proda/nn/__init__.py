r"""Layers of ProDA for homogeneous spatio-temporal scene graphs."""
from pyg_proda.nn.ad_loss import (
    MarginSchedule,
    ProDALoss,
    decorrelation_loss,
    reconstruction_loss,
)
from pyg_proda.nn.dpm import DynamicPrompt, SimplePrompt
from pyg_proda.nn.encoder import (
    EncoderGroups,
    SpatioTemporalEncoder,
    encoder_groups,
)
from pyg_proda.nn.grouped_attention import (
    IMPLS,
    AttentionGroups,
    GroupedSelfAttention,
    GroupedTransformerBlock,
    make_groups,
)
from pyg_proda.nn.readout import PostNormFFN, SSGReadout
from pyg_proda.nn.vgnorm import NORMS, VGNorm, make_norm
from pyg_proda.nn.vgpnn_conv import VGPNNConv, edge_pair_index, vgpnn_groups

__all__ = [
    'AttentionGroups',
    'IMPLS',
    'GroupedSelfAttention',
    'GroupedTransformerBlock',
    'make_groups',
    'VGPNNConv',
    'edge_pair_index',
    'vgpnn_groups',
    'DynamicPrompt',
    'SimplePrompt',
    'VGNorm',
    'make_norm',
    'NORMS',
    'SpatioTemporalEncoder',
    'EncoderGroups',
    'encoder_groups',
    'SSGReadout',
    'PostNormFFN',
    'MarginSchedule',
    'ProDALoss',
    'decorrelation_loss',
    'reconstruction_loss',
]
