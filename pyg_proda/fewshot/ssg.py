r"""Few-shot recognition on spatio-temporal scene graphs: the few-shot heads
on per-frame features read out of the SSG encoder.

A video's scene graph (``T`` sampled frames, e.g. by
:class:`~pyg_proda.data.SampleFrames`) goes through a linear input map,
:class:`~pyg_proda.nn.SpatioTemporalEncoder` and :class:`FrameReadout`,
giving frame features ``[T, C]`` that any head of
:mod:`pyg_proda.fewshot` takes in place of cached CLIP features; encoder
and head are trained together on episodes.

:class:`SSGFewShotSplit` makes a few-shot class split of a scene-graph
dataset's actions (videos with exactly one action of the split's classes;
:class:`~pyg_proda.datasets.SyntheticSSG` with ``max_actions=1`` gives
only such videos), with class text features from
:func:`hashed_text_features` (a deterministic bag-of-words embedding of the
action names, standing in for a CLIP text tower, which is not available
offline) or any ``[C, D]`` tensor. :class:`SSGFewShotDataModule` wraps it
for Lightning.
"""
import os.path as osp
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import GELU, LayerNorm, Linear, Module, Sequential
from torch_geometric.utils import scatter

from pyg_proda.data.homogeneous import SSGCollater, SSGView
from pyg_proda.fewshot.episodes import EpisodeBatch
from pyg_proda.fewshot.sampler import Episode
from pyg_proda.fewshot.training import FewShotDataModule
from pyg_proda.nn import SpatioTemporalEncoder
from pyg_proda.utils import frame_group


class FrameReadout(Module):
    r"""Gated pooling of the nodes of every ``(graph, frame)`` group into
    one frame feature (the node level of :class:`~pyg_proda.nn.SSGReadout`
    without the video level):

    .. math::
        \alpha_i = \sigma(\mathrm{MLP}(\mathbf{x}_i)), \qquad
        \mathbf{z}_{b,f} = \mathrm{LN}\Big(\sum_{i \in (b, f)} \alpha_i
        \mathbf{x}_i\Big)

    Frames without nodes get :math:`\mathbf{z} = \mathbf{0}` and are flagged
    in the returned mask.

    Args:
        channels (int): Feature size :math:`C`.
        num_frames (int): Frames per video :math:`T`.

    Example:
        >>> readout = FrameReadout(8, num_frames=4)
        >>> z, mask = readout(torch.randn(5, 8), torch.tensor([0, 0, 0, 1, 1]),
        ...                   torch.tensor([0, 0, 1, 0, 3]), batch_size=2)
        >>> z.shape, mask[1].tolist()
        (torch.Size([2, 4, 8]), [True, False, False, True])
    """
    def __init__(self, channels: int, num_frames: int):
        super().__init__()
        self.channels = channels
        self.num_frames = num_frames
        self.gate = Sequential(Linear(channels, channels), GELU(),
                               Linear(channels, 1))
        self.norm = LayerNorm(channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for layer in (self.gate[0], self.gate[2], self.norm):
            layer.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor, frame: Tensor,
                batch_size: int) -> Tuple[Tensor, Tensor]:
        r"""Args:
            x (Tensor): Node features ``[N, C]``.
            batch (Tensor): Graph of each node ``[N]``.
            frame (Tensor): Frame of each node ``[N]`` in ``0..T-1``.
            batch_size (int): Number of graphs :math:`B`.

        Returns:
            (Tensor, Tensor): frame features ``[B, T, C]`` and the mask of
            frames with nodes ``[B, T]``.
        """
        T = self.num_frames
        group = frame_group(batch, frame, T)  # [N]
        alpha = torch.sigmoid(self.gate(x))  # [N, 1]
        pooled = scatter(alpha * x, group, 0, dim_size=batch_size * T,
                         reduce='sum')
        count = scatter(x.new_ones(x.size(0)), group, 0,
                        dim_size=batch_size * T, reduce='sum')
        mask = count > 0
        z = self.norm(pooled) * mask.unsqueeze(-1).to(x.dtype)
        return z.view(batch_size, T, -1), mask.view(batch_size, T)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'num_frames={self.num_frames})')


