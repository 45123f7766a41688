import io
import os
import os.path as osp

import pytest
import torch

from pyg_proda.data import NODE_TYPES, validate_video_graph
from pyg_proda.data.vocab import AG_OBJECT_CLASSES, AG_RELATION_GROUPS
from pyg_proda.datasets import SyntheticSSG, generate_video
from pyg_proda.datasets.synthetic import ACTIONS, order_pairs

_CON = 'contacting'


def _tensors(data):
    out = {}
    for store in data.stores:
        for key, value in store.items():
            # Scalars are ints when generated, 0-dim tensors once stored.
            if torch.is_tensor(value) and key not in ('num_frames',
                                                      'num_tracks'):
                out[(getattr(store, '_key', None), key)] = value
    return out


def _assert_same_graph(a, b):
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys()
    for key in ta:
        assert torch.equal(ta[key], tb[key]), key
    assert a.video_id == b.video_id
    assert int(a.num_tracks) == int(b.num_tracks)
    assert int(a.num_frames) == int(b.num_frames)


def test_vocabulary():
    assert SyntheticSSG.num_classes == len(SyntheticSSG.action_names) == 38
    assert SyntheticSSG.object_names == AG_OBJECT_CLASSES
    assert len(SyntheticSSG.relation_names) == 26
    assert 24 <= SyntheticSSG.num_classes <= 40
    assert len(set(SyntheticSSG.action_names)) == 38
    pairs = order_pairs()
    assert SyntheticSSG.order_pairs == pairs and len(pairs) == 13
    for i, j in pairs:
        assert ACTIONS[i].object == ACTIONS[j].object
        assert ACTIONS[i].phases == ACTIONS[j].phases
        assert not ACTIONS[i].reverse and ACTIONS[j].reverse
        assert len(ACTIONS[i].phases) >= 2
    assert any(len(ACTIONS[i].phases) == 3 for i, _ in pairs)
    for spec in ACTIONS:
        assert spec.object in AG_OBJECT_CLASSES and spec.object != 'person'
    # Actions that share the object but differ in relation.
    by_object = {}
    for spec in ACTIONS:
        by_object.setdefault(spec.object, set()).add(spec.phases)
    assert sum(len(v) >= 2 for v in by_object.values()) >= 4


def test_generate_video_deterministic():
    a = generate_video([3, 1, 4])
    _assert_same_graph(a, generate_video([3, 1, 4]))
    b = generate_video([3, 1, 5])
    assert not torch.equal(a.y, b.y) or a['object'].num_nodes != \
        b['object'].num_nodes or not torch.equal(a['person'].x, b['person'].x)


def test_generate_video_errors():
    with pytest.raises(ValueError, match='Unknown action'):
        generate_video(0, ['flying a kite'])
    with pytest.raises(ValueError, match='outside 0..37'):
        generate_video(0, [38])
    with pytest.raises(ValueError, match='node_dim'):
        generate_video(0, node_dim=9)
    with pytest.raises(ValueError, match='3 phases'):
        generate_video(0, ['opening a door'], num_frames=2)
    with pytest.raises(ValueError, match='Unknown split'):
        SyntheticSSG('/nonexistent', split='dev')


def test_ground_truth():
    for seed in range(40):
        data = generate_video([7, seed], relation_noise=0.0,
                              distractor_contact_p=0.0, num_frames=12)
        validate_video_graph(data)
        T, C = 12, len(ACTIONS)
        assert data.frame_labels.shape == (T, C)
        assert torch.equal(data.y[0], data.frame_labels.amax(0))
        assert data.action_cls.dtype == torch.long
        A = data.action_cls.numel()
        assert 1 <= A <= 5
        for key in ('action_track', 'action_actor_track', 'action_start',
                    'action_end'):
            assert data[key].shape == (A, ) and data[key].dtype == torch.long
        contact = data['person', _CON, 'object']
        for k in range(A):
            spec = ACTIONS[int(data.action_cls[k])]
            s, e = int(data.action_start[k]), int(data.action_end[k])
            assert 0 <= s <= e < T
            assert bool(data.frame_labels[s:e + 1, data.action_cls[k]].all())
            obj = data['object'].track == data.action_track[k]
            assert obj.any()
            cls = data['object'].cls[obj]
            assert bool((cls == AG_OBJECT_CLASSES.index(spec.object)).all())
            actor = int(data.action_actor_track[k])
            assert actor in data['person'].track.tolist()

            # Without label noise, the actor's contacts inside the window
            # follow the phases in order (reversed for a reversed action).
            names = _contacting_names()
            src, dst = contact.edge_index
            mask = (data['person'].track[src] == actor) & obj[dst]
            frames = contact.frame[mask]
            keep = (frames >= s) & (frames <= e)
            order = frames[keep].argsort()
            seen = []
            for row in contact.edge_attr[mask][keep][order]:
                labels = frozenset(names[i] for i in row.nonzero().view(-1))
                if not seen or seen[-1] != labels:
                    seen.append(labels)
            phases = [frozenset(p.contacting) for p in spec.phases]
            if spec.reverse:
                phases = phases[::-1]
            merged = [p for i, p in enumerate(phases)
                      if i == 0 or p != phases[i - 1]]
            assert seen == merged, (spec.name, seen)


def _contacting_names():
    from pyg_proda.data.vocab import AG_RELATION_CLASSES
    start, size = AG_RELATION_GROUPS[_CON]
    return AG_RELATION_CLASSES[start:start + size]


