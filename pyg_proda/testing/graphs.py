r"""Random batches of spatio-temporal scene graphs in homogeneous form (the
fields the layers read), shared by the tests and the speed benchmark:
small hand-shaped batches (:func:`random_ssg`), Action-Genome- and
SportsHHI-shaped batches (:func:`ag_graph`, :func:`sportshhi_graph`), and
the batches of the sweep (:func:`sweep_graph`, :func:`floor_graph`)."""
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from pyg_proda.testing.padding import DenseGraph, pad_graph

#: Widths of the Action Genome relation groups (attention, spatial,
#: contacting) inside the 26-d homogeneous ``edge_attr``.
AG_GROUPS = (3, 6, 17)
#: Direction of each Action Genome relation type (person -> object?).
AG_OUTGOING = (True, False, True)
#: SportsHHI interaction classes.
SHHI_CLASSES = 34
#: Frames of the batch of :func:`floor_graph`.
FLOOR_FRAMES = 2


@dataclass
class SSG:
    r"""A batch of SSGs in homogeneous form, as
    :class:`~pyg_proda.nn.VGPNNConv` reads it, plus the dense layout the
    authors would use for it (:meth:`pad`).

    Args:
        x (Tensor): Node features ``[N, C]``.
        batch, frame, track (Tensor): Graph, frame and track of every node
            ``[N]``.
        edge_index (Tensor): ``[2, E]``.
        edge_type, edge_frame (Tensor): Relation type and frame of every
            edge ``[E]``.
        edge_attr (Tensor): Relation features ``[E, D_e]``.
        num_graphs (int): Graphs ``B``.
        num_frames (int): Frames ``T`` of the dense layout.
        layout (str, optional): The dense pair layout of :meth:`pad`
            (:func:`~pyg_proda.testing.pad_graph`). (default: :obj:`'all'`)
        outgoing (Sequence[bool], optional): Direction of every relation
            type, for layout ``'star'``. (default: :obj:`None`)
    """
    x: Tensor
    batch: Tensor
    frame: Tensor
    track: Tensor
    edge_index: Tensor
    edge_type: Tensor
    edge_attr: Tensor
    edge_frame: Tensor
    num_graphs: int
    num_frames: int
    layout: str = 'all'
    outgoing: Optional[Sequence[bool]] = None

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)

    def to(self, device: Union[str, torch.device]) -> 'SSG':
        r"""The same batch with its tensors on :obj:`device`."""
        fields = {k: (v.to(device) if torch.is_tensor(v) else v)
                  for k, v in self.__dict__.items()}
        return SSG(**fields)

    def pad(self, layout: Optional[str] = None) -> DenseGraph:
        r"""The dense padded copy (:func:`~pyg_proda.testing.pad_graph`) in
        :obj:`layout` (default: the batch's own)."""
        return pad_graph(self.x, self.batch, self.frame, self.track,
                         self.edge_index, self.edge_type, self.edge_attr,
                         self.edge_frame, self.num_graphs, self.num_frames,
                         layout=layout or self.layout, outgoing=self.outgoing)

    def permuted(self, node_perm: Tensor, edge_perm: Tensor) -> 'SSG':
        r"""The same graph with nodes reordered by :obj:`node_perm` (new
        node ``i`` is old node ``node_perm[i]``) and edges by
        :obj:`edge_perm`."""
        inv = torch.empty_like(node_perm)
        inv[node_perm] = torch.arange(node_perm.numel())
        return SSG(self.x[node_perm], self.batch[node_perm],
                   self.frame[node_perm], self.track[node_perm],
                   inv[self.edge_index[:, edge_perm]],
                   self.edge_type[edge_perm], self.edge_attr[edge_perm],
                   self.edge_frame[edge_perm], self.num_graphs,
                   self.num_frames, self.layout, self.outgoing)


