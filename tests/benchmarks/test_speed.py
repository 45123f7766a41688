import json
import os
import os.path as osp
import runpy
import shutil
import statistics
import time

import pytest
import torch

from pyg_proda.nn import VGPNNConv, edge_pair_index, vgpnn_groups
from pyg_proda.profile import (
    compiled,
    count_ops,
    peak_memory,
    speed,
    time_interleaved,
    time_rounds,
    timing,
)
from pyg_proda.profile.speed import report
from pyg_proda.testing import (
    FLOOR_FRAMES,
    SSG,
    DenseVGPNN,
    ag_graph,
    floor_graph,
    sportshhi_graph,
    sweep_graph,
)

SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..',
                  'benchmarks', 'speed.py')


def sparse_and_dense(g, layout, impl='sdpa', message_norm=False):
    conv = speed.make_conv(8, g.edge_attr.size(1), 2, impl,
                           torch.device('cpu'))
    if message_norm:
        torch.manual_seed(1)
        conv = VGPNNConv(8, 8, g.edge_attr.size(1), heads=2,
                         message_norm=True, attention_impl=impl)
        with torch.no_grad():
            conv.msg_norm.scale.fill_(0.7)
    conv = conv.double().eval()
    dense = DenseVGPNN.from_sparse(conv)
    return conv, dense, g.pad(layout)


CASES = [('ag', 'star', 'sdpa', False), ('ag', 'all', 'scatter', False),
         ('ag', 'star', 'scatter', True), ('sportshhi', 'all', 'sdpa', False),
         ('sportshhi', 'all', 'scatter', True)]


@pytest.mark.parametrize('workload,layout,impl,message_norm', CASES)
def test_dense_matches_sparse(workload, layout, impl, message_norm):
    make = ag_graph if workload == 'ag' else sportshhi_graph
    g = make(2, 8, seed=2, dtype=torch.float64)
    conv, dense, d = sparse_and_dense(g, layout, impl, message_norm)
    assert d.pairs.size(0) == (27 if layout == 'star' else
                               d.x.size(2) * (d.x.size(2) - 1) *
                               int(g.edge_type.max() + 1))

    x = g.x.clone().requires_grad_()
    pair = edge_pair_index(g.edge_index, g.edge_type, g.track)
    out, gates = conv(x, g.edge_index, g.edge_attr, g.edge_frame, pair,
                      return_gates=True)
    dx = d.x.clone().requires_grad_()
    ref, ref_gates = dense(dx, d.edge_attr, d.pairs, d.edge_mask)
    ref_out = d.gather_nodes(ref, g.batch, g.frame)
    assert torch.allclose(out, ref_out, atol=1e-10)
    assert torch.allclose(gates, d.gather_edges(ref_gates), atol=1e-10)

    # Same gradients through the real entries.
    w = torch.randn_like(out)
    (out * w).sum().backward()
    (ref_out * w).sum().backward()
    assert torch.allclose(x.grad, d.gather_nodes(dx.grad, g.batch, g.frame),
                          atol=1e-10)
    pairs = [(conv.edge_mlp[0].weight, dense.edge_mlp[0].weight),
             (conv.temporal[0].attn.lin_qkv.weight,
              dense.temporal.layers[0].self_attn.in_proj_weight),
             (conv.temporal[1].lin2.weight, dense.temporal.layers[1].linear2
              .weight), (conv.lin_update.weight, dense.lin_update.weight)]
    for p_sparse, p_dense in pairs:
        assert torch.allclose(p_sparse.grad, p_dense.grad, atol=1e-10)


def test_unmasked_dense_runs_on_every_padded_entry():
    g = ag_graph(2, 8, seed=3)
    conv, dense, d = sparse_and_dense(g, 'star')
    dense = dense.float()
    out, gates = dense(d.x.float(), d.edge_attr.float(), d.pairs)
    assert out.shape == d.x.shape and gates.shape == (*d.edge_mask.shape, 2)
    assert torch.isfinite(out).all()
    # Padded pairs send messages without the mask: the outputs differ.
    masked, _ = dense(d.x.float(), d.edge_attr.float(), d.pairs, d.edge_mask)
    assert not torch.allclose(out, masked)


