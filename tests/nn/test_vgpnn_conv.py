from typing import Tuple

import pytest
import torch
from torch import Tensor
from torch_geometric.data import Batch

from pyg_proda.data import (
    Detection,
    Relation,
    build_video_graph,
    to_homogeneous,
)
from pyg_proda.nn import VGPNNConv, edge_pair_index, vgpnn_groups
from pyg_proda.testing import SSG, DenseVGPNN, random_ssg

NUM_TYPES = 2


def mixed_batch(seed: int = 0) -> SSG:
    r"""Four videos of 5 frames: random presence; one node per frame; 12
    nodes per frame; a track that disappears in frame 2 and comes back,
    with edges only in some frames."""
    gen = torch.Generator().manual_seed(seed)
    reappear = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 1, 1],
                             [1, 1, 1]], dtype=torch.bool)
    presence = [torch.rand(5, 5, generator=gen) < 0.7,
                torch.ones(5, 1, dtype=torch.bool),
                torch.ones(5, 12, dtype=torch.bool),
                reappear]
    # Video 3 has all edges in frames 0, 2 and 4; frames 1 and 3 have
    # nodes but no edge.
    return random_ssg(presence, channels=8, num_types=NUM_TYPES, edge_dim=3,
                      edge_prob=[0.3, 0.3, 0.1, 1.0],
                      edge_frames=[None, None, None, [0, 2, 4]],
                      generator=gen)


def run_conv(conv: VGPNNConv, g: SSG):
    pair = edge_pair_index(g.edge_index, g.edge_type, g.track)
    return conv(g.x, g.edge_index, g.edge_attr, g.edge_frame, pair,
                return_gates=True)


def run_dense(conv: VGPNNConv, g: SSG) -> Tuple[Tensor, Tensor]:
    r"""The dense reference of :obj:`conv` on the all-pairs padded copy of
    :obj:`g`, read back at the real nodes and edges."""
    d = g.pad('all')
    out, gates = DenseVGPNN.from_sparse(conv)(d.x, d.edge_attr, d.pairs,
                                              d.edge_mask)
    return d.gather_nodes(out, g.batch, g.frame), d.gather_edges(gates)


def make_conv(in_channels=8, out_channels=8, **kwargs) -> VGPNNConv:
    torch.manual_seed(0)
    conv = VGPNNConv(in_channels, out_channels, edge_dim=3, heads=2,
                     num_temporal_layers=2, max_frames=6, ff_channels=16,
                     **kwargs)
    return conv.double().eval()


def test_edge_pair_index():
    # Frame 0: nodes 0 (track 0), 1 (track 1); frame 1: 2 (0), 3 (1).
    edge_index = torch.tensor([[0, 2, 0, 1, 3], [1, 3, 1, 0, 2]])
    edge_type = torch.tensor([0, 0, 1, 0, 0])
    track = torch.tensor([0, 1, 0, 1])
    pair = edge_pair_index(edge_index, edge_type, track)
    assert pair.tolist() == [0, 0, 1, 2, 2]
    # With `batch`, equal tracks of different graphs are different pairs.
    batch = torch.tensor([0, 0, 1, 1])
    pair = edge_pair_index(edge_index, edge_type, track, batch)
    assert pair.tolist() == [0, 3, 1, 2, 4]
    empty = edge_pair_index(torch.zeros(2, 0, dtype=torch.long),
                            torch.zeros(0, dtype=torch.long), track)
    assert empty.shape == (0, )


def test_mixed_batch_has_the_edge_cases():
    g = mixed_batch()
    frames_with_edges = set(g.edge_frame[g.batch[g.edge_index[0]] == 3]
                            .tolist())
    assert frames_with_edges == {0, 2, 4}
    assert ((g.batch == 1).sum() == 5) and ((g.batch == 2).sum() == 60)
    # The track of slot 2 in video 3 misses frame 1 yet has edges in 0, 2, 4.
    d = g.pad()
    assert not d.node_mask[3, 1, 2] and d.node_mask[3, 2, 2]
    to_slot_2 = d.pairs[:, 1] == 2
    assert (d.edge_mask[3, 0, to_slot_2].any() and
            d.edge_mask[3, 2, to_slot_2].any())


@pytest.mark.parametrize('in_channels,message_norm,impl', [
    (8, False, 'scatter'), (8, True, 'scatter'), (6, False, 'scatter'),
    (6, False, 'sdpa')])
def test_matches_dense_reference(in_channels, message_norm, impl):
    g = mixed_batch()
    g.x = g.x[:, :in_channels]
    conv = make_conv(in_channels, 8, message_norm=message_norm,
                     attention_impl=impl)
    out, gates = run_conv(conv, g)
    ref, ref_gates = run_dense(conv, g)
    assert torch.allclose(out, ref, atol=1e-10)
    assert torch.allclose(gates[:, 0], ref_gates[:, 0], atol=1e-10)
    assert torch.allclose(gates[:, 1], ref_gates[:, 1], atol=1e-10)


