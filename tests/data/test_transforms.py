import pytest
import torch

from pyg_proda.data import Detection, Relation, build_video_graph, validate_video_graph
from pyg_proda.data.transforms import SampleFrames


def make_graph(T: int = 5):
    frames, rels = [], []
    for t in range(T):
        dets = [Detection(0, 'person', 0, (0.1 * t, 0, 0.5, 1))]
        r = []
        if t % 2 == 1:  # the object is seen in odd frames only
            dets.append(Detection(1, 'object', 4, (0.5, 0.5, 0.9, 0.9)))
            r = [Relation(0, 'attention', 1, [t % 3]),
                 Relation(1, 'spatial', 0, [2])]
        frames.append(dets)
        rels.append(r)
    frame_labels = torch.arange(T * 3, dtype=torch.float).view(T, 3)
    g = build_video_graph(frames, rels, video_id='v', y=torch.ones(3),
                          frame_labels=frame_labels)
    g.frame_ids = torch.arange(T) * 10 + 1
    g.gt_track = torch.tensor([0, 1])
    return g


def test_uniform_keeps_evenly_spaced_frames():
    g = make_graph(5)
    out = SampleFrames(3, mode='uniform')(g)
    validate_video_graph(out)
    assert out.num_frames == 3
    # Frames 0, 2, 4 kept: person in each, the object (odd frames) in none.
    assert out['person'].frame.tolist() == [0, 1, 2]
    assert torch.allclose(out['person'].box[:, 0], torch.tensor([0.0, 0.2, 0.4]))
    assert out['object'].num_nodes == 0
    assert out['person', 'attention', 'object'].edge_index.size(1) == 0
    assert out.frame_labels.tolist() == g.frame_labels[[0, 2, 4]].tolist()
    assert out.frame_ids.tolist() == [1, 21, 41]
    assert out.gt_track.tolist() == [0, 1]
    assert int(out.num_tracks) == int(g.num_tracks)
    # The input is not modified.
    assert g.num_frames == 5 and g['object'].num_nodes == 2


def test_edges_are_reindexed():
    g = make_graph(6)
    sampler = SampleFrames(2)
    sampler.select = lambda T: torch.tensor([1, 3])  # both object frames
    out = sampler(g)
    validate_video_graph(out)
    assert out['person'].frame.tolist() == [0, 1]
    assert out['object'].frame.tolist() == [0, 1]
    att = out['person', 'attention', 'object']
    assert att.edge_index.tolist() == [[0, 1], [0, 1]]
    assert att.frame.tolist() == [0, 1]
    assert att.edge_attr.argmax(-1).tolist() == [1, 0]  # labels t % 3
    spa = out['object', 'spatial', 'person']
    assert spa.edge_index.tolist() == [[0, 1], [0, 1]]


def test_random_is_seeded_sorted_and_unique():
    a, b = SampleFrames(4, 'random', seed=3), SampleFrames(4, 'random', seed=3)
    picks = [a.select(20) for _ in range(5)]
    assert all(torch.equal(p, b.select(20)) for p in picks)
    assert any(not torch.equal(picks[0], p) for p in picks[1:])
    for p in picks:
        assert p.tolist() == sorted(set(p.tolist())) and len(p) == 4
    out = SampleFrames(4, 'random', seed=0)(make_graph(9))
    validate_video_graph(out)
    assert out.num_frames == 4


def test_short_video_keeps_all_frames():
    g = make_graph(2)
    out = SampleFrames(16, mode='uniform')(g)
    assert out.num_frames == 2 and out['person'].num_nodes == 2
    assert SampleFrames(16).select(2).tolist() == [0, 1]


def test_invalid_arguments():
    with pytest.raises(ValueError, match='positive'):
        SampleFrames(0)
    with pytest.raises(ValueError, match='uniform'):
        SampleFrames(4, mode='centre')
    assert 'random' in repr(SampleFrames(4, 'random', seed=1))
