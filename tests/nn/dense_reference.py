r"""Dense, padded reference implementations of the :mod:`pyg_proda.nn`
layers, used to prove the sparse layers right.

The dense layout is the authors' one: nodes in ``[B, T, S, C]`` slots
(graph, frame, track slot) with a boolean mask, relations in
``[B, T, S, S, R, D]`` (graph, frame, source slot, destination slot,
relation type) with a mask. Attention uses :mod:`torch.nn`'s own
``MultiheadAttention`` / ``TransformerEncoderLayer`` with key padding masks,
loaded with the weights of the sparse modules, so the reference shares no
attention code with the implementation under test.
"""
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
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


# Random SSGs in homogeneous form ############################################

@dataclass
class SSG:
    r"""A batch of SSGs as homogeneous tensors (the fields the layers read)."""
    x: Tensor
    batch: Tensor
    frame: Tensor
    track: Tensor
    edge_index: Tensor
    edge_type: Tensor
    edge_attr: Tensor
    edge_frame: Tensor
    num_graphs: int
    num_frames: int

    def permuted(self, node_perm: Tensor, edge_perm: Tensor) -> 'SSG':
        r"""The same graph with nodes reordered by :obj:`node_perm` (new
        node ``i`` is old node ``node_perm[i]``) and edges by
        :obj:`edge_perm`."""
        inv = torch.empty_like(node_perm)
        inv[node_perm] = torch.arange(node_perm.numel())
        return SSG(self.x[node_perm], self.batch[node_perm],
                   self.frame[node_perm], self.track[node_perm],
                   inv[self.edge_index[:, edge_perm]],
                   self.edge_type[edge_perm], self.edge_attr[edge_perm],
                   self.edge_frame[edge_perm], self.num_graphs,
                   self.num_frames)


def random_ssg(
    presence: Sequence[Tensor],
    channels: int = 8,
    num_types: int = 2,
    edge_dim: int = 3,
    edge_prob: Union[float, Sequence[float]] = 0.5,
    edge_frames: Optional[Sequence[Optional[Sequence[int]]]] = None,
    dtype: torch.dtype = torch.float64,
    generator: Optional[torch.Generator] = None,
) -> SSG:
    r"""Builds a random batch of SSGs directly as homogeneous tensors.

    Args:
        presence: One bool ``[T, S_b]`` per video: whether track slot ``s``
            has a node in frame ``t``. All videos share ``T``.
        edge_prob: Probability of each (ordered pair of present slots,
            relation type) edge in a frame; one value or one per video.
        edge_frames: Per video, the frames allowed to hold edges
            (:obj:`None` = all).
    """
    g = generator
    batch, frame, track = [], [], []
    edges, types, frames = [], [], []
    T = presence[0].size(0)
    n, track_offset = 0, 0
    for b, pres in enumerate(presence):
        assert pres.size(0) == T
        S = pres.size(1)
        index = {}
        for t in range(T):
            for s in range(S):
                if pres[t, s]:
                    index[(t, s)] = n
                    n += 1
                    batch.append(b)
                    frame.append(t)
                    track.append(track_offset + s)
        allowed = None if edge_frames is None else edge_frames[b]
        prob = (edge_prob if isinstance(edge_prob, (int, float)) else
                edge_prob[b])
        for t in range(T):
            if allowed is not None and t not in allowed:
                continue
            for s in range(S):
                for d in range(S):
                    if s == d or (t, s) not in index or (t, d) not in index:
                        continue
                    for r in range(num_types):
                        if torch.rand(1, generator=g).item() < prob:
                            edges.append((index[(t, s)], index[(t, d)]))
                            types.append(r)
                            frames.append(t)
        track_offset += S
    x = torch.randn(n, channels, generator=g, dtype=dtype)
    e = len(edges)
    edge_index = torch.tensor(edges, dtype=torch.long).view(e, 2).t()
    edge_attr = torch.rand(e, edge_dim, generator=g, dtype=dtype)
    return SSG(x, torch.tensor(batch), torch.tensor(frame),
               torch.tensor(track), edge_index.contiguous(),
               torch.tensor(types, dtype=torch.long), edge_attr,
               torch.tensor(frames, dtype=torch.long), len(presence), T)