def test_workload_shapes():
    ag = ag_graph(16, 4, seed=0)
    per_frame = 16 * 16
    assert 2.8 <= ag.x.size(0) / per_frame <= 3.8
    assert 6.0 <= ag.num_edges / per_frame <= 8.0
    counts = torch.bincount(ag.batch * 16 + ag.frame)
    assert int(counts.max()) <= 10
    shhi = sportshhi_graph(16, 4, seed=0)
    assert set(shhi.edge_type.tolist()) == {0}
    assert 4.5 <= shhi.num_edges / per_frame <= 8.0


def test_pad_graph_errors():
    g = sportshhi_graph(2, 4, seed=0)
    with pytest.raises(ValueError, match='needs the direction'):
        g.pad('star')
    star = SSG(**{**g.__dict__, 'layout': 'star', 'outgoing': (True, )})
    with pytest.raises(ValueError, match='no pair in layout'):
        star.pad()  # player-player edges do not all touch slot 0
    with pytest.raises(ValueError, match='unknown layout'):
        g.pad('ring')
    dup = SSG(**{**g.__dict__,
                 'edge_index': g.edge_index[:, [0, 0]],
                 'edge_type': g.edge_type[:2],
                 'edge_attr': g.edge_attr[:2],
                 'edge_frame': g.edge_frame[[0, 0]]})
    with pytest.raises(ValueError, match='share a pair'):
        dup.pad()


def test_peak_memory_counts_step_allocations():
    def step():
        a = torch.ones(1000, 1000)  # 4 MB alive
        b = a * 2  # 8 MB alive at the peak
        del a, b
    peak = peak_memory(step, torch.device('cpu'))
    assert 8e6 <= peak < 9e6


def test_time_interleaved_runs_steps_in_rounds():
    calls = []
    steps = [lambda i=i: calls.append(i) for i in range(3)]
    times = time_interleaved(steps, torch.device('cpu'), repeats=2,
                             warmup=1)
    # A warm-up round, then two rounds in which every step runs twice.
    assert calls == [0, 1, 2] + [0, 0, 1, 1, 2, 2] * 2
    assert len(times) == 3 and all(t >= 0 for t in times)
    # A step over its budget drops out after its first timed run.
    calls.clear()
    slow = [lambda: (calls.append('s'), time.sleep(0.02)),
            lambda: calls.append('f')]
    time_interleaved(slow, torch.device('cpu'), repeats=3, warmup=0,
                     budget_s=0.01)
    assert calls == ['s', 's'] + ['f', 'f'] * 3