def ag_batch() -> SSG:
    r"""Two videos built with :func:`build_video_graph`, batched and made
    homogeneous."""
    def det(track, kind, cls, shift=0.0):
        return Detection(track, kind, cls, (shift, .1, shift + .3, .6))

    frames_a = [[det(0, 'person', 0), det(1, 'object', 3), det(2, 'object', 5)],
                [det(0, 'person', 0, .1), det(1, 'object', 3, .2)],
                [det(0, 'person', 0, .2), det(1, 'object', 3),
                 det(2, 'object', 5, .3)]]
    rels_a = [[Relation(0, 'attention', 1, [0]), Relation(1, 'spatial', 0,
                                                          [1, 2]),
               Relation(0, 'contacting', 2, [4])],
              [Relation(0, 'attention', 1, [1])],
              [Relation(0, 'contacting', 2, [4, 6]),
               Relation(2, 'spatial', 0, [0])]]
    frames_b = [[det(0, 'person', 0), det(1, 'person', 0, .4),
                 det(2, 'object', 7)],
                [det(0, 'person', 0), det(2, 'object', 7, .1)],
                [det(1, 'person', 0)],
                [det(0, 'person', 0, .3), det(1, 'person', 0, .5),
                 det(2, 'object', 7, .2)]]
    rels_b = [[Relation(0, 'contacting', 2, [1]),
               Relation(1, 'attention', 2, [2])],
              [Relation(0, 'contacting', 2, [1])],
              [],
              [Relation(1, 'attention', 2, [2]),
               Relation(0, 'contacting', 2, [3])]]
    videos = [build_video_graph(f, r, video_id=v, y=torch.zeros(3),
                                node_dim=8)
              for f, r, v in ((frames_a, rels_a, 'a'), (frames_b, rels_b, 'b'))]
    h = to_homogeneous(Batch.from_data_list(videos))
    return SSG(h.x.double(), h.batch, h.frame, h.track, h.edge_index,
               h.edge_type, h.edge_attr.double(), h.edge_frame,
               int(h.num_graphs), int(h.num_frames.max()))


def test_matches_dense_reference_on_built_videos():
    g = ag_batch()
    assert g.num_graphs == 2 and g.edge_index.size(1) == 11
    conv = VGPNNConv(8, 8, edge_dim=g.edge_attr.size(1), heads=2,
                     num_temporal_layers=1, max_frames=4).double().eval()
    out, gates = run_conv(conv, g)
    ref, ref_gates = run_dense(conv, g)
    assert torch.allclose(out, ref, atol=1e-10)
    assert torch.allclose(gates[:, 1], ref_gates[:, 1], atol=1e-10)


def test_permutation_equivariance():
    g = mixed_batch(seed=1)
    conv = make_conv()
    out, gates = run_conv(conv, g)
    node_perm = torch.randperm(g.x.size(0))
    edge_perm = torch.randperm(g.edge_index.size(1))
    out_p, gates_p = run_conv(conv, g.permuted(node_perm, edge_perm))
    assert torch.allclose(out_p, out[node_perm], atol=1e-10)
    assert torch.allclose(gates_p, gates[edge_perm], atol=1e-10)


def video(g: SSG, b: int) -> SSG:
    r"""Graph :obj:`b` of a batch, alone."""
    keep = g.batch == b
    new_id = torch.cumsum(keep.long(), 0) - 1
    ekeep = keep[g.edge_index[0]]
    return SSG(g.x[keep], torch.zeros(int(keep.sum()), dtype=torch.long),
               g.frame[keep], g.track[keep], new_id[g.edge_index[:, ekeep]],
               g.edge_type[ekeep], g.edge_attr[ekeep], g.edge_frame[ekeep],
               1, g.num_frames)


def test_batching_invariance():
    g = mixed_batch(seed=2)
    conv = make_conv()
    out, gates = run_conv(conv, g)
    for b in range(g.num_graphs):
        out_b, gates_b = run_conv(conv, video(g, b))
        assert torch.allclose(out_b, out[g.batch == b], atol=1e-10)
        assert torch.allclose(gates_b, gates[g.batch[g.edge_index[0]] == b],
                              atol=1e-10)


def test_nodes_without_edges_and_no_edges_at_all():
    g = mixed_batch()
    conv = make_conv()
    out, _ = run_conv(conv, g)
    lonely = torch.ones(g.x.size(0), dtype=torch.bool)
    lonely[g.edge_index.flatten()] = False
    assert lonely.any()
    expected = torch.nn.functional.gelu(conv.lin_update(conv.lin_res(g.x)))
    assert torch.allclose(out[lonely], expected[lonely], atol=1e-10)
    empty = torch.zeros(2, 0, dtype=torch.long)
    out_e, gates_e = conv(g.x, empty, g.edge_attr[:0], empty[0], empty[0],
                          return_gates=True)
    assert torch.allclose(out_e, expected, atol=1e-10)
    assert gates_e.shape == (0, 2)