# Sparse <-> dense ###########################################################

def track_slots(batch: Tensor, track: Tensor) -> Tuple[Tensor, int]:
    r"""Slot of each node: rank of its track among the tracks of its graph.
    Returns ``(slot [N], S)``."""
    pairs = torch.stack([batch, track], dim=1).tolist()
    first = {}
    slot = []
    for b, tr in pairs:
        per = first.setdefault(b, {})
        slot.append(per.setdefault(tr, len(per)))
    S = max((len(v) for v in first.values()), default=1)
    return torch.tensor(slot, dtype=torch.long), S


@dataclass
class Dense:
    r"""Dense layout of an :class:`SSG`."""
    x: Tensor  # [B, T, S, C]
    mask: Tensor  # [B, T, S]
    attr: Tensor  # [B, T, S, S, R, D] (source slot, destination slot)
    edge_mask: Tensor  # [B, T, S, S, R]
    slot: Tensor  # [N]


def to_dense(g: SSG, num_types: int) -> Dense:
    r"""Scatters an :class:`SSG` into the dense slot layout."""
    slot, S = track_slots(g.batch, g.track)
    B, T, C = g.num_graphs, g.num_frames, g.x.size(1)
    x = g.x.new_zeros(B, T, S, C)
    mask = torch.zeros(B, T, S, dtype=torch.bool)
    x[g.batch, g.frame, slot] = g.x
    mask[g.batch, g.frame, slot] = True
    R, D = num_types, g.edge_attr.size(1)
    attr = g.edge_attr.new_zeros(B, T, S, S, R, D)
    edge_mask = torch.zeros(B, T, S, S, R, dtype=torch.bool)
    src, dst = g.edge_index
    key = (g.batch[src], g.edge_frame, slot[src], slot[dst], g.edge_type)
    attr[key] = g.edge_attr
    edge_mask[key] = True
    # The dense layout needs one edge per (frame, pair); check no duplicate.
    assert int(edge_mask.sum()) == src.numel(), 'duplicate edges'
    return Dense(x, mask, attr, edge_mask, slot)


def from_dense(dense_x: Tensor, g: SSG, slot: Tensor) -> Tensor:
    r"""Gathers the real entries ``[N, ...]`` of a ``[B, T, S, ...]``
    tensor in the node order of :obj:`g`."""
    return dense_x[g.batch, g.frame, slot]


# Attention ##################################################################

def to_mha(attn: GroupedSelfAttention) -> MultiheadAttention:
    r"""A :class:`torch.nn.MultiheadAttention` with the weights of
    :obj:`attn`."""
    ref = MultiheadAttention(attn.channels, attn.heads, dropout=0.0,
                             batch_first=True)
    ref = ref.to(attn.lin_qkv.weight.dtype)
    with torch.no_grad():
        ref.in_proj_weight.copy_(attn.lin_qkv.weight)
        ref.in_proj_bias.copy_(attn.lin_qkv.bias)
        ref.out_proj.weight.copy_(attn.lin_out.weight)
        ref.out_proj.bias.copy_(attn.lin_out.bias)
    return ref.eval()


def to_encoder_layer(block: GroupedTransformerBlock
                     ) -> TransformerEncoderLayer:
    r"""A post-norm :class:`torch.nn.TransformerEncoderLayer` with the
    weights of :obj:`block`."""
    ref = TransformerEncoderLayer(block.channels, block.heads,
                                  block.ff_channels, dropout=0.0,
                                  activation='gelu', batch_first=True,
                                  norm_first=False)
    ref = ref.to(block.lin1.weight.dtype)
    ref.self_attn = to_mha(block.attn)
    with torch.no_grad():
        for name in ('lin1', 'lin2', 'norm1', 'norm2'):
            dense = getattr(ref, {'lin1': 'linear1', 'lin2': 'linear2'}.get(
                name, name))
            dense.weight.copy_(getattr(block, name).weight)
            dense.bias.copy_(getattr(block, name).bias)
    return ref.eval()


def dense_attention(layers: List[torch.nn.Module], seq: Tensor,
                    mask: Tensor) -> Tensor:
    r"""Runs :obj:`layers` (``MultiheadAttention`` or
    ``TransformerEncoderLayer``) over ``seq`` ``[G, L, C]`` with the valid
    entries ``mask`` ``[G, L]``; fully padded rows stay zero."""
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