def test_time_rounds_times_blocks_of_consecutive_runs(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(timing, '_clock', lambda: clock[0])
    calls = []

    def step(name, seconds):
        def run():
            calls.append(name)
            clock[0] += seconds
        return run

    steps = [step('a', 0.01), step('b', 0.5)]
    times = time_rounds(steps, torch.device('cpu'), repeats=2, warmup=0,
                        min_block_s=0.035)
    # 'a' runs 1 + 4 times a round (0.04 s >= 0.035 s), 'b' 1 + 1.
    assert calls == (['a'] * 5 + ['b'] * 2) * 2
    assert times == [[pytest.approx(0.01)] * 2, [pytest.approx(0.5)] * 2]
    # The block of the first round is kept, even if the step gets faster.
    calls.clear()
    speeds = iter([0.01] * 5 + [0.001] * 5)

    def drifting():
        calls.append('d')
        clock[0] += next(speeds)
    times = time_rounds([drifting], torch.device('cpu'), repeats=2,
                        warmup=0, min_block_s=0.035)
    assert len(calls) == 10 and times[0][1] == pytest.approx(0.001)
    # Medians of the rounds.
    assert time_interleaved(
        [step('c', 0.02)], torch.device('cpu'), repeats=3,
        min_block_s=0.0) == [pytest.approx(0.02)]


def test_sweep_graph_reaches_its_target():
    for target in (1e3, 3e3):
        g = sweep_graph(target, 4)
        assert g.num_edges >= target
        # Not far over it: about one video (~104 edges) at most.
        assert g.num_edges < target + 150


def test_floor_graph_is_the_smallest_batch():
    g = floor_graph(4)
    assert g.num_graphs == 1 and g.num_frames == FLOOR_FRAMES
    assert 0 < g.num_edges < 20
    # Some edge pair spans both frames: the temporal attention has work.
    pair = edge_pair_index(g.edge_index, g.edge_type, g.track)
    assert torch.bincount(pair).max() == 2


def test_sparse_phases_are_the_parts_of_the_step():
    g = ag_graph(2, 8)
    conv = speed.make_conv(8, g.edge_attr.size(1), 2, 'sdpa',
                           torch.device('cpu'))
    phases = speed.sparse_phases(conv, g)
    assert set(phases) == {'index', 'forward'}
    step = count_ops(speed.sparse_step(conv, g))
    index, forward = (count_ops(phases[k]) for k in phases)
    # The step is its index building, its forward pass, and its backward.
    assert 0 < index < forward < step - index
    phases['forward']()
    assert all(p.grad is None for p in conv.parameters())  # no backward


def test_count_ops():
    a = torch.ones(3, requires_grad=True)
    # mul forward; backward: ones_like for the seed, mul for the gradient.
    assert count_ops(lambda: (a * 2).sum().backward()) >= 3
    assert count_ops(lambda: None) == 0
    assert count_ops(lambda: a.detach() + 1) == 2  # detach, add


def test_quick_run_writes_json(tmp_path):
    path = tmp_path / 'speed.json'
    threads = torch.get_num_threads()
    try:
        speed.main(['--quick', '--json', str(path), '--no-heap-cache',
                    '--data-root', str(tmp_path / 'data'),
                    '--plot', str(tmp_path / 'sweep.png')])
    finally:
        torch.set_num_threads(threads)
    res = json.loads(path.read_text())
    for name in ('ag', 'sportshhi'):
        assert res[name]
        for r in res[name]:
            assert r['speedup'] > 0 and 0 < r['memory_ratio']
            assert r['sparse_sdpa_s'] > 0 and r['dense_bytes'] > 0
    sw = res['sweep']
    assert len(sw['points']) >= 2 and sw['speedup'] > 0
    assert sw['memory_ratio'] > 0 and sw['us_per_edge_median'] > 0
    assert 'marginal_us_per_edge' not in sw['points'][0]
    assert sw['ops_per_step'] > 100
    ops = {name: sw['phases'][name]['ops'] for name in speed.PHASES}
    assert sum(ops.values()) == sw['ops_per_step']
    assert all(n > 0 for n in ops.values())
    # The floor's ops, sparse and dense: a few hundred each, whatever the
    # size (the dense layer runs the same mathematics).
    assert sw['floor']['ops'] > 100 and sw['floor']['dense_ops'] > 100
    for prev, p in zip(sw['points'], sw['points'][1:]):
        assert p['marginal_us_per_edge'] == pytest.approx(
            (p['sparse_s'] - prev['sparse_s']) /
            (p['edges'] - prev['edges']) * 1e6)
    assert res['train'][0]['videos_per_s'] > 0
    # The figure of the run, and the same drawn again from its JSON.
    png = (tmp_path / 'sweep.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    again = speed.main(['--from-json', str(path), '--plot',
                        str(tmp_path / 'again.png')])
    assert again == res
    assert (tmp_path / 'again.png').read_bytes()[:8] == png[:8]


