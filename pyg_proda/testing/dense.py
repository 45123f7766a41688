r"""Dense, padded references of the :mod:`pyg_proda.nn` layers in the
authors' ``[B, T, S]`` slot layout (:mod:`pyg_proda.testing.padding`): the
oracles the sparse layers are proved right against, and the baseline of the
speed benchmark (:class:`DenseVGPNN`).

Attention runs through :mod:`torch.nn`'s own
:class:`~torch.nn.MultiheadAttention` and
:class:`~torch.nn.TransformerEncoderLayer` with key padding masks, loaded
with the weights of the sparse modules, so the references share no
attention code with the implementation under test.
"""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn import MultiheadAttention, TransformerEncoderLayer

from pyg_proda.nn import (
    DynamicPrompt,
    GroupedSelfAttention,
    GroupedTransformerBlock,
    SpatioTemporalEncoder,
    SSGReadout,
    VGNorm,
    VGPNNConv,
)


@contextmanager
def no_mha_fastpath() -> Iterator[None]:
    r"""Runs torch's attention without its nested-tensor fast path."""
    old = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(old)


# Attention ##################################################################

def _load_attention(mha: MultiheadAttention,
                    attn: GroupedSelfAttention) -> None:
    # The weights of `attn` into `mha`.
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.lin_qkv.weight)
        mha.in_proj_bias.copy_(attn.lin_qkv.bias)
        mha.out_proj.load_state_dict(attn.lin_out.state_dict())


def _load_block(layer: TransformerEncoderLayer,
                block: GroupedTransformerBlock) -> None:
    # The weights of `block` into a post-norm `layer`.
    _load_attention(layer.self_attn, block.attn)
    for name, ref in (('lin1', 'linear1'), ('lin2', 'linear2'),
                      ('norm1', 'norm1'), ('norm2', 'norm2')):
        getattr(layer, ref).load_state_dict(getattr(block, name).state_dict())


def to_mha(attn: GroupedSelfAttention) -> MultiheadAttention:
    r"""A :class:`torch.nn.MultiheadAttention` with the weights of
    :obj:`attn`, in evaluation mode."""
    ref = MultiheadAttention(attn.channels, attn.heads, dropout=0.0,
                             batch_first=True)
    ref = ref.to(attn.lin_qkv.weight.dtype)
    _load_attention(ref, attn)
    return ref.eval()


def to_encoder_layer(block: GroupedTransformerBlock
                     ) -> TransformerEncoderLayer:
    r"""A post-norm :class:`torch.nn.TransformerEncoderLayer` with the
    weights of :obj:`block`, in evaluation mode."""
    ref = TransformerEncoderLayer(block.channels, block.heads,
                                  block.ff_channels, dropout=0.0,
                                  activation='gelu', batch_first=True,
                                  norm_first=False)
    ref = ref.to(block.lin1.weight.dtype)
    _load_block(ref, block)
    return ref.eval()


def dense_attention(layers: List[nn.Module], seq: Tensor,
                    mask: Tensor) -> Tensor:
    r"""Runs :obj:`layers` (:class:`~torch.nn.MultiheadAttention` or
    :class:`~torch.nn.TransformerEncoderLayer`) over :obj:`seq`
    ``[G, L, C]`` with the valid entries :obj:`mask` ``[G, L]``; fully
    padded rows stay zero."""
    out = torch.zeros_like(seq)
    valid = mask.any(dim=1)
    h, pad = seq[valid], ~mask[valid]
    with no_mha_fastpath():
        for layer in layers:
            if isinstance(layer, MultiheadAttention):
                h = layer(h, h, h, key_padding_mask=pad,
                          need_weights=False)[0]
            else:
                h = layer(h, src_key_padding_mask=pad)
    out[valid] = h
    return out


# VGPNN ######################################################################

