import os

import numpy as np
import pytest
import torch

from pyg_proda.data import validate_video_graph
from pyg_proda.datasets import SyntheticHHI, generate_hhi_video
from pyg_proda.datasets.sportshhi import INTERACTION, pair_geometry
from pyg_proda.datasets.synthetic_hhi import (
    INTERACTIONS,
    POSES,
    mirror_classes,
    order_pairs,
    pose_vectors,
)

NAMES = [it.name for it in INTERACTIONS]



def graph_tensors(g):
    return [g['person'][k] for k in ('x', 'box', 'frame', 'track')] + [
        g[INTERACTION][k] for k in ('edge_index', 'edge_attr', 'target')]


def poses_of(g, pose_dim=8):
    # With feature_noise=0 the pose part of x is exactly a pose vector.
    vec = torch.from_numpy(pose_vectors(pose_dim)).float()
    dist = torch.cdist(g['person'].x[:, :pose_dim], vec)
    assert bool((dist.min(dim=1).values < 1e-2).all())
    return dist.argmin(dim=1)


def test_vocabulary():
    assert len(INTERACTIONS) == 12
    assert order_pairs() == [(0, 1), (2, 3), (4, 5), (6, 7)]
    for i, j in order_pairs():
        assert INTERACTIONS[i].phases == INTERACTIONS[j].phases[::-1]
    mirror = mirror_classes()
    assert [c for c in range(12) if mirror[c] is not None] == [8, 11]
    # Decoys show single phases of two-phase classes: never a whole
    # single-phase class.
    decoys = {ph for it in INTERACTIONS if len(it.phases) > 1
              for ph in it.phases}
    singles = {it.phases[0] for it in INTERACTIONS if len(it.phases) == 1}
    assert not decoys & singles


def test_deterministic_and_seeded():
    a, b = generate_hhi_video(3), generate_hhi_video(3)
    for x, y in zip(graph_tensors(a), graph_tensors(b)):
        assert torch.equal(x, y)
    c = generate_hhi_video(4)
    assert any(x.shape != y.shape or not torch.equal(x, y)
               for x, y in zip(graph_tensors(a), graph_tensors(c)))


@pytest.mark.parametrize('seed', range(6))
def test_structure(seed):
    g = generate_hhi_video(seed)
    validate_video_graph(g)
    T, P = int(g.num_frames), int(g.num_tracks)
    assert T == 8 and 4 <= P <= 7
    # Every player in every keyframe; every ordered pair a candidate.
    assert g['person'].num_nodes == P * T
    e = g[INTERACTION]
    assert e.num_edges == T * P * (P - 1)
    box = g['person'].box
    src, dst = e.edge_index
    assert torch.equal(e.edge_attr, pair_geometry(box[src], box[dst]))
    # At least one player interacts with nobody.
    busy = set(g.interaction_src_track.tolist()) | set(
        g.interaction_dst_track.tolist())
    assert len(busy) == 2 * g.interaction_cls.numel() and len(busy) < P
    # Targets are exactly the interactions over their windows (and the
    # reversed pair for the symmetric classes).
    track = g['person'].track
    want = set()
    mirror = mirror_classes()
    for c, i, j, s, t in zip(*(g[k].tolist() for k in (
            'interaction_cls', 'interaction_src_track',
            'interaction_dst_track', 'interaction_start',
            'interaction_end'))):
        assert 0 <= s < t <= T - 1
        for f in range(s, t + 1):
            want.add((f, i, j, c))
            if mirror[c] is not None:
                want.add((f, j, i, mirror[c]))
    got = {(int(e.frame[k]), int(track[src[k]]), int(track[dst[k]]), c)
           for k, c in e.target.nonzero().tolist()}
    assert got == want
    assert torch.equal(g.y[0], e.target.amax(0))