class SSGFrameEncoder(Module):
    r"""Per-frame features of scene graphs for the few-shot heads:

    .. math::
        \mathbf{r}_i = \sum_{(i, j) \in \mathcal{E}} \mathbf{e}_{ij} +
        \sum_{(j, i) \in \mathcal{E}} \mathbf{e}_{ji}, \qquad
        \mathbf{h} = \mathrm{SpatioTemporalEncoder}(\mathbf{W}
        [\mathbf{x} \Vert \mathbf{r}]), \qquad \mathbf{Z} =
        \mathrm{FrameReadout}(\mathbf{h}) \in \mathbb{R}^{B \times T
        \times C}

    The encoder attends over nodes only; the relation labels of a node's
    edges (:math:`\mathbf{e}`, multi-hot, summed over the edges it sends
    and receives) are appended to its features so that relations, which
    tell the order-only actions apart, reach it.

    Args:
        in_channels (int): Node feature size.
        channels (int): Feature size :math:`C` of the heads.
        edge_dim (int, optional): Relation feature size; 0 ignores the
            edges. (default: :obj:`0`)
        num_frames (int, optional): Frames per video :math:`T` (frame ids
            must lie below it). (default: :obj:`8`)
        heads (int, optional): Attention heads of the encoder.
            (default: :obj:`4`)
        num_layers (int, optional): Encoder layers. (default: :obj:`1`)
        dropout (float, optional): Encoder dropout. (default: :obj:`0.0`)

    Example:
        >>> from pyg_proda.data import SSGLoader
        >>> from pyg_proda.datasets import SyntheticSSG
        >>> ds = SyntheticSSG('/tmp/ssg_fs', split='val', num_videos=4,
        ...                   max_actions=1, num_frames=8, log=False)
        >>> enc = SSGFrameEncoder(ds[0]['person'].x.size(-1), 16, edge_dim=26,
        ...                       heads=2)
        >>> enc(next(iter(SSGLoader(ds, batch_size=4)))).shape
        torch.Size([4, 8, 16])
    """
    def __init__(self, in_channels: int, channels: int, edge_dim: int = 0,
                 num_frames: int = 8, heads: int = 4, num_layers: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        self.in_channels = in_channels
        self.channels = channels
        self.edge_dim = edge_dim
        self.num_frames = num_frames
        self.lin_in = Linear(in_channels + edge_dim, channels)
        self.encoder = SpatioTemporalEncoder(channels, heads, num_layers,
                                             dropout=dropout,
                                             max_frames=num_frames)
        self.readout = FrameReadout(channels, num_frames)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.lin_in.reset_parameters()
        self.encoder.reset_parameters()
        self.readout.reset_parameters()

    def forward(self, view: SSGView) -> Tensor:
        r"""Args:
            view (SSGView): The homogeneous view of a batch of scene graphs
                (:class:`~pyg_proda.data.SSGLoader`).

        Returns:
            Tensor: ``[B, T, C]``.

        Raises:
            ValueError: if a frame id is not below :obj:`num_frames`.
        """
        B = int(view.num_frames.numel())
        if view.frame.numel() and int(view.frame.max()) >= self.num_frames:
            raise ValueError(f"Frame {int(view.frame.max())} outside "
                             f"0..{self.num_frames - 1}: sample the videos "
                             f"to {self.num_frames} frames (SampleFrames)")
        x = view.x
        if self.edge_dim > 0:
            src, dst = view.edge_index
            attr = view.edge_attr.to(x.dtype)
            if attr.size(-1) != self.edge_dim:
                raise ValueError(f"Relation features of size "
                                 f"{attr.size(-1)}, expected {self.edge_dim}")
            rel = (scatter(attr, dst, 0, dim_size=x.size(0), reduce='sum') +
                   scatter(attr, src, 0, dim_size=x.size(0), reduce='sum'))
            x = torch.cat([x, rel], dim=-1)
        h = self.encoder(self.lin_in(x), view.batch, view.frame, view.track)
        z, _ = self.readout(h, view.batch, view.frame, B)
        return z

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.channels}, num_frames={self.num_frames})')


def hashed_text_features(names: Sequence[str], dim: int,
                         seed: int = 0) -> Tensor:
    r"""A deterministic bag-of-words text embedding: every word gets a
    Gaussian vector seeded by its CRC-32, a name is the mean of its words'
    vectors. Names sharing words ("taking a cup", "putting a cup down")
    get similar features.

    Example:
        >>> t = hashed_text_features(['taking a cup', 'putting a cup down',
        ...                           'watching television'], 64)
        >>> cos = torch.nn.functional.cosine_similarity
        >>> bool(cos(t[0], t[1], dim=0) > cos(t[0], t[2], dim=0))
        True
    """
    out = np.zeros((len(names), dim))
    for i, name in enumerate(names):
        words = name.lower().split()
        if not words:
            raise ValueError(f"Class name {i} is empty")
        for w in words:
            rng = np.random.default_rng([seed, zlib.crc32(w.encode())])
            out[i] += rng.standard_normal(dim)
        out[i] /= len(words)
    return torch.from_numpy(out).float()


