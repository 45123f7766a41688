import matplotlib.image as mpimg
import pytest
import torch

from pyg_proda.metrics import class_distances
from pyg_proda.viz import plot_frame_weights, plot_parsed_subgraph, plot_tsne

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def assert_png(path, width, height):
    with open(path, 'rb') as f:
        assert f.read(8) == PNG_SIGNATURE
    img = mpimg.imread(str(path))
    assert img.shape[:2] == (height, width)


def test_frame_weights_png_has_promised_size(tmp_path):
    w = torch.tensor([0.1, 0.3, 0.9, 1.0, 0.8, 0.2])
    gt = torch.tensor([[0, 1], [0, 1], [1, 0], [1, 0], [1, 0], [0, 0]]).bool()
    mask = torch.tensor([True] * 5 + [False])
    path = tmp_path / 'fw.png'
    fig = plot_frame_weights(w, gt, ['a', 'b'], frame_mask=mask, theta=0.5,
                             title='t', path=str(path), figsize=(5.0, 2.5),
                             dpi=60)
    assert_png(path, 300, 150)
    # The curve shows the normalised weights of the valid frames only, and
    # the frames at or above theta are marked as predicted.
    ax = fig.axes[1]
    x, y = ax.lines[0].get_data()
    assert list(x) == [0, 1, 2, 3, 4]
    assert y[3] == pytest.approx(1.0, abs=1e-4)
    assert y[0] == pytest.approx(0.01, abs=1e-4)
    predicted = ax.collections[0].get_offsets()[:, 0].tolist()
    assert predicted == [2, 3, 4]
    threshold = [ln for ln in ax.lines if ln.get_linestyle() == '--']
    assert threshold[0].get_ydata()[0] == 0.5


def test_frame_weights_rejects_bad_shapes():
    with pytest.raises(ValueError, match='frames x classes'):
        plot_frame_weights(torch.rand(4), torch.zeros(5, 1).bool(), ['a'])
    with pytest.raises(ValueError, match='frames x classes'):
        plot_frame_weights(torch.rand(4), torch.zeros(4, 2).bool(), ['a'])


def test_parsed_subgraph_widths_follow_gates(tmp_path):
    # Frame 0: person 0 with objects 1 and 2; frame 1: person 3, object 4.
    edge_index = torch.tensor([[0, 2, 3], [1, 0, 4]])
    gates = torch.tensor([[0.9, 0.1], [0.5, 0.25], [0.0, 1.0]])
    path = tmp_path / 'sg.png'
    fig = plot_parsed_subgraph(
        edge_index, gates, torch.tensor([0, 0, 1]),
        torch.tensor([0, 0, 0, 1, 1]),
        ['person', 'cup', 'table', 'person', 'bed'],
        torch.tensor([True, False, False, True, False]), frames=[0, 1],
        edge_labels=['holding', 'beneath', 'lying_on'],
        highlight=torch.tensor([False, True, False, False, False]),
        frame_scores=[0.2, 1.0], path=str(path), ncols=2,
        panel_size=(2.0, 2.0), dpi=50)
    assert_png(path, 200, 125)  # (2 * 2.0) x (1 * 2.0 + 0.5) inches
    panels = fig.axes[:2]
    assert panels[0].get_title() == 'frame 0  ŵ=0.20'
    # One arrow per message direction, width 0.3 + 4 * gate.
    widths = sorted(round(p.get_linewidth(), 4) for p in panels[0].patches)
    expected = sorted(round(0.3 + 4 * g, 4) for g in (0.9, 0.1, 0.5, 0.25))
    assert widths == expected
    widths = sorted(round(p.get_linewidth(), 4) for p in panels[1].patches)
    assert widths == [0.3, 4.3]


def test_parsed_subgraph_rejects_bad_input():
    ei = torch.tensor([[0], [1]])
    args = (torch.tensor([0]), torch.tensor([0, 0]), ['a', 'b'],
            torch.tensor([True, False]))
    with pytest.raises(ValueError, match='empty'):
        plot_parsed_subgraph(ei, torch.rand(1, 2), *args, frames=[])
    with pytest.raises(ValueError, match='edge_gates'):
        plot_parsed_subgraph(ei, torch.rand(1, 3), *args, frames=[0])


def test_tsne_title_reports_distances_of_the_embedding(tmp_path):
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(12, 6, generator=gen),
                   torch.randn(12, 6, generator=gen) + 6.0])
    y = torch.tensor([0] * 12 + [2] * 12)
    path = tmp_path / 'tsne.png'
    fig, emb, dist = plot_tsne(x, y, ['a', 'b', 'c'], perplexity=5.0,
                               path=str(path), figsize=(4.0, 3.0), dpi=50)
    assert_png(path, 200, 150)
    assert emb.shape == (24, 2)
    assert dist == class_distances(emb, y)
    # Two well separated clusters stay separated in the embedding.
    assert dist['inter_mean'] > 2 * dist['intra_mean']
    title = fig.axes[0].get_title()
    assert f"intra {dist['intra_mean']:.2f} ± {dist['intra_std']:.2f}" in title
    assert f"inter {dist['inter_mean']:.2f}" in title
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ['a', 'c']


def test_tsne_rejects_mismatch_and_tiny_sets():
    with pytest.raises(ValueError, match='labels'):
        plot_tsne(torch.rand(5, 3), torch.zeros(4), ['a'])
    with pytest.raises(ValueError, match='at least 4'):
        plot_tsne(torch.rand(3, 3), torch.zeros(3), ['a'])
