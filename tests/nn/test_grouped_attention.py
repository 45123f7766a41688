import pytest
import torch

from pyg_proda.nn import (
    IMPLS,
    GroupedSelfAttention,
    GroupedTransformerBlock,
    make_groups,
)
from pyg_proda.testing import dense_attention, to_encoder_layer, to_mha


def ragged(sizes, channels=8, seed=0):
    r"""Rows of groups of the given sizes, in a shuffled order, plus their
    padded ``[G, L, C]`` layout and mask."""
    gen = torch.Generator().manual_seed(seed)
    G, L = len(sizes), max(sizes)
    dense = torch.randn(G, L, channels, generator=gen, dtype=torch.float64)
    mask = torch.arange(L).view(1, L) < torch.tensor(sizes).view(G, 1)
    rows = mask.nonzero()  # [n, 2] (group, position)
    perm = torch.randperm(rows.size(0), generator=gen)
    rows = rows[perm]
    return dense[rows[:, 0], rows[:, 1]], rows[:, 0], dense, mask, rows


def test_make_groups_pairs():
    group = torch.tensor([4, 1, 4, 1, 1, 7])
    g = make_groups(group)
    pairs = set(zip(g.query.tolist(), g.key.tolist()))
    expected = {(i, j) for i in range(6) for j in range(6)
                if group[i] == group[j]}
    assert pairs == expected
    assert g.query.numel() == 2 * 2 + 3 * 3 + 1
    assert torch.all(g.query[1:] >= g.query[:-1])  # sorted by query
    # Padded layout: groups 1, 4, 7 -> 0, 1, 2; largest group has 3 rows.
    assert g.mask.tolist() == [[True] * 3, [True, True, False],
                               [True, False, False]]
    assert g.index.tolist() == [3, 0, 4, 1, 2, 6]
    # Explicit consecutive ids give the same layout.
    g2 = make_groups(torch.tensor([1, 0, 1, 0, 0, 2]), num_groups=3)
    for a, b in zip(g, g2):
        assert (a is None and b is None) or torch.equal(a, b)


def test_empty_group_with_explicit_num_groups():
    g = make_groups(torch.tensor([0, 2, 2]), num_groups=3)
    assert g.mask.tolist() == [[True, False], [True, False], [True, True]]
    x = torch.randn(3, 4, requires_grad=True)
    attn = GroupedSelfAttention(4)
    out = [attn(x, g)]
    attn.impl = 'sdpa'
    out.append(attn(x, g))
    assert torch.allclose(out[0], out[1], atol=1e-6)
    out[1].sum().backward()
    assert torch.isfinite(x.grad).all()


def test_make_groups_errors_and_empty():
    with pytest.raises(ValueError, match='non-negative'):
        make_groups(torch.tensor([0, -1]))
    with pytest.raises(ValueError, match='out of range'):
        make_groups(torch.tensor([0, 3]), num_groups=3)
    with pytest.raises(ValueError, match='1-D integer'):
        make_groups(torch.tensor([0.0, 1.0]))
    g = make_groups(torch.zeros(0, dtype=torch.long))
    assert g.query.numel() == 0
    for impl in IMPLS:
        attn = GroupedSelfAttention(4, impl=impl)
        assert attn(torch.zeros(0, 4), g).shape == (0, 4)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('heads', [1, 2, 4])
def test_attention_matches_dense_mha(heads, impl):
    sizes = [1, 5, 3, 7, 2]
    x, group, dense, mask, rows = ragged(sizes)
    attn = GroupedSelfAttention(8, heads=heads, impl=impl).double().eval()
    out = attn(x, make_groups(group))
    ref = dense_attention([to_mha(attn)], dense, mask)
    assert torch.allclose(out, ref[rows[:, 0], rows[:, 1]], atol=1e-10)


@pytest.mark.parametrize('impl', IMPLS)
def test_block_matches_torch_encoder_layer(impl):
    sizes = [4, 1, 6, 2]
    x, group, dense, mask, rows = ragged(sizes, seed=1)
    block = GroupedTransformerBlock(8, heads=2, ff_channels=16, impl=impl)
    block = block.double()
    block.eval()
    out = block(x, make_groups(group))
    ref = dense_attention([to_encoder_layer(block)], dense, mask)
    assert torch.allclose(out, ref[rows[:, 0], rows[:, 1]], atol=1e-10)