def _frame_signatures(data):
    r"""Per frame: the sorted node feature rows and the sorted relation
    multi-hots of every edge type (the input of a bag-of-frames model)."""
    out = []
    for t in range(int(data.num_frames)):
        nodes = sorted(tuple(row) for nt in NODE_TYPES
                       for row in data[nt].x[data[nt].frame == t].tolist())
        edges = tuple(sorted(
            (et[1], ) + tuple(row)
            for et in data.edge_types
            for row in data[et].edge_attr[data[et].frame == t].tolist()))
        out.append((tuple(nodes), edges))
    return out


def test_order_only_pairs_have_identical_bag_of_frames():
    options = dict(num_distractors=0, p_two_persons=0.0, relation_noise=0.2,
                   p_missing=0.3, feature_noise=0.5)
    for i, j in order_pairs():
        for seed in range(3):
            a = generate_video([11, seed], [i], **options)
            b = generate_video([11, seed], [j], **options)
            fa, fb = _frame_signatures(a), _frame_signatures(b)
            # Same multiset of frames ...
            assert sorted(fa) == sorted(fb), (ACTIONS[i].name, seed)
            # ... shown in a different order.
            assert fa != fb
            # The labelled window is mirrored inside the span.
            assert a.action_end - a.action_start == \
                b.action_end - b.action_start
            assert a.y.argmax() == i and b.y.argmax() == j


def test_order_only_pairs_same_statistics_in_random_videos():
    # With random distractors and, sometimes, a second person, the classes
    # of an order-only pair have the same relation statistics; a class with
    # a different relation ('holding a cup') does not.
    i, j = order_pairs()[0]
    other = SyntheticSSG.action_names.index('holding a cup')
    stats = {}
    for cls in (i, j, other):
        total = torch.zeros(26)
        for seed in range(30):
            data = generate_video([5, seed], [cls])
            for et in data.edge_types:
                start, size = AG_RELATION_GROUPS[et[1]]
                total[start:start + size] += data[et].edge_attr.sum(0)
        stats[cls] = total
    assert torch.equal(stats[i], stats[j])
    assert not torch.equal(stats[i], stats[other])


def test_nodes_per_frame_range():
    # The first videos of the default train split (seed [0, 0, i]).
    counts = []
    for i in range(300):
        data = generate_video([0, 0, i])
        counts.append(torch.bincount(torch.cat(
            [data[nt].frame for nt in NODE_TYPES]), minlength=16))
    counts = torch.stack(counts)
    assert int(counts.min()) == 1
    assert int(counts.max()) >= 12


def test_dataset(tmp_path, synthetic_dataset):
    ds = synthetic_dataset
    assert len(ds) == 24 and ds.num_classes == 38
    assert 'n24' in osp.basename(ds.processed_paths[0])
    for i in (0, 5, 23):
        data = ds[i]
        validate_video_graph(data)
        # The stored video is the generator's output, action attributes
        # included.
        _assert_same_graph(data, generate_video(
            [0, 0, i], video_id=f'synthetic_train_{i:05d}'))


def test_processed_file_weights_only(synthetic_dataset):
    path = synthetic_dataset.processed_paths[0]
    out = torch.load(path, weights_only=True)
    assert isinstance(out, tuple) and len(out) == 3
    again = SyntheticSSG(osp.dirname(osp.dirname(path)), num_videos=24,
                         log=False)
    for i in (0, 11):
        _assert_same_graph(again[i], synthetic_dataset[i])


def test_deterministic_bytes(tmp_path):
    paths = []
    for name in ('a', 'b'):
        ds = SyntheticSSG(str(tmp_path / name), split='val', num_videos=6,
                          log=False)
        paths.append(ds.processed_paths[0])
    assert osp.basename(paths[0]) == osp.basename(paths[1])
    # Re-serialise into memory: the archive written by the atomic save
    # embeds the random name of its temporary file.
    blobs = []
    for path in paths:
        buf = io.BytesIO()
        torch.save(torch.load(path, weights_only=True), buf)
        blobs.append(buf.getvalue())
    assert blobs[0] == blobs[1]


def test_option_change_reprocesses(tmp_path):
    root = str(tmp_path)
    base = SyntheticSSG(root, split='test', num_videos=4, log=False)
    names = {osp.basename(base.processed_paths[0])}
    changes = dict(num_videos=5, num_frames=12, seed=1, node_dim=16,
                   relation_noise=0.1, feature_noise=0.4, box_noise=0.01,
                   p_missing=0.2, num_distractors=3, max_actions=4,
                   p_two_persons=0.5, distractor_contact_p=0.1)
    for key, value in changes.items():
        kwargs = dict(split='test', num_videos=4, log=False)
        kwargs[key] = value
        names.add(osp.basename(SyntheticSSG(root, **kwargs)
                               .processed_paths[0]))
    names.add(osp.basename(SyntheticSSG(root, split='val', num_videos=4,
                                        log=False).processed_paths[0]))
    assert len(names) == len(changes) + 2
    stored = set(os.listdir(osp.join(root, 'processed')))
    assert names <= stored

    noisy = SyntheticSSG(root, split='test', num_videos=4, node_dim=16,
                         log=False)
    assert noisy[0]['person'].x.size(-1) == 16
    assert base[0]['person'].x.size(-1) == 32
    val = SyntheticSSG(root, split='val', num_videos=4, log=False)
    # Splits are drawn from different seeds.
    assert not torch.equal(val[0]['person'].x, base[0]['person'].x)