def test_workloads_run_only_the_named_ones(tmp_path, capsys):
    path = tmp_path / 'sweep.json'
    threads = torch.get_num_threads()
    try:
        res = speed.main(['--quick', '--workloads', 'sweep', '--sweep-max',
                          '3e3', '--sweep-hidden', '4', '--no-heap-cache',
                          '--json', str(path)])
    finally:
        torch.set_num_threads(threads)
    assert res['workloads'] == ['sweep']
    assert res['ag'] == [] and res['sportshhi'] == []
    assert 'train' not in res and 'sweep_compiled' not in res
    assert res['sweep']['hidden'] == 4 and res['sweep']['heads'] == 1
    assert [p['target_edges'] for p in res['sweep']['points']] == [1000, 3000]
    assert json.loads(path.read_text()) == res
    out = capsys.readouterr().out
    assert 'sweep (H=4, eager)' in out and 'rows s/d' not in out
    assert 'floor: a step on 1 video of 2 frames' in out
    assert "ATen ops); the dense layer's on the same batch" in out
    assert 'the +-20 % band leaves' in out
    assert 'the fitted fixed cost is' in out
    # A sweep at a width with several heads says how many; where the fit's
    # intercept is negative (wide layers: lost in the noise), no cost per
    # op is made of it.
    speed.print_sweep(dict(res['sweep'], heads=8, fixed_ms=-1.0))
    out = capsys.readouterr().out
    assert 'sweep (H=4, 8 heads, eager)' in out
    assert "no fixed cost above the points' noise" in out
    assert 'us per op' not in out
    with pytest.raises(SystemExit):
        speed.parse_args(['--workloads', 'ag', '--plot', 'x.png'])
    assert '--plot draws the sweep' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        speed.parse_args(['--workloads', 'dense'])


def test_script_is_the_package_cli():
    # benchmarks/speed.py only hands its command line to the package.
    assert runpy.run_path(SCRIPT)['main'] is speed.main


def test_heads_follow_the_width():
    # ag, sportshhi and training: the first of 12, 8, 4 that divides.
    assert speed.default_heads(768) == 12 and speed.default_heads(256) == 8
    assert speed.default_heads(20) == 4
    # The sweep: one head at the toy widths, as ag at the targets' widths.
    assert speed.sweep_heads(8) == speed.sweep_heads(16) == 1
    assert speed.sweep_heads(256) == 8 and speed.sweep_heads(768) == 12


def test_phase_columns_keep_apart_at_wide_layers():
    # ms per edge (H=768) would fill the 8-wide column with 3 decimals.
    assert report._us(0.311) == '   0.311' and report._us(99.5) == '  99.500'
    assert report._us(1202.934) == '  1202.9'
    assert report._us(1202.934) + report._us(1803.068) == '  1202.9  1803.1'


def test_plot_sweep_needs_a_sweep():
    with pytest.raises(ValueError, match='no sweep'):
        speed.plot_sweep({'device': 'cpu', 'threads': 1,
                          'sweep': {'skipped': 'no compiler'}})


def test_packed_grouped_attention_matches_scatter():
    # The temporal groups of the benchmark are mostly short with a few of
    # 16 frames, the case the packed 'sdpa' layout is for.
    from pyg_proda.nn import GroupedSelfAttention, make_groups
    gen = torch.Generator().manual_seed(0)
    sizes = torch.cat([torch.randint(1, 4, (40, ), generator=gen),
                       torch.tensor([16, 9])])
    group = torch.arange(sizes.numel()).repeat_interleave(sizes)
    group = group[torch.randperm(group.numel(), generator=gen)]
    groups = make_groups(group)
    G, L = groups.mask.shape
    R, L_p = groups.pack_mask.shape[:2]
    assert R * L_p * L_p < G * L * L  # packing saves attention work
    x = torch.randn(group.numel(), 8, dtype=torch.float64, generator=gen)
    torch.manual_seed(0)
    sdpa = GroupedSelfAttention(8, heads=2, impl='sdpa').double()
    scatter = GroupedSelfAttention(8, heads=2, impl='scatter').double()
    scatter.load_state_dict(sdpa.state_dict())
    assert torch.allclose(sdpa(x, groups), scatter(x, groups), atol=1e-10)