class DenseVGPNN(nn.Module):
    r"""The mathematics of :class:`~pyg_proda.nn.VGPNNConv` on the dense
    ``[B, T, S]`` slot layout, the way the authors' code computes it:
    batched :class:`torch.nn.Linear` layers over every slot pair and frame,
    and one :class:`torch.nn.TransformerEncoder` sequence of ``T`` frames
    per pair and direction, ``[B * 2P, T, D]``.

    Every padded slot, frame and pair takes part in the compute, as in the
    authors' code (which passes no mask). Given :obj:`edge_mask`, padded
    frames are left out of the attention and padded pairs send no message,
    so that the real entries equal the sparse layer's output exactly: the
    oracle of :class:`~pyg_proda.nn.VGPNNConv`.

    Args:
        in_channels, out_channels, edge_dim, heads, num_temporal_layers,
            dropout, max_frames, ff_channels, message_norm: As in
            :class:`~pyg_proda.nn.VGPNNConv`.

    Example:
        >>> from pyg_proda.nn import VGPNNConv
        >>> from pyg_proda.testing import all_pairs
        >>> conv = VGPNNConv(8, 8, edge_dim=3, heads=2)
        >>> dense = DenseVGPNN.from_sparse(conv)
        >>> x = torch.randn(2, 4, 3, 8)  # [B, T, S, C]
        >>> pairs = all_pairs(3)  # 6 pairs
        >>> out, gates = dense(x, torch.rand(2, 4, 6, 3), pairs)
        >>> out.shape, gates.shape
        (torch.Size([2, 4, 3, 8]), torch.Size([2, 4, 6, 2]))
    """
    def __init__(self, in_channels: int, out_channels: int, edge_dim: int,
                 heads: int = 12, num_temporal_layers: int = 2,
                 dropout: float = 0.1, max_frames: int = 16,
                 ff_channels: Optional[int] = None,
                 message_norm: bool = False):
        super().__init__()
        ff_channels = ff_channels or 4 * out_channels
        self.dropout = dropout
        self.edge_mlp = nn.Sequential(
            nn.Linear(2 * in_channels + edge_dim, out_channels), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(out_channels, out_channels),
            nn.LayerNorm(out_channels), nn.GELU())
        self.frame_emb = nn.Embedding(max_frames, out_channels)
        layer = nn.TransformerEncoderLayer(
            out_channels, heads, ff_channels, dropout, activation='gelu',
            batch_first=True, norm_first=False)
        self.temporal = nn.TransformerEncoder(layer, num_temporal_layers,
                                              enable_nested_tensor=False)
        self.lin_gate = nn.Linear(out_channels, 1)
        self.lin_msg = nn.Linear(in_channels + out_channels, out_channels)
        self.lin_res = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_update = nn.Linear(out_channels, out_channels)
        self.msg_scale = (nn.Parameter(torch.ones(1)) if message_norm else
                          None)

    @classmethod
    def from_sparse(cls, conv: VGPNNConv) -> 'DenseVGPNN':
        r"""A :class:`DenseVGPNN` holding copies of the weights of
        :obj:`conv` (same dtype and device, same training mode)."""
        dense = cls(conv.in_channels, conv.out_channels, conv.edge_dim,
                    conv.heads, conv.num_temporal_layers, conv.dropout,
                    conv.max_frames, conv.ff_channels,
                    conv.msg_norm is not None)
        ref = conv.lin_gate.weight
        dense = dense.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for name in ('edge_mlp', 'frame_emb', 'lin_gate', 'lin_msg',
                         'lin_res', 'lin_update'):
                getattr(dense, name).load_state_dict(
                    getattr(conv, name).state_dict())
            for block, layer in zip(conv.temporal, dense.temporal.layers):
                _load_block(layer, block)
            if dense.msg_scale is not None:
                dense.msg_scale.copy_(conv.msg_norm.scale)
        return dense.train(conv.training)

    def forward(self, x: Tensor, edge_attr: Tensor, pairs: Tensor,
                edge_mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        r"""Runs the layer.

        Args:
            x (Tensor): Slot features ``[B, T, S, C]``.
            edge_attr (Tensor): Relation features ``[B, T, P, D_e]``.
            pairs (Tensor): Pair layout ``[P, 3]``
                (:func:`~pyg_proda.testing.all_pairs`,
                :func:`~pyg_proda.testing.star_pairs`).
            edge_mask (Tensor, optional): Real relations ``[B, T, P]``. If
                :obj:`None` (the authors' default), padded entries take part
                everywhere. (default: :obj:`None`)

        Returns:
            ``(out [B, T, S, D], gates [B, T, P, 2])``; gate column 0 is the
            message to the destination slot, column 1 to the source slot.
        """
        B, T, S, _ = x.shape
        P = pairs.size(0)
        src, dst = pairs[:, 0], pairs[:, 1]
        x_src = x.index_select(2, src)  # [B, T, P, C]
        x_dst = x.index_select(2, dst)
        # Both directions side by side: rows 0..P-1 go to the destination
        # slot, rows P..2P-1 to the source slot.
        recv = torch.cat([x_dst, x_src], dim=2)  # [B, T, 2P, C]
        send = torch.cat([x_src, x_dst], dim=2)
        attr = torch.cat([edge_attr, edge_attr], dim=2)
        link = self.edge_mlp(torch.cat([recv, send, attr], dim=-1))
        link = link + self.frame_emb.weight[:T].view(1, T, 1, -1)
        D = link.size(-1)

        seq = link.transpose(1, 2).reshape(B * 2 * P, T, D)  # [B 2P, T, D]
        pad = None
        if edge_mask is not None:
            pad = ~torch.cat([edge_mask, edge_mask], dim=2)
            pad = pad.transpose(1, 2).reshape(B * 2 * P, T)
            # Fully padded sequences attend to everything (their output is
            # masked out below) instead of producing NaN.
            pad = pad & ~pad.all(dim=1, keepdim=True)
        seq = self.temporal(seq, src_key_padding_mask=pad)
        link = seq.view(B, 2 * P, T, D).transpose(1, 2)  # [B, T, 2P, D]

        gate = torch.sigmoid(self.lin_gate(link))  # [B, T, 2P, 1]
        msg = F.dropout(torch.cat([recv, link], dim=-1), p=self.dropout,
                        training=self.training)
        msg = gate * F.gelu(self.lin_msg(msg))
        if edge_mask is not None:
            keep = torch.cat([edge_mask, edge_mask], dim=2)
            msg = msg * keep.unsqueeze(-1).to(msg.dtype)
        receiver = torch.cat([dst, src])
        m = msg.new_zeros(B, T, S, D).index_add_(2, receiver, msg)
        if self.msg_scale is not None:
            m = (F.normalize(m, dim=-1) * x.norm(dim=-1, keepdim=True) *
                 self.msg_scale)
        out = F.gelu(self.lin_update(self.lin_res(x) + m))
        gates = gate.view(B, T, 2, P).permute(0, 1, 3, 2)
        return out, gates


# Norm, readout, prompt, encoder ############################################

def dense_vgnorm(norm: VGNorm, x: Tensor, mask: Tensor,
                 training: bool) -> Tuple[Tensor, Tensor]:
    r""":class:`~pyg_proda.nn.VGNorm` on ``[B, T, S, C]``; returns the
    output and the frame mean used (batch statistic in training, the buffer
    otherwise)."""
    B, T, S, D = x.shape
    m = mask.unsqueeze(-1).to(x.dtype)
    if training:
        count = mask.sum(dim=(0, 2)).to(x.dtype)  # [T]
        mu = (x * m).sum(dim=(0, 2, 3)) / (count * D).clamp(min=1)
    else:
        mu = norm.running_mean[:T].to(x.dtype)
    x_hat = x - (norm.mean_scale[:T] * mu).view(1, T, 1, 1)
    denom = (mask.sum(dim=2).to(x.dtype) * D - 1).clamp(min=1)  # [B, T]
    var = (x_hat.pow(2) * m).sum(dim=(2, 3)) / denom
    y = (norm.weight[:T].view(1, T, 1, 1) * x_hat /
         (var + norm.eps).sqrt().view(B, T, 1, 1) +
         norm.bias[:T].view(1, T, 1, 1))
    return y, mu


def dense_readout(readout: SSGReadout, x: Tensor,
                  mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    r""":class:`~pyg_proda.nn.SSGReadout` on ``[B, T, S, C]`` with
    ``T <= max_frames``."""
    B, T, S, C = x.shape
    Tm = readout.max_frames
    alpha = torch.sigmoid(readout.node_gate(x)) * mask.unsqueeze(-1)
    pooled = x.new_zeros(B, Tm, C)
    pooled[:, :T] = (alpha * x).sum(dim=2)
    frame_mask = torch.zeros(B, Tm, dtype=torch.bool)
    frame_mask[:, :T] = mask.any(dim=2)
    z = readout.frame_ffn(pooled)
    s = torch.sigmoid(readout.frame_gate(z)).squeeze(-1) * frame_mask
    out = readout.graph_ffn((s.unsqueeze(-1) * z).sum(dim=1))
    return out, s, frame_mask


def dense_dpm(dpm: DynamicPrompt, x: Tensor, spec: Tensor
              ) -> Tuple[Tensor, Tensor]:
    r""":class:`~pyg_proda.nn.DynamicPrompt` on ``[B, T, S, C]`` with
    :obj:`spec` ``[B, spec_dim]``; returns the output and the weights
    ``[B, T, S, K]``."""
    B, K, C = x.size(0), dpm.num_prompts, dpm.channels
    q = (spec @ dpm.lin_prompts.weight.t() + dpm.lin_prompts.bias)
    q = q.view(B, 1, 1, K, C)
    t = spec @ dpm.lin_spec.weight.t() + dpm.lin_spec.bias  # [B, C]
    h = dpm.norm(t.view(B, 1, 1, C) + x)
    w = torch.sigmoid(h @ dpm.lin_weight.weight.t() + dpm.lin_weight.bias)
    return x + (w.unsqueeze(-1) * q).sum(dim=-2), w


def dense_encoder(enc: SpatioTemporalEncoder, x: Tensor,
                  mask: Tensor) -> Tensor:
    r""":class:`~pyg_proda.nn.SpatioTemporalEncoder` on ``[B, T, S, C]``."""
    B, T, S, C = x.shape
    x = x + enc.frame_emb.weight[:T].view(1, T, 1, C)

    def spatial(block: GroupedTransformerBlock, h: Tensor) -> Tensor:
        out = dense_attention([to_encoder_layer(block)],
                              h.reshape(B * T, S, C), mask.reshape(B * T, S))
        return out.view(B, T, S, C)

    def temporal(block: GroupedTransformerBlock, h: Tensor) -> Tensor:
        seq = h.transpose(1, 2).reshape(B * S, T, C)
        out = dense_attention([to_encoder_layer(block)], seq,
                              mask.transpose(1, 2).reshape(B * S, T))
        return out.view(B, S, T, C).transpose(1, 2)

    h_st, h_ts = x, x
    for i in range(enc.num_layers):
        h_st = temporal(enc.st_temporal[i], spatial(enc.st_spatial[i], h_st))
        h_ts = spatial(enc.ts_spatial[i], temporal(enc.ts_temporal[i], h_ts))
    return enc.lin_fuse(torch.cat([h_st, h_ts], dim=-1))