def dense_vgpnn(conv: VGPNNConv, d: Dense) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The VGPNN layer on the dense layout. Returns the node outputs
    ``[B, T, S, C]`` and the gates of the messages to the destination and to
    the source, both ``[B, T, S, S, R]``."""
    B, T, S, C = d.x.shape
    R = d.edge_mask.size(-1)
    shape = (B, T, S, S, R, C)
    x_src = d.x[:, :, :, None, None, :].expand(shape)
    x_dst = d.x[:, :, None, :, None, :].expand(shape)
    pos = conv.frame_emb.weight[:T].view(1, T, 1, 1, 1, -1)
    layers = [to_encoder_layer(block) for block in conv.temporal]
    seq_mask = d.edge_mask.permute(0, 2, 3, 4, 1).reshape(-1, T)

    def link(recv: Tensor, send: Tensor) -> Tensor:
        h = conv.edge_mlp(torch.cat([recv, send, d.attr], dim=-1)) + pos
        out_c = h.size(-1)
        seq = h.permute(0, 2, 3, 4, 1, 5).reshape(-1, T, out_c)
        seq = dense_attention(layers, seq, seq_mask)
        return seq.view(B, S, S, R, T, out_c).permute(0, 4, 1, 2, 3, 5)

    emask = d.edge_mask.unsqueeze(-1).to(d.x.dtype)
    link_dst, link_src = link(x_dst, x_src), link(x_src, x_dst)
    gate_dst = torch.sigmoid(conv.lin_gate(link_dst))
    gate_src = torch.sigmoid(conv.lin_gate(link_src))
    msg_dst = gate_dst * F.gelu(conv.lin_msg(torch.cat([x_dst, link_dst], -1)))
    msg_src = gate_src * F.gelu(conv.lin_msg(torch.cat([x_src, link_src], -1)))
    # Messages to slot d sum over sources s and types; to s over d and types.
    m = (msg_dst * emask).sum(dim=(2, 4)) + (msg_src * emask).sum(dim=(3, 4))
    if conv.msg_norm is not None:
        m = (F.normalize(m, dim=-1) * d.x.norm(dim=-1, keepdim=True) *
             conv.msg_norm.scale)
    out = F.gelu(conv.lin_update(conv.lin_res(d.x) + m))
    return out, gate_dst.squeeze(-1), gate_src.squeeze(-1)


def edge_values(dense_e: Tensor, g: SSG, slot: Tensor) -> Tensor:
    r"""Gathers ``[B, T, S, S, R]`` values at the edges of :obj:`g`."""
    src, dst = g.edge_index
    return dense_e[g.batch[src], g.edge_frame, slot[src], slot[dst],
                   g.edge_type]


# Norm, readout, prompt, encoder ############################################

def dense_vgnorm(norm: VGNorm, x: Tensor, mask: Tensor,
                 training: bool) -> Tuple[Tensor, Tensor]:
    r"""VGNorm on ``[B, T, S, C]``; returns the output and the frame mean
    used (batch statistic in training, the buffer otherwise)."""
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
    r"""SSGReadout on ``[B, T, S, C]`` with ``T <= max_frames``."""
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
    r"""DynamicPrompt on ``[B, T, S, C]`` with ``spec`` ``[B, spec_dim]``;
    returns the output and the weights ``[B, T, S, K]``."""
    B, K, C = x.size(0), dpm.num_prompts, dpm.channels
    q = (spec @ dpm.lin_prompts.weight.t() + dpm.lin_prompts.bias)
    q = q.view(B, 1, 1, K, C)
    t = spec @ dpm.lin_spec.weight.t() + dpm.lin_spec.bias  # [B, C]
    h = dpm.norm(t.view(B, 1, 1, C) + x)
    w = torch.sigmoid(h @ dpm.lin_weight.weight.t() + dpm.lin_weight.bias)
    return x + (w.unsqueeze(-1) * q).sum(dim=-2), w


def dense_encoder(enc: SpatioTemporalEncoder, x: Tensor,
                  mask: Tensor) -> Tensor:
    r"""SpatioTemporalEncoder on ``[B, T, S, C]``."""
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