@pytest.mark.parametrize('impl', IMPLS)
def test_permutation_equivariance_and_singletons(impl):
    x, group, *_ = ragged([3, 1, 4], seed=2)
    block = GroupedTransformerBlock(8, heads=2, impl=impl).double().eval()
    out = block(x, make_groups(group))
    perm = torch.randperm(x.size(0))
    out_perm = block(x[perm], make_groups(group[perm]))
    assert torch.allclose(out_perm, out[perm], atol=1e-10)
    # A group of one row attends only to itself: attention = out_proj(v).
    attn = GroupedSelfAttention(8, heads=2, impl=impl).double()
    single = attn(x, make_groups(torch.arange(x.size(0))))
    v = attn.lin_qkv(x)[:, 16:]
    assert torch.allclose(single, attn.lin_out(v), atol=1e-10)


@pytest.mark.parametrize('impl', IMPLS)
def test_gradients_reach_every_parameter(impl):
    x, group, *_ = ragged([3, 2], seed=3)
    x = x.float().requires_grad_()
    block = GroupedTransformerBlock(8, heads=2, dropout=0.1, impl=impl)
    block(x, make_groups(group)).square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


def test_errors_and_repr():
    with pytest.raises(ValueError, match='must divide'):
        GroupedSelfAttention(10, heads=3)
    with pytest.raises(ValueError, match='activation'):
        GroupedTransformerBlock(8, activation='tanh')
    with pytest.raises(ValueError, match="unknown impl 'flash'"):
        GroupedSelfAttention(8, impl='flash')
    assert repr(GroupedSelfAttention(8, 2)) == \
        'GroupedSelfAttention(8, heads=2, impl=scatter)'


@pytest.mark.parametrize('impl', IMPLS)
def test_compile_without_graph_breaks(impl):
    x, group, *_ = ragged([3, 2, 4], seed=4)
    x = x.float()
    block = GroupedTransformerBlock(8, heads=2, impl=impl).eval()
    groups = make_groups(group)
    compiled = torch.compile(block, backend='eager', fullgraph=True)
    assert torch.allclose(compiled(x, groups), block(x, groups), atol=1e-6)


def test_relative_positions_stored():
    group = torch.tensor([0, 0, 1, 0])
    order = torch.tensor([5, 2, 7, 9])
    g = make_groups(group, order=order)
    for q, k, r in zip(g.query.tolist(), g.key.tolist(), g.rel.tolist()):
        assert r == order[k] - order[q]
    # Packed layout: the same offsets at every (query, key) position.
    pos = {i: divmod(int(p), g.pack_mask.size(1))
           for i, p in enumerate(g.pack_index)}
    for q, k in zip(g.query.tolist(), g.key.tolist()):
        (rq, pq), (rk, pk) = pos[q], pos[k]
        assert rq == rk
        assert int(g.pack_rel[rq, pq, pk]) == order[k] - order[q]
    with pytest.raises(ValueError, match="'order'"):
        make_groups(group, order=order.float())
    with pytest.raises(ValueError, match="'order'"):
        make_groups(group, order=order[:2])
    e = make_groups(torch.zeros(0, dtype=torch.long),
                    order=torch.zeros(0, dtype=torch.long))
    assert e.rel.numel() == 0


@pytest.mark.parametrize('impl', ['scatter', 'sdpa'])
def test_relative_bias(impl):
    torch.manual_seed(0)
    group = torch.tensor([0, 0, 0, 1, 1, 2, 0, 1])
    order = torch.tensor([0, 1, 2, 0, 3, 4, 3, 1])
    g = make_groups(group, order=order)
    x = torch.randn(8, 8, dtype=torch.float64)
    attn = GroupedSelfAttention(8, heads=2, impl=impl,
                                max_relative_position=2).double()
    plain = GroupedSelfAttention(8, heads=2, impl=impl).double()
    plain.load_state_dict(attn.state_dict(), strict=False)
    # Directional start: head 0 damps later keys, head 1 earlier ones.
    k = 2
    assert attn.rel_bias[0, k + 1:].eq(-4).all()
    assert attn.rel_bias[0, :k + 1].eq(0).all()
    assert attn.rel_bias[1, :k].eq(-4).all()
    assert attn.rel_bias[1, k:].eq(0).all()
    # A zero bias is the same function as no bias.
    with torch.no_grad():
        attn.rel_bias.zero_()
    assert torch.allclose(attn(x, g), plain(x, g), atol=1e-12)
    # Reference: dense per-group attention with the bias of each offset.
    with torch.no_grad():
        attn.rel_bias.copy_(torch.randn(2, 5))
    out = attn(x, g)
    q, k, v = attn.lin_qkv(x).view(8, 3, 2, 4).unbind(1)
    ref = torch.zeros(8, 2, 4, dtype=torch.float64)
    for i in range(8):
        js = (group == group[i]).nonzero().view(-1)
        off = (order[js] - order[i]).clamp(-2, 2) + 2
        logits = (q[i].unsqueeze(0) * k[js]).sum(-1) / 2.0  # [J, H]
        logits = logits + attn.rel_bias[:, off].t()
        ref[i] = (logits.softmax(0).unsqueeze(-1) * v[js]).sum(0)
    ref = attn.lin_out(ref.view(8, 8))
    assert torch.allclose(out, ref, atol=1e-10)
    # Gradient reaches the bias table.
    out.sum().backward()
    assert attn.rel_bias.grad is not None
    assert attn.rel_bias.grad.abs().sum() > 0
    # Groups without relative positions are refused.
    with pytest.raises(ValueError, match='order='):
        attn(x, make_groups(group))
    with pytest.raises(ValueError, match='max_relative_position'):
        GroupedSelfAttention(8, max_relative_position=-1)