def random_ssg(
    presence: Sequence[Tensor],
    channels: int = 8,
    num_types: int = 2,
    edge_dim: int = 3,
    edge_prob: Union[float, Sequence[float]] = 0.5,
    edge_frames: Optional[Sequence[Optional[Sequence[int]]]] = None,
    dtype: torch.dtype = torch.float64,
    generator: Optional[torch.Generator] = None,
) -> SSG:
    r"""A random batch of SSGs of a given shape, node by node.

    Args:
        presence (Sequence[Tensor]): One bool ``[T, S_b]`` per video:
            whether track slot ``s`` has a node in frame ``t``. All videos
            share ``T``.
        channels (int, optional): Node features. (default: :obj:`8`)
        num_types (int, optional): Relation types. (default: :obj:`2`)
        edge_dim (int, optional): Relation features. (default: :obj:`3`)
        edge_prob (float or Sequence[float], optional): Probability of each
            (ordered pair of present slots, relation type) edge in a frame;
            one value or one per video. (default: :obj:`0.5`)
        edge_frames (Sequence, optional): Per video, the frames allowed to
            hold edges (:obj:`None`: all). (default: :obj:`None`)
        dtype (torch.dtype, optional): Of the features.
            (default: :obj:`torch.float64`)
        generator (torch.Generator, optional): The random numbers.
            (default: :obj:`None`)

    Example:
        >>> g = random_ssg([torch.ones(2, 3, dtype=torch.bool)], edge_prob=1)
        >>> g.x.shape, g.num_edges  # 2 frames x 6 ordered pairs x 2 types
        (torch.Size([6, 8]), 24)
    """
    g = generator
    batch, frame, track = [], [], []
    edges, types, frames = [], [], []
    T = presence[0].size(0)
    n, track_offset = 0, 0
    for b, pres in enumerate(presence):
        assert pres.size(0) == T
        S = pres.size(1)
        index = {}
        for t in range(T):
            for s in range(S):
                if pres[t, s]:
                    index[(t, s)] = n
                    n += 1
                    batch.append(b)
                    frame.append(t)
                    track.append(track_offset + s)
        allowed = None if edge_frames is None else edge_frames[b]
        prob = (edge_prob if isinstance(edge_prob, (int, float)) else
                edge_prob[b])
        for t in range(T):
            if allowed is not None and t not in allowed:
                continue
            for s in range(S):
                for d in range(S):
                    if s == d or (t, s) not in index or (t, d) not in index:
                        continue
                    for r in range(num_types):
                        if torch.rand(1, generator=g).item() < prob:
                            edges.append((index[(t, s)], index[(t, d)]))
                            types.append(r)
                            frames.append(t)
        track_offset += S
    x = torch.randn(n, channels, generator=g, dtype=dtype)
    e = len(edges)
    edge_index = torch.tensor(edges, dtype=torch.long).view(e, 2).t()
    edge_attr = torch.rand(e, edge_dim, generator=g, dtype=dtype)
    return SSG(x, torch.tensor(batch), torch.tensor(frame),
               torch.tensor(track), edge_index.contiguous(),
               torch.tensor(types, dtype=torch.long), edge_attr,
               torch.tensor(frames, dtype=torch.long), len(presence), T)


def _multi_hot(num: int, width: int, offset: int, total: int,
               gen: torch.Generator, dtype: torch.dtype) -> Tensor:
    # One or two labels per relation inside [offset, offset + width).
    attr = torch.zeros(num, total, dtype=dtype)
    rows = torch.arange(num)
    attr[rows, offset + torch.randint(width, (num, ), generator=gen)] = 1
    two = torch.rand(num, generator=gen) < 0.3
    attr[rows[two], offset + torch.randint(width, (int(two.sum()), ),
                                           generator=gen)] = 1
    return attr


