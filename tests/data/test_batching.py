import torch
from torch_geometric.loader import DataLoader

from pyg_proda.data import (
    EDGE_TYPES,
    NODE_TYPES,
    edge_type_layout,
    to_homogeneous,
    to_networkx,
)
from pyg_proda.data.vocab import AG_OBJECT_CLASSES, AG_RELATION_GROUPS


def _batch(dataset, size=4):
    return next(iter(DataLoader(dataset, batch_size=size, shuffle=False)))


def test_dataloader_keeps_videos_apart(synthetic_dataset):
    graphs = [synthetic_dataset[i] for i in range(4)]
    batch = _batch(synthetic_dataset)
    assert batch.num_graphs == 4
    assert batch.y.shape == (4, synthetic_dataset.num_classes)
    assert batch.frame_labels.shape == (4 * 16, synthetic_dataset.num_classes)
    assert batch.num_frames.tolist() == [16] * 4

    offsets = torch.tensor([0] + [g.num_tracks for g in graphs]).cumsum(0)
    for nt in NODE_TYPES:
        store = batch[nt]
        for i, g in enumerate(graphs):
            mask = store.batch == i
            assert torch.equal(store.track[mask], g[nt].track + offsets[i])
            assert torch.equal(store.frame[mask], g[nt].frame)
            assert bool((store.track[mask] >= offsets[i]).all())
            assert bool((store.track[mask] < offsets[i + 1]).all())

    # Graph-level `*_track` attributes follow the node tracks; the others
    # (class, frames) are not shifted.
    for key in ('action_track', 'action_actor_track'):
        expected = torch.cat([g[key] + offsets[i]
                              for i, g in enumerate(graphs)])
        assert torch.equal(batch[key], expected)
    for key in ('action_cls', 'action_start', 'action_end'):
        assert torch.equal(batch[key], torch.cat([g[key] for g in graphs]))

    # Each action's object track exists in its own video only.
    obj = batch['object']
    owners = torch.repeat_interleave(
        torch.arange(4), torch.tensor([g.action_cls.numel() for g in graphs]))
    for track, owner in zip(batch.action_track.tolist(), owners.tolist()):
        mask = obj.track == track
        assert bool(mask.any()) and bool((obj.batch[mask] == owner).all())

    # (batch, frame) pairs are distinct across videos.
    groups = set()
    for nt in NODE_TYPES:
        groups |= set(zip(batch[nt].batch.tolist(), batch[nt].frame.tolist()))
    expected = sum(len(set(torch.cat([g[nt].frame for nt in NODE_TYPES])
                           .tolist())) for g in graphs)
    assert len(groups) == expected

    # Edges never join two videos nor two frames.
    for et in batch.edge_types:
        src, dst = batch[et].edge_index
        assert torch.equal(batch[et[0]].batch[src], batch[et[2]].batch[dst])
        assert torch.equal(batch[et[0]].frame[src], batch[et].frame)
        assert torch.equal(batch[et[2]].frame[dst], batch[et].frame)


def test_to_homogeneous_batch(synthetic_dataset):
    batch = _batch(synthetic_dataset, 3)
    out = to_homogeneous(batch)
    num_p, num_o = batch['person'].num_nodes, batch['object'].num_nodes
    assert out.num_nodes == num_p + num_o
    assert out.node_type.tolist() == [0] * num_p + [1] * num_o
    assert torch.equal(out.batch, torch.cat([batch['person'].batch,
                                             batch['object'].batch]))
    assert torch.equal(out.track, torch.cat([batch['person'].track,
                                             batch['object'].track]))
    assert torch.equal(out.x, torch.cat([batch['person'].x,
                                         batch['object'].x]))
    assert out.num_frames.tolist() == [16, 16, 16]
    assert torch.equal(out.y, batch.y)
    assert torch.equal(out.frame_labels, batch.frame_labels)

    layout = edge_type_layout(batch)
    assert out.edge_attr.size(1) == 26
    assert out.num_edges == sum(batch[et].num_edges for et in batch.edge_types)
    start = 0
    for et in EDGE_TYPES:
        if et not in batch.edge_types:
            continue
        type_id, offset, width = layout[et]
        assert type_id == EDGE_TYPES.index(et)
        # Offsets reproduce Action Genome's global relation ids.
        assert (offset, width) == AG_RELATION_GROUPS[et[1]]
        e = batch[et].num_edges
        sl = slice(start, start + e)
        assert bool((out.edge_type[sl] == type_id).all())
        attr = out.edge_attr[sl]
        assert torch.equal(attr[:, offset:offset + width], batch[et].edge_attr)
        assert attr.sum() == batch[et].edge_attr.sum()  # zeros elsewhere
        src, dst = out.edge_index[:, sl]
        assert bool((out.node_type[src] == NODE_TYPES.index(et[0])).all())
        assert bool((out.node_type[dst] == NODE_TYPES.index(et[2])).all())
        start += e
    src, dst = out.edge_index
    assert torch.equal(out.edge_frame, out.frame[src])
    assert torch.equal(out.edge_frame, out.frame[dst])
    assert torch.equal(out.batch[src], out.batch[dst])


def test_to_networkx(synthetic_dataset):
    data = synthetic_dataset[0]
    relation_names = {'attention': ['looking_at', 'not_looking_at', 'unsure']}
    for frame in (0, 7):
        g = to_networkx(data, frame=frame, relation_names=relation_names,
                        class_names=AG_OBJECT_CLASSES)
        n = sum(int((data[nt].frame == frame).sum()) for nt in NODE_TYPES)
        e = sum(int((data[et].frame == frame).sum()) for et in data.edge_types)
        assert g.number_of_nodes() == n and g.number_of_edges() == e
        assert all(d['frame'] == frame for _, d in g.nodes(data=True))
        assert any(d['name'] == 'person' for _, d in g.nodes(data=True))
        for u, v, d in g.edges(data=True):
            assert d['frame'] == frame
            assert g.nodes[u]['frame'] == g.nodes[v]['frame'] == frame
            if d['rel'] == 'attention':
                assert all(isinstance(label, str) for label in d['labels'])
    whole = to_networkx(data)
    assert whole.number_of_nodes() == data['person'].num_nodes + \
        data['object'].num_nodes
    assert whole.number_of_edges() == sum(data[et].num_edges
                                          for et in data.edge_types)
    assert whole.graph['video_id'] == data.video_id
    tracks = {d['track'] for _, d in whole.nodes(data=True)}
    assert tracks == set(torch.cat([data[nt].track
                                    for nt in NODE_TYPES]).tolist())