def class_split(num_classes: int, order_pairs: Sequence[Tuple[int, int]],
                counts: Sequence[int] = (20, 6, 12),
                seed: int = 0) -> Dict[str, List[int]]:
    r"""A few-shot class split (train / val / test) that keeps the two
    members of every order-only pair in the same split, with about the
    same share of pairs in each.

    Raises:
        ValueError: if :obj:`counts` do not add up to :obj:`num_classes` or
            cannot be filled.

    Example:
        >>> from pyg_proda.datasets import SyntheticSSG
        >>> split = class_split(38, SyntheticSSG.order_pairs)
        >>> [len(split[s]) for s in ('train', 'val', 'test')]
        [20, 6, 12]
    """
    counts = [int(c) for c in counts]
    if sum(counts) != num_classes or len(counts) != 3:
        raise ValueError(f"Class counts {counts} must be three numbers "
                         f"adding up to {num_classes}")
    rng = np.random.default_rng(seed)
    paired = {c for p in order_pairs for c in p}
    pairs = [tuple(p) for p in order_pairs]
    singles = [c for c in range(num_classes) if c not in paired]
    pairs = [pairs[i] for i in rng.permutation(len(pairs))]
    singles = [singles[i] for i in rng.permutation(len(singles))]
    share = len(paired) / num_classes
    out: Dict[str, List[int]] = {}
    for name, n in (('test', counts[2]), ('val', counts[1]),
                    ('train', counts[0])):
        if name == 'train':
            k = len(pairs)
        else:
            k = min(len(pairs), int(round(n * share / 2)))
        take = [c for p in pairs[:k] for c in p]
        pairs = pairs[k:]
        rest = n - len(take)
        if rest < 0 or rest > len(singles):
            raise ValueError(f"Cannot fill {n} {name} classes from the "
                             f"remaining classes")
        out[name] = sorted(take + singles[:rest])
        singles = singles[rest:]
    return out


class SSGFewShotSplit:
    r"""One few-shot split of a scene-graph dataset: its videos with
    exactly one positive action, that action being one of
    :obj:`classes` (relabelled ``0..C-1``).

    Args:
        graphs: A PyG dataset of scene graphs with a multi-hot ``y``.
        classes (list of int): Global action ids of the split.
        class_names (list of str): Names of all actions (global ids).
        text_features (Tensor): Text features of all actions
            ``[C_all, D]``.
        path (str, optional): Name for error messages.
            (default: :obj:`'<scene graphs>'`)

    Raises:
        ValueError: if a class of the split has no video.
    """
    def __init__(self, graphs, classes: Sequence[int],
                 class_names: Sequence[str], text_features: Tensor,
                 path: str = '<scene graphs>'):
        self.graphs = graphs
        self.path = path
        self.classes = [int(c) for c in classes]
        local = {c: i for i, c in enumerate(self.classes)}
        index, labels = [], []
        for j, i in enumerate(graphs.indices()):
            y = graphs.get(i).y.view(-1)
            pos = (y > 0).nonzero().view(-1).tolist()
            if len(pos) == 1 and pos[0] in local:
                index.append(j)
                labels.append(local[pos[0]])
        self.index = torch.tensor(index, dtype=torch.long)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.class_names = [class_names[c] for c in self.classes]
        self.text_features = text_features[self.classes].float()
        empty = sorted(set(range(len(self.classes))) - set(labels))
        if empty:
            raise ValueError(f"{path}: class(es) "
                             f"{[self.class_names[c] for c in empty]} have no "
                             f"single-action video")

    @property
    def dim(self) -> int:
        r"""Size of the text features (the heads' :math:`D`)."""
        return self.text_features.size(1)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return self.labels.numel()

    @staticmethod
    def collate(split: 'SSGFewShotSplit', episodes: Sequence[Episode],
                text_features: Optional[Tensor] = None) -> EpisodeBatch:
        r"""Batches episodes: supports and queries as
        :class:`~pyg_proda.data.SSGView` batches (episode-major), made once
        here at the data boundary."""
        text = split.text_features if text_features is None else \
            text_features

        def graphs(idx: Tensor) -> SSGView:
            return SSGCollater()(
                [split.graphs[int(split.index[i])] for i in idx.view(-1)])

        sup = torch.stack([e.support for e in episodes])
        qry = torch.stack([e.query for e in episodes])
        classes = torch.stack([e.classes for e in episodes])
        return EpisodeBatch(
            support=None, support_labels=episodes[0].support_labels,
            query=None,
            query_labels=torch.stack([e.query_labels for e in episodes]),
            classes=classes, class_text=text[classes].float(),
            support_graphs=graphs(sup), query_graphs=graphs(qry))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, '
                f'classes={self.num_classes})')