def test_compiled_sweep_records_both_layers_compiled():
    # The 'eager' backend runs the compiled-sweep path (dynamo traces both
    # layers) without inductor's compile time.
    sw = speed.sweep([1e3, 3e3], 8, 1, torch.device('cpu'), repeats=1,
                     max_dense_bytes=1e10, budget_s=1.0, backend='eager')
    assert sw['compiled'] and sw['backend'] == 'eager'
    assert sw['ops_per_step'] is None and sw['compile_options'] is None
    assert [p['videos'] for p in sw['points']] == [10, 27]
    assert sw['min_block_s'] == 0.2
    for p in sw['points']:
        assert p['edges'] >= p['target_edges']
        assert p['sparse_s'] == statistics.median(p['sparse_samples_s'])
        assert p['spread'] >= 0
        assert p['sparse_s'] > 0 and p['sparse_bytes'] > 0
        assert p['speedup'] > 0 and 0 < p['memory_ratio']
        # The phases: measured apart, the last one as the rest (no timing
        # order is asserted: a loaded machine may reorder them).
        assert 0 < p['index_s'] and 0 < p['forward_s']
        assert p['backward_s'] == pytest.approx(
            p['sparse_s'] - p['index_s'] - p['forward_s'])
    # The floor: the smallest batch, timed in the same rounds.
    floor = sw['floor']
    assert floor['videos'] == 1 and floor['frames'] == FLOOR_FRAMES
    assert 0 < floor['edges'] < sw['points'][0]['edges']
    assert len(floor['sparse_samples_s']) == 1
    assert 0 < floor['sparse_s']
    assert 0 < floor['index_s'] and 0 < floor['forward_s']
    assert floor['backward_s'] == pytest.approx(
        floor['sparse_s'] - floor['index_s'] - floor['forward_s'])
    # The dense layer's floor, on the same batch in the same rounds; ops
    # are counted eager only.
    assert floor['dense_s'] == floor['dense_samples_s'][0] > 0
    assert floor['ops'] is None and floor['dense_ops'] is None
    ph = sw['phases']
    assert set(ph) == set(speed.PHASES)
    assert ph['index']['ops'] is None
    # The phase fits add up to the fit of the whole step.
    for key in ('fixed_ms', 'marginal_us_per_edge'):
        assert sum(f[key] for f in ph.values()) == pytest.approx(sw[key])


def test_compiled_sweep_failure_is_reported_not_raised(capsys):
    sw = speed.compiled_sweep([1e3], 8, 1, torch.device('cpu'), 1, 1e10,
                              1.0, backend='no_such_backend')
    assert set(sw) == {'skipped'} and 'no_such_backend' in sw['skipped']
    assert 'compiled sweep skipped' in capsys.readouterr().out


@pytest.mark.skipif(
    not any(shutil.which(c) for c in (os.environ.get('CXX', 'g++'), 'g++',
                                      'clang++')),
    reason='inductor needs a C++ compiler on CPU')
def test_inductor_compiled_layer_matches_eager():
    # What the compiled sweep times: the layer under inductor with the
    # benchmark's options computes what the eager layer computes, forward
    # and backward, dropout included (fallback_random draws ATen's masks).
    cpu = torch.device('cpu')
    g = ag_graph(2, 8, seed=4)
    conv = speed.make_conv(8, g.edge_attr.size(1), 2, 'sdpa', cpu)
    fast = compiled(conv, cpu)
    groups = vgpnn_groups(
        edge_pair_index(g.edge_index, g.edge_type, g.track),
        impl='sdpa')

    def run(forward, seed):
        torch.manual_seed(seed)
        out, gates = forward(g.x, g.edge_index, g.edge_attr, g.edge_frame,
                             None, return_gates=True, groups=groups)
        (out.square().mean() + gates.mean()).backward()
        grads = [p.grad.clone() for p in conv.parameters()]
        conv.zero_grad(set_to_none=True)
        return out.detach(), gates.detach(), grads

    assert conv.training and conv.dropout > 0
    ref, got = run(conv, 7), run(fast, 7)
    assert torch.allclose(got[0], ref[0], atol=1e-5)
    assert torch.allclose(got[1], ref[1], atol=1e-5)
    for a, b in zip(got[2], ref[2]):
        assert torch.allclose(a, b, atol=1e-5)
    # Another seed, other masks: the compiled layer does draw them.
    assert not torch.allclose(run(fast, 8)[0], got[0])
