import pytest
import torch

from pyg_proda.data import (
    AG_EDGE_DIMS,
    EDGE_TYPES,
    Detection,
    Relation,
    SchemaError,
    build_video_graph,
    validate_video_graph,
)


def _frames():
    person = Detection(0, 'person', 0, (0.1, 0.1, 0.4, 0.9))
    cup = Detection(1, 'object', 10, (0.5, 0.5, 0.6, 0.6))
    return [[person, cup], [person]]


def _relations():
    return [[Relation(0, 'attention', 1, [0]),
             Relation(1, 'spatial', 0, [2, 4]),
             Relation(0, 'contacting', 1, [5])], []]


def _graph():
    return build_video_graph(_frames(), _relations(), video_id='v0',
                             y=torch.tensor([1., 0., 1.]), node_dim=12,
                             frame_labels=torch.zeros(2, 3))


def test_build_video_graph():
    data = _graph()
    validate_video_graph(data)
    assert data.num_frames == 2 and data.num_tracks == 2
    assert data['person'].frame.tolist() == [0, 1]
    assert data['object'].cls.tolist() == [10]
    assert data['person'].x.shape == (2, 12)
    assert data['object'].x.shape == (1, 12)
    assert data.y.shape == (1, 3)
    spatial = data['object', 'spatial', 'person']
    assert spatial.edge_attr.tolist() == [[0., 0., 1., 0., 1., 0.]]
    assert set(data.edge_types) == set(AG_EDGE_DIMS)
    for et in data.edge_types:
        assert data[et].edge_attr.size(1) == AG_EDGE_DIMS[et]
        assert data[et].frame.tolist() == [0]


def _raises(data, match):
    with pytest.raises(SchemaError, match=match) as info:
        validate_video_graph(data)
    assert "Video 'v0'" in str(info.value)


def test_missing_attribute():
    data = _graph()
    del data.y
    _raises(data, "missing graph attribute 'y'")
    data = _graph()
    del data['person'].cls
    _raises(data, "'person' misses 'cls'")
    data = _graph()
    del data['person', 'attention', 'object'].frame
    _raises(data, "misses 'frame'")


def test_missing_node_type():
    data = _graph()
    del data['object']
    _raises(data, "missing node type 'object'")


def test_wrong_dtype():
    data = _graph()
    data['object'].frame = data['object'].frame.float()
    _raises(data, r"'object.frame' must be long")
    data = _graph()
    data.y = data.y.long()
    _raises(data, "'y' must be float")
    data = _graph()
    data['person'].x = data['person'].x.long()
    _raises(data, "'person.x' must be float")


def test_wrong_shape():
    data = _graph()
    data['person'].box = data['person'].box[:, :3]
    _raises(data, r"'person.box' must be \[2, 4\]")
    data = _graph()
    data.frame_labels = torch.zeros(3, 3)
    _raises(data, r"'frame_labels' must be \[2, 3\]")
    data = _graph()
    data['person'].track = data['person'].track[:1]
    _raises(data, r"'person.track' must be long \[2\]")
    data = _graph()
    data['object'].x = torch.zeros(1, 5)
    _raises(data, "same size")
    data = _graph()
    data['person', 'contacting', 'object'].frame = torch.zeros(2, dtype=torch.long)
    _raises(data, "do not match")


def test_frame_out_of_range():
    data = _graph()
    data['object'].frame = torch.tensor([2])
    _raises(data, r"'object.frame' outside 0..1")
    data = _graph()
    data['person'].track = torch.tensor([0, 5])
    _raises(data, "'person.track' outside")


def test_duplicate_track_in_frame():
    frames = _frames()
    frames[0].append(Detection(1, 'object', 4, (0, 0, 1, 1)))
    with pytest.raises(SchemaError, match='track 1 appears twice'):
        build_video_graph(frames, _relations(), video_id='v0',
                          y=torch.zeros(3))
    # Tracks are unique over both node types.
    data = _graph()
    data['object'].track = torch.tensor([0])
    _raises(data, 'appears twice in one frame')


def test_cross_frame_edge():
    relations = _relations()
    relations[1].append(Relation(0, 'contacting', 1, [5]))  # cup not in frame 1
    with pytest.raises(SchemaError, match='frame 1.*needs a object with '
                       'track 1'):
        build_video_graph(_frames(), relations, video_id='v0',
                          y=torch.zeros(3))
    data = _graph()
    data['person', 'contacting', 'object'].frame = torch.tensor([1])
    _raises(data, 'must join nodes of their own frame')
    data = _graph()
    data['person', 'contacting', 'object'].edge_index = torch.tensor([[0],
                                                                      [1]])
    _raises(data, 'edge_index out of range')


def test_wrong_endpoint_type():
    relations = [[Relation(1, 'attention', 0, [0])], []]  # reversed ends
    with pytest.raises(SchemaError, match='needs a person with track 1'):
        build_video_graph(_frames(), relations, video_id='v0',
                          y=torch.zeros(3))


def test_unknown_relation_group():
    relations = [[Relation(0, 'touching', 1, [0])], []]
    with pytest.raises(SchemaError, match="Unknown relation group 'touching'"):
        build_video_graph(_frames(), relations, video_id='v0',
                          y=torch.zeros(3))
    relations = [[Relation(0, 'interaction', 0, [0])], []]
    with pytest.raises(SchemaError, match='not in edge_dims'):
        build_video_graph(_frames(), relations, video_id='v0',
                          y=torch.zeros(3))
    data = _graph()
    data['object', 'unknown', 'person'].edge_index = torch.zeros(
        2, 0, dtype=torch.long)
    _raises(data, 'unknown edge type')


def test_unknown_node_type():
    frames = _frames()
    frames[1].append(Detection(3, 'animal', 1, (0, 0, 1, 1)))
    with pytest.raises(SchemaError, match="unknown node type 'animal'"):
        build_video_graph(frames, [[], []], video_id='v0', y=torch.zeros(3))


@pytest.mark.parametrize('rel,label', [('attention', 3), ('spatial', -1),
                                       ('contacting', 17)])
def test_label_out_of_range(rel, label):
    src, dst = (1, 0) if rel == 'spatial' else (0, 1)
    relations = [[Relation(src, rel, dst, [label])], []]
    with pytest.raises(SchemaError, match=f'label {label} out of range for '
                       f"'{rel}'"):
        build_video_graph(_frames(), relations, video_id='v0',
                          y=torch.zeros(3))


def test_edge_types_order():
    # The homogeneous view and Action Genome's global relation ids rely on it.
    assert [et[1] for et in EDGE_TYPES[:3]] == ['attention', 'spatial',
                                                 'contacting']
    assert [AG_EDGE_DIMS[et] for et in EDGE_TYPES[:3]] == [3, 6, 17]