def _nodes(presence: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    # presence [B, T, S] -> nodes in (graph, frame, slot) order.
    B, T, S = presence.shape
    b, t, s = presence.nonzero(as_tuple=True)
    node_id = torch.full((B, T, S), -1, dtype=torch.long)
    node_id[b, t, s] = torch.arange(b.numel())
    return b, t, b * S + s, node_id


def ag_graph(num_videos: int, channels: int, num_frames: int = 16,
             mean_objects: float = 2.3, seed: int = 0,
             dtype: torch.dtype = torch.float32) -> SSG:
    r"""An Action-Genome-shaped batch: one person (slot 0, in every frame)
    and 2-9 object tracks per video; each frame shows ``~mean_objects`` of
    them (at most 9, so at most 10 nodes); every present person-object pair
    has an attention (person -> object), a spatial (object -> person) and a
    contacting (person -> object) edge, ~7 edges per frame. Its layout is
    the authors' ``'star'``.

    Args:
        num_videos (int): Videos ``B``.
        channels (int): Node features.
        num_frames (int, optional): Frames ``T``. (default: :obj:`16`)
        mean_objects (float, optional): Objects per frame on average.
            (default: :obj:`2.3`)
        seed (int, optional): The seed. (default: :obj:`0`)
        dtype (torch.dtype, optional): Of the features.
            (default: :obj:`torch.float32`)
    """
    gen = torch.Generator().manual_seed(seed)
    B, T, S = num_videos, num_frames, 10
    num_obj = torch.randint(2, S, (B, ), generator=gen)  # 2..9
    valid = torch.arange(1, S).view(1, S - 1) <= num_obj.view(B, 1)
    p = (mean_objects / num_obj.float()).clamp(max=1.0).view(B, 1, 1)
    objects = (torch.rand(B, T, S - 1, generator=gen) < p) & valid[:, None]
    presence = torch.cat([torch.ones(B, T, 1, dtype=torch.bool), objects], 2)
    batch, frame, track, node_id = _nodes(presence)
    b, t, j = objects.nonzero(as_tuple=True)
    person, obj = node_id[b, t, 0], node_id[b, t, j + 1]
    n = b.numel()
    src = torch.cat([person, obj, person])
    dst = torch.cat([obj, person, obj])
    edge_type = torch.arange(3).repeat_interleave(n)
    total = sum(AG_GROUPS)
    offsets = (0, AG_GROUPS[0], AG_GROUPS[0] + AG_GROUPS[1])
    attr = torch.cat([_multi_hot(n, w, o, total, gen, dtype)
                      for w, o in zip(AG_GROUPS, offsets)])
    x = torch.randn(batch.numel(), channels, generator=gen, dtype=dtype)
    return SSG(x, batch, frame, track, torch.stack([src, dst]), edge_type,
               attr, t.repeat(3), B, T, 'star', AG_OUTGOING)


def sportshhi_graph(num_videos: int, channels: int, num_frames: int = 16,
                    pair_prob: float = 0.25, seed: int = 0,
                    dtype: torch.dtype = torch.float32) -> SSG:
    r"""A SportsHHI-shaped batch: 4-10 player tracks per video, each
    present in a frame with probability 0.8 (~6 players per frame); every
    ordered pair of present players interacts with probability
    :obj:`pair_prob` (~6 interactions per frame), one edge with a multi-hot
    over :data:`SHHI_CLASSES` classes. Its layout is ``'all'``.

    Args:
        num_videos (int): Videos ``B``.
        channels (int): Node features.
        num_frames (int, optional): Frames ``T``. (default: :obj:`16`)
        pair_prob (float, optional): Probability of an interaction.
            (default: :obj:`0.25`)
        seed (int, optional): The seed. (default: :obj:`0`)
        dtype (torch.dtype, optional): Of the features.
            (default: :obj:`torch.float32`)
    """
    gen = torch.Generator().manual_seed(seed)
    B, T, S = num_videos, num_frames, 10
    num_players = torch.randint(4, S + 1, (B, ), generator=gen)
    valid = torch.arange(S).view(1, S) < num_players.view(B, 1)
    presence = (torch.rand(B, T, S, generator=gen) < 0.8) & valid[:, None]
    batch, frame, track, node_id = _nodes(presence)
    pair = (presence.unsqueeze(3) & presence.unsqueeze(2) &
            ~torch.eye(S, dtype=torch.bool) &
            (torch.rand(B, T, S, S, generator=gen) < pair_prob))
    b, t, i, j = pair.nonzero(as_tuple=True)
    attr = _multi_hot(b.numel(), SHHI_CLASSES, 0, SHHI_CLASSES, gen, dtype)
    x = torch.randn(batch.numel(), channels, generator=gen, dtype=dtype)
    return SSG(x, batch, frame, track,
               torch.stack([node_id[b, t, i], node_id[b, t, j]]),
               torch.zeros(b.numel(), dtype=torch.long), attr, t, B, T,
               'all')


def sweep_graph(target: float, channels: int, seed: int = 1) -> SSG:
    r"""An :func:`ag_graph` batch with at least :obj:`target` edges, and
    about as few videos as that takes (the count is estimated from the
    batch's mean edges per video), so that a sweep point "at 1e3 edges"
    does not fall short of its range."""
    per_video = 7.0 * 16  # relations per video, a little over the mean
    videos = max(1, math.ceil(target / per_video))
    g = ag_graph(videos, channels, seed=seed)
    while g.num_edges < target:
        mean = g.num_edges / videos
        videos += max(1, math.ceil((target - g.num_edges) / mean))
        g = ag_graph(videos, channels, seed=seed)
    return g


def floor_graph(channels: int, seed: int = 1) -> SSG:
    r"""The smallest Action-Genome-shaped batch that still has sequences of
    frames to attend over: one video of :data:`FLOOR_FRAMES` frames (9
    edges at the default seed). A step on it costs what every call costs
    whatever the size of its graph: the *floor* of the sweep."""
    return ag_graph(1, channels, num_frames=FLOOR_FRAMES, seed=seed)
