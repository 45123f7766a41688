r"""Export of a :class:`VideoSceneGraph` to :mod:`networkx`."""
from typing import Optional, Sequence

import networkx as nx
from torch_geometric.data import HeteroData

from pyg_proda.data.video_scene_graph import NODE_TYPES


def to_networkx(data: HeteroData, frame: Optional[int] = None,
                relation_names: Optional[dict] = None,
                class_names: Optional[Sequence[str]] = None) -> nx.MultiDiGraph:
    r"""Converts a whole video (``frame=None``) or one sampled frame to a
    :class:`networkx.MultiDiGraph`.

    Nodes are ``(node_type, index)`` with attributes ``type``, ``track``,
    ``frame``, ``cls`` (and ``name`` when :obj:`class_names` is given) and
    ``box``. Each relation is one edge with ``rel`` (the group), ``frame``
    and ``labels`` (in-group ids, or names when :obj:`relation_names` maps a
    group to its list of names).

    Example:
        >>> from pyg_proda.datasets import SyntheticSSG
        >>> g = to_networkx(SyntheticSSG('/tmp/ssg', num_videos=8)[0], frame=0)
        >>> all(d['frame'] == 0 for _, d in g.nodes(data=True))
        True
    """
    g = nx.MultiDiGraph(video_id=getattr(data, 'video_id', None))
    for nt in NODE_TYPES:
        store = data[nt]
        for i in range(store.num_nodes):
            f = int(store.frame[i])
            if frame is not None and f != frame:
                continue
            cls = int(store.cls[i])
            attrs = dict(type=nt, track=int(store.track[i]), frame=f,
                         cls=cls, box=store.box[i].tolist())
            if class_names is not None:
                attrs['name'] = class_names[cls]
            g.add_node((nt, i), **attrs)
    for et in data.edge_types:
        store = data[et]
        names = (relation_names or {}).get(et[1])
        for k in range(store.edge_index.size(1)):
            f = int(store.frame[k])
            if frame is not None and f != frame:
                continue
            labels = store.edge_attr[k].nonzero().view(-1).tolist()
            if names is not None:
                labels = [names[j] for j in labels]
            src, dst = store.edge_index[:, k].tolist()
            g.add_edge((et[0], src), (et[2], dst), rel=et[1], frame=f,
                       labels=labels)
    return g