def test_order_only_pair_reverses_the_phases():
    for name_fwd, name_bwd in ((NAMES[0], NAMES[1]), (NAMES[2], NAMES[3])):
        seq = {}
        for name in (name_fwd, name_bwd):
            for seed in range(4):
                g = generate_hhi_video(seed, [name], feature_noise=0.0)
                pose = poses_of(g).view(8, -1)  # [T, P]
                i, j = int(g.interaction_src_track), \
                    int(g.interaction_dst_track)
                s, t = int(g.interaction_start), int(g.interaction_end)
                pattern = [(POSES[pose[f, i]], POSES[pose[f, j]])
                           for f in range(s, t + 1)]
                phases = [p[:2] for p in INTERACTIONS[NAMES.index(
                    name)].phases]
                # Consecutive runs of the phases, in the class's order.
                runs = [p for k, p in enumerate(pattern)
                        if k == 0 or p != pattern[k - 1]]
                assert runs == phases, (name, seed, pattern)
                seq.setdefault(name, set()).update(pattern)
        # The same keyframe patterns occur in both classes.
        assert seq[name_fwd] == seq[name_bwd]


def test_near_and_far():
    g = generate_hhi_video(0, [NAMES[4]], feature_noise=0.0)  # pass: far
    box = g['person'].box.view(8, -1, 4)
    i, j = int(g.interaction_src_track), int(g.interaction_dst_track)
    s, t = int(g.interaction_start), int(g.interaction_end)
    foot = torch.stack([(box[..., 0] + box[..., 2]) / 2, box[..., 3]], -1)
    d = (foot[s:t + 1, i] - foot[s:t + 1, j]).norm(dim=-1)
    assert bool((d > 0.15).all())
    g = generate_hhi_video(0, [NAMES[8]], feature_noise=0.0)  # near
    box = g['person'].box.view(8, -1, 4)
    i, j = int(g.interaction_src_track), int(g.interaction_dst_track)
    s, t = int(g.interaction_start), int(g.interaction_end)
    # Jump lifts both boxes by the same amount: compare the centres.
    c = (box[..., :2] + box[..., 2:]) / 2
    d = (c[s:t + 1, i] - c[s:t + 1, j]).norm(dim=-1)
    assert bool((d < 0.15).all())


def test_errors():
    with pytest.raises(ValueError, match="Unknown interaction 'dunk'"):
        generate_hhi_video(0, ['dunk'])
    with pytest.raises(ValueError, match='outside 0..11'):
        generate_hhi_video(0, [12])
    with pytest.raises(ValueError, match='min_players'):
        generate_hhi_video(0, min_players=2)
    with pytest.raises(ValueError, match='num_frames'):
        generate_hhi_video(0, num_frames=1)
    with pytest.raises(ValueError, match="Unknown split 'dev'"):
        SyntheticHHI('/nonexistent', split='dev')
    # Players are added to fit the requested interactions (plus one idle).
    g = generate_hhi_video(0, [0, 1, 2, 3], max_players=4)
    assert int(g.num_tracks) >= 9


def test_dataset(tmp_path):
    ds = SyntheticHHI(str(tmp_path), 'val', num_videos=6, log=False)
    assert len(ds) == 6 and ds.num_classes == 12
    name = os.listdir(tmp_path / 'processed')
    assert 'synthetic_hhi_v1_val_n6_seed0_T8_pmin4_pmax7_na2_nd2_F8_fn0.6_' \
           'bn0.01.pt' in name
    # A video does not depend on the number of videos; splits differ.
    more = SyntheticHHI(str(tmp_path), 'val', num_videos=8, log=False)
    for x, y in zip(graph_tensors(ds[3]), graph_tensors(more[3])):
        assert torch.equal(x, y)
    test = SyntheticHHI(str(tmp_path), 'test', num_videos=6, log=False)
    assert not torch.equal(ds[0]['person'].x[:4], test[0]['person'].x[:4])
    other = SyntheticHHI(str(tmp_path), 'val', num_videos=6, seed=1,
                         max_players=5, log=False)
    assert max(int(g.num_tracks) for g in other) <= 5
    counts = np.bincount(torch.cat([g.interaction_cls for g in more]).numpy(),
                         minlength=12)
    assert counts.sum() >= 8