class SSGFewShotDataModule(FewShotDataModule):
    r"""Episodes of a few-shot class split of
    :class:`~pyg_proda.datasets.SyntheticSSG` (single-action videos,
    :obj:`num_frames` frames sampled uniformly from each).

    Args:
        root (str): Where SyntheticSSG is generated.
            (default: :obj:`'datasets'`)
        num_videos (list of int): Videos generated per split (train / val /
            test; the classes of each few-shot split are drawn from its own
            generator split). (default: :obj:`(1500, 800, 800)`)
        class_counts (list of int): Classes per few-shot split.
            (default: :obj:`(20, 6, 12)`)
        text_dim (int): Size of the hashed text features (the heads'
            :math:`D`). (default: :obj:`32`)
        num_frames (int): Frames per video. (default: :obj:`8`)
        ssg_seed (int): Seed of the generated videos and the class split.
            (default: :obj:`0`)
        ssg_options (dict, optional): More arguments of
            :class:`~pyg_proda.datasets.SyntheticSSG` (e.g.
            ``num_distractors``). (default: :obj:`None`)
        **kwargs: Arguments of :class:`FewShotDataModule`.
    """
    def __init__(self, root: str = 'datasets',
                 num_videos: Sequence[int] = (1500, 800, 800),
                 class_counts: Sequence[int] = (20, 6, 12),
                 text_dim: int = 32, num_frames: int = 8, ssg_seed: int = 0,
                 ssg_options: Optional[Dict] = None, **kwargs):
        kwargs.pop('synthetic', None)
        super().__init__(root=None, **kwargs)
        self.ssg_root = root
        self.num_videos = [int(n) for n in num_videos]
        self.class_counts = [int(n) for n in class_counts]
        self.text_dim = int(text_dim)
        self.frames = int(num_frames)
        self.ssg_seed = int(ssg_seed)
        self.ssg_options = dict(ssg_options or {})
        for key in ('split', 'num_videos', 'max_actions', 'seed'):
            if key in self.ssg_options:
                raise ValueError(f"'ssg_options' cannot set '{key}'")

    def _load(self) -> Dict[str, SSGFewShotSplit]:
        from pyg_proda.data import SampleFrames
        from pyg_proda.datasets import SyntheticSSG
        names = SyntheticSSG.action_names
        split = class_split(len(names), SyntheticSSG.order_pairs,
                            self.class_counts, self.ssg_seed)
        text = hashed_text_features(names, self.text_dim, self.ssg_seed)
        out = {}
        for s, n in zip(('train', 'val', 'test'), self.num_videos):
            # Frames are sampled once, when the graphs are processed (a
            # root of its own per frame count keeps the files apart).
            graphs = SyntheticSSG(osp.join(self.ssg_root,
                                           f'fewshot_T{self.frames}'),
                                  split=s, num_videos=n, max_actions=1,
                                  seed=self.ssg_seed,
                                  pre_transform=SampleFrames(self.frames),
                                  log=False, **self.ssg_options)
            out[s] = SSGFewShotSplit(graphs, split[s], names, text,
                                     path=f'SyntheticSSG({s})')
            local = {c: i for i, c in enumerate(split[s])}
            self.order_pairs[s] = [(local[a], local[b]) for a, b in
                                   SyntheticSSG.order_pairs
                                   if a in local and b in local]
        return out

    @property
    def num_frames(self) -> int:
        return self.frames

    @property
    def in_channels(self) -> int:
        r"""Node feature size of the scene graphs."""
        return int(self.splits['train'].graphs.get(0)['person'].x.size(-1))

    @property
    def edge_dim(self) -> int:
        r"""Relation feature size of the homogeneous view."""
        g = self.splits['train'].graphs
        return int(SSGCollater()([g.get(0)]).edge_attr.size(-1))


__all__ = ['FrameReadout', 'SSGFewShotDataModule', 'SSGFewShotSplit',
           'SSGFrameEncoder', 'class_split',
           'hashed_text_features']