def test_make_groups_one_layout():
    group = torch.tensor([3, 0, 3, 3, 1, 0, 3, 2, 3, 3, 3])
    order = torch.arange(11) % 5
    full = make_groups(group, order=order)
    pairs = make_groups(group, order=order, impl='scatter')
    packed = make_groups(group, order=order, impl='sdpa')
    for name in ('query', 'key', 'rel'):
        assert torch.equal(getattr(pairs, name), getattr(full, name))
        assert getattr(packed, name) is None
    for name in ('pack_index', 'pack_mask', 'pack_rel'):
        assert torch.equal(getattr(packed, name), getattr(full, name))
        assert getattr(pairs, name) is None
    # This packing saves work, so the padded layout is not built.
    assert full.pack_mask.size(1) < full.mask.size(1) or \
        full.pack_mask.size(0) < full.mask.size(0)
    assert packed.index is None and packed.mask is None
    # Equal-sized groups: the packing falls back to the padded layout.
    same = make_groups(torch.tensor([0, 1, 0, 1]), impl='sdpa')
    assert torch.equal(same.pack_index, same.index)
    assert same.pack_mask.shape == (2, 2, 2)
    with pytest.raises(ValueError, match="unknown impl 'dense'"):
        make_groups(group, impl='dense')
    empty = make_groups(torch.zeros(0, dtype=torch.long), impl='sdpa')
    assert empty.query is None and empty.pack_index.numel() == 0


def test_attention_rejects_groups_of_the_other_layout():
    x = torch.randn(3, 8)
    group = torch.tensor([0, 0, 1])
    with pytest.raises(ValueError, match="impl='scatter' needs"):
        GroupedSelfAttention(8)(x, make_groups(group, impl='sdpa'))
    with pytest.raises(ValueError, match="impl='sdpa' needs"):
        GroupedSelfAttention(8, impl='sdpa')(x, make_groups(group,
                                                            impl='scatter'))


@pytest.mark.parametrize('layout,rel', [('packed', 0), ('packed', 2),
                                        ('padded', 0)])
def test_sdpa_dropout_path_matches_eval_attention(layout, rel):
    # Training with a vanishing dropout runs sdpa's dropout path and must
    # equal the eval-mode attention and the edge-wise 'scatter' attention.
    x, group, *_ = ragged([1, 5, 3, 7, 2], seed=5)
    order = torch.arange(x.size(0)) % 4
    g = make_groups(group, order=order)
    if layout == 'padded':
        g = g._replace(pack_index=None, pack_mask=None)
    attn = GroupedSelfAttention(8, heads=2, dropout=1e-12, impl='sdpa',
                                max_relative_position=rel).double()
    if rel:
        with torch.no_grad():
            attn.rel_bias.normal_()
    ref = attn.eval()(x, g)
    out = attn.train()(x, g)
    assert torch.allclose(out, ref, atol=1e-10)
    scatter = GroupedSelfAttention(8, heads=2, impl='scatter',
                                   max_relative_position=rel).double()
    scatter.load_state_dict(attn.state_dict())
    assert torch.allclose(out, scatter.eval()(x, g), atol=1e-10)
    out.square().sum().backward()
    for name, p in attn.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_sdpa_dropout_stays_inside_groups():
    x, group, *_ = ragged([4, 3, 6], seed=6)
    g = make_groups(group, impl='sdpa')
    attn = GroupedSelfAttention(8, heads=2, dropout=0.5, impl='sdpa').double()
    torch.manual_seed(0)
    out = attn(x, g)
    torch.manual_seed(0)
    assert torch.equal(attn(x, g), out)  # same draws for the same shapes
    assert not torch.allclose(out, attn.eval()(x, g))  # dropout is applied
    attn.train()
    # Changing the rows of group 1 leaves the other groups untouched.
    x2 = x.clone()
    x2[group == 1] += 1.0
    torch.manual_seed(0)
    out2 = attn(x2, g)
    keep = group != 1
    assert torch.allclose(out2[keep], out[keep], atol=1e-12)
    assert not torch.allclose(out2[~keep], out[~keep])