def test_gradients_and_precomputed_groups():
    g = mixed_batch(seed=3)
    conv = VGPNNConv(8, 8, edge_dim=3, heads=2, num_temporal_layers=2,
                     max_frames=6, message_norm=True)
    x, attr = g.x.float().requires_grad_(), g.edge_attr.float()
    pair = edge_pair_index(g.edge_index, g.edge_type, g.track)
    out, gates = conv(x, g.edge_index, attr, g.edge_frame, pair,
                      return_gates=True)
    (out.square().sum() + gates.sum()).backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()

    conv.eval()
    groups = vgpnn_groups(pair)
    with torch.no_grad():
        a = conv(x, g.edge_index, attr, g.edge_frame, pair)
        b = conv(x, g.edge_index, attr, g.edge_frame, None, groups=groups)
    assert torch.equal(a, b)


@pytest.mark.parametrize('impl', ['scatter', 'sdpa'])
def test_compile_fullgraph(impl):
    g = mixed_batch(seed=4)
    conv = VGPNNConv(8, 8, edge_dim=3, heads=2, num_temporal_layers=1,
                     max_frames=6, attention_impl=impl).eval()
    x, attr = g.x.float(), g.edge_attr.float()
    groups = vgpnn_groups(edge_pair_index(g.edge_index, g.edge_type,
                                          g.track))
    compiled = torch.compile(conv, backend='eager', fullgraph=True)
    out, gates = compiled(x, g.edge_index, attr, g.edge_frame, None,
                          return_gates=True, groups=groups)
    ref, ref_gates = conv(x, g.edge_index, attr, g.edge_frame, None,
                          return_gates=True, groups=groups)
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(gates, ref_gates, atol=1e-5)


def test_errors_and_repr():
    conv = VGPNNConv(8, 16, edge_dim=3, heads=4)
    assert repr(conv) == ('VGPNNConv(8, 16, edge_dim=3, heads=4, '
                          'num_temporal_layers=2)')
    with pytest.raises(ValueError, match="'edge_pair' or 'groups'"):
        conv(torch.randn(2, 8), torch.tensor([[0], [1]]), torch.rand(1, 3),
             torch.tensor([0]), None)
    with pytest.raises(ValueError, match='message_norm'):
        VGPNNConv(8, 16, edge_dim=3, heads=4, message_norm=True)


@pytest.mark.parametrize('impl', ['scatter', 'sdpa'])
def test_relative_time_bias(impl):
    g = mixed_batch(seed=5)
    conv = make_conv(attention_impl=impl, max_relative_position=3)
    for block in conv.temporal:
        assert block.attn.rel_bias.shape == (2, 7)
    # Batching invariance holds with the bias (groups built from frames).
    out, gates = run_conv(conv, g)
    for b in range(g.num_graphs):
        out_b, gates_b = run_conv(conv, video(g, b))
        assert torch.allclose(out_b, out[g.batch == b], atol=1e-10)
    # Both backends compute the same function.
    other = make_conv(attention_impl='sdpa' if impl == 'scatter' else
                      'scatter', max_relative_position=3)
    other.load_state_dict(conv.state_dict())
    assert torch.allclose(run_conv(other, g)[0], out, atol=1e-10)
    # The bias makes the layer see the order of the frames: reversing time
    # changes the output (it would not without bias or frame embedding).
    with torch.no_grad():
        conv.frame_emb.weight.zero_()
        flat = make_conv(attention_impl=impl)
        flat.load_state_dict(conv.state_dict(), strict=False)
    rev = SSG(**{**g.__dict__, 'edge_frame': 5 - g.edge_frame})
    assert torch.allclose(run_conv(flat, rev)[0], run_conv(flat, g)[0],
                          atol=1e-10)
    assert not torch.allclose(run_conv(conv, rev)[0], run_conv(conv, g)[0],
                              atol=1e-6)
    # Precomputed groups must carry the frames.
    pair = edge_pair_index(g.edge_index, g.edge_type, g.track)
    with pytest.raises(ValueError, match='order='):
        conv(g.x, g.edge_index, g.edge_attr, g.edge_frame, None,
             groups=vgpnn_groups(pair))
    a = conv(g.x, g.edge_index, g.edge_attr, g.edge_frame, None,
             groups=vgpnn_groups(pair, g.edge_frame))
    assert torch.allclose(a, conv(g.x, g.edge_index, g.edge_attr,
                                  g.edge_frame, pair), atol=1e-12)
