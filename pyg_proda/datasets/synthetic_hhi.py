r"""An embedded SportsHHI-shaped synthetic dataset: person-person
interactions that are defined by *temporal patterns* and scored per
candidate pair, as in SportsHHI's interaction classification with
ground-truth boxes given.

:class:`SyntheticHHI` needs no download: every video is drawn by
:func:`generate_hhi_video` from a seed and stored in the graph layout of
:class:`~pyg_proda.datasets.SportsHHI` (:func:`~pyg_proda.datasets.sportshhi.
hhi_video_graph`): person nodes per keyframe, every ordered pair of players
of a keyframe a candidate edge with label-free box-geometry features, and
the per-pair multi-hot interactions as the separate edge-level ``target``.

**Generative process** (one video of ``T`` keyframes)

1. Draw ``P`` players (``min_players..max_players``), all visible in every
   keyframe (one track each), and ``1..max_interactions`` interactions
   (classes drawn uniformly, repeats allowed), each between two players that
   take part in no other interaction; at least one player interacts with
   nobody.
2. Every player has a *pose* per keyframe (:data:`POSES`). Outside its
   interactions a player's pose follows a sticky random chain over all
   poses (every pose of every interaction also occurs at random), and its
   position a random walk around a moving centre of play (distractor
   motion).
3. An interaction is a sequence of *phases* (:data:`INTERACTIONS`), each a
   triple ``(pose of person 1, pose of person 2, distance)`` with distance
   ``'near'`` or ``'far'``. It occupies a window of ``L`` keyframes
   (between ``max(2, 2 * phases)`` and ``3T/4``) split into its phases (at
   least two keyframes each when possible, cut points uniform). Person 2 is
   placed near or far from person 1 in a direction drawn per interaction.
   The ordered pair ``(person 1, person 2)`` is labelled with the class on
   every keyframe of the window; the reversed pair is labelled only when
   the role-swapped pattern is itself a class (the symmetric classes).
4. Eight of the twelve classes form four *order-only pairs*: the same two
   phases in the opposite order (e.g. ``screen`` = run in from far, then
   stand near; ``slip screen`` = stand near, then run out far). Any single
   keyframe of one is also a keyframe of the other, so a model that scores
   a candidate from its own keyframe cannot tell them apart.
5. *Decoys*: up to ``max_decoys`` pairs of non-interacting players show one
   phase of a two-phase class for two or three keyframes, unlabelled: a
   keyframe of a real interaction without its other phase.
6. Boxes: a player's box stands on its position (size drawn per player);
   the pose changes it (``jump`` lifts it, ``crouch`` shortens it,
   ``reach`` raises the top, ``run`` and ``swing`` widen it); all boxes
   jitter with std ``box_noise``. Node features ``x`` are a fixed vector
   per pose (the same in every split) plus Gaussian noise of std
   ``feature_noise``, followed by the 9 box-geometry values ``(x1, y1, x2,
   y2, w, h, cx, cy, area)``.

Ground truth per video: the edge-level ``target`` ``[E, C]``, ``y``
``[1, C]`` and ``frame_labels`` ``[T, C]``, and per interaction instance
``interaction_cls``, ``interaction_src_track``, ``interaction_dst_track``,
``interaction_start`` and ``interaction_end`` (inclusive keyframes).
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from pyg_proda.data.video_scene_graph import VideoSceneGraph
from pyg_proda.datasets.base import GeneratedSSGDataset
from pyg_proda.datasets.sportshhi import hhi_video_graph

#: Player poses, observed through the node features and the box shape.
POSES: Tuple[str, ...] = ('stand', 'run', 'jump', 'reach', 'crouch', 'swing')
#: Probabilities of the poses outside interactions.
BACKGROUND_POSE_P: Tuple[float, ...] = (0.3, 0.25, 0.1, 0.1, 0.15, 0.1)
#: Probability that a non-interacting player keeps its pose from one
#: keyframe to the next.
POSE_STICKINESS = 0.4
# Box of a pose: (width factor, height factor, lift).
_POSE_BOX = {'stand': (1.0, 1.0, 0.0), 'run': (1.2, 0.95, 0.0),
             'jump': (1.0, 1.0, 0.06), 'reach': (1.0, 1.25, 0.0),
             'crouch': (1.1, 0.7, 0.0), 'swing': (1.4, 1.0, 0.0)}
_RADIUS = {'near': (0.05, 0.09), 'far': (0.28, 0.40)}
_GEOMETRY_DIM = 9
# Pose vectors depend on this constant only, so every split and every
# dataset seed share them.
_POSE_VECTOR_SEED = 20240517

Phase = Tuple[str, str, str]


@dataclass(frozen=True)
class Interaction:
    r"""A synthetic interaction: a temporal pattern of phases
    ``(pose of person 1, pose of person 2, 'near' | 'far')``."""
    name: str
    phases: Tuple[Phase, ...]


def _default_interactions() -> Tuple[Interaction, ...]:
    def pair(fwd: str, bwd: str, first: Phase, second: Phase):
        return [Interaction(fwd, (first, second)),
                Interaction(bwd, (second, first))]

    acts = []
    acts += pair('basketball - screen', 'basketball - slip screen',
                 ('run', 'stand', 'far'), ('stand', 'stand', 'near'))
    acts += pair('volleyball - set', 'volleyball - cover',
                 ('reach', 'crouch', 'near'), ('stand', 'jump', 'near'))
    acts += pair('basketball - pass', 'basketball - call for the ball',
                 ('swing', 'stand', 'far'), ('stand', 'reach', 'far'))
    acts += pair('basketball - drive', 'basketball - box out',
                 ('run', 'crouch', 'near'), ('jump', 'stand', 'near'))
    acts += [Interaction('volleyball - celebrate', (('jump', 'jump',
                                                      'near'), )),
             Interaction('basketball - guard', (('crouch', 'run', 'near'), )),
             Interaction('volleyball - block', (('jump', 'swing', 'near'), )),
             Interaction('basketball - hand-off', (('reach', 'reach',
                                                     'near'), ))]
    return tuple(acts)


#: The default interaction vocabulary (see the module docs).
INTERACTIONS: Tuple[Interaction, ...] = _default_interactions()


def order_pairs(interactions: Sequence[Interaction] = INTERACTIONS
                ) -> List[Tuple[int, int]]:
    r"""The ``(i, j)`` class pairs (``i < j``) whose phases are each
    other's time reversal: they differ only in temporal order.

    Example:
        >>> order_pairs()
        [(0, 1), (2, 3), (4, 5), (6, 7)]
    """
    out = []
    for i, a in enumerate(interactions):
        for j in range(i + 1, len(interactions)):
            b = interactions[j]
            if len(a.phases) > 1 and a.phases == b.phases[::-1]:
                out.append((i, j))
    return out


def mirror_classes(interactions: Sequence[Interaction] = INTERACTIONS
                   ) -> List[Optional[int]]:
    r"""For every class, the class of the reversed ordered pair (persons
    swapped in every phase), or :obj:`None` when the swapped pattern is no
    class.

    Example:
        >>> mirror_classes()[8], mirror_classes()[9]
        (8, None)
    """
    swapped = [tuple((b, a, d) for a, b, d in it.phases)
               for it in interactions]
    phases = [it.phases for it in interactions]
    return [phases.index(s) if s in phases else None for s in swapped]


def pose_vectors(dim: int) -> np.ndarray:
    r"""The fixed ``[len(POSES), dim]`` pose vectors of the node features."""
    return np.random.default_rng(_POSE_VECTOR_SEED).standard_normal(
        (len(POSES), dim))


def _geometry(box: np.ndarray) -> np.ndarray:
    # x1, y1, x2, y2, w, h, cx, cy, area (as geometry_features).
    w = np.clip(box[..., 2] - box[..., 0], 0, None)
    h = np.clip(box[..., 3] - box[..., 1], 0, None)
    return np.concatenate([
        box, np.stack([w, h, (box[..., 0] + box[..., 2]) / 2,
                       (box[..., 1] + box[..., 3]) / 2, w * h], axis=-1)
    ], axis=-1)


def _phase_lengths(rng: np.random.Generator, length: int,
                   num_phases: int) -> np.ndarray:
    min_len = 2 if length >= 2 * num_phases else 1
    extra = length - num_phases * min_len
    cuts = np.sort(rng.integers(0, extra + 1, size=num_phases - 1))
    return np.diff(np.concatenate([[0], cuts, [extra]])) + min_len


def _class_index(c: Union[int, str], names: List[str]) -> int:
    if isinstance(c, (int, np.integer)):
        if not 0 <= int(c) < len(names):
            raise ValueError(f"Interaction id {c} outside 0..{len(names) - 1}")
        return int(c)
    if c not in names:
        raise ValueError(f"Unknown interaction '{c}' (see "
                         f"pyg_proda.datasets.synthetic_hhi.INTERACTIONS)")
    return names.index(c)


def _place(anchor: np.ndarray, radius: float, angle: float) -> np.ndarray:
    # A point at `radius` from `anchor`; the opposite direction when the
    # first leaves the court.
    step = radius * np.array([np.cos(angle), np.sin(angle)])
    out = anchor + step
    if ((out < 0.05) | (out > 0.95)).any():
        out = anchor - step
    return np.clip(out, 0.05, 0.95)


def generate_hhi_video(
    seed: Union[int, Sequence[int], np.random.Generator],
    interactions: Optional[Sequence[Union[int, str]]] = None,
    *,
    num_frames: int = 8,
    min_players: int = 4,
    max_players: int = 7,
    max_interactions: int = 2,
    max_decoys: int = 2,
    pose_dim: int = 8,
    feature_noise: float = 0.6,
    box_noise: float = 0.01,
    video_id: str = 'synthetic_hhi',
) -> VideoSceneGraph:
    r"""Draws one synthetic SportsHHI-shaped video (see the module docs).

    Args:
        seed (int, list or numpy.random.Generator): The randomness.
        interactions (list, optional): Class names or ids of
            :data:`INTERACTIONS` to place; drawn at random if :obj:`None`
            (the number of players then grows to fit them).
            (default: :obj:`None`)
        num_frames (int): Keyframes ``T``. (default: :obj:`8`)
        min_players (int): Fewest players. (default: :obj:`4`)
        max_players (int): Most players. (default: :obj:`7`)
        max_interactions (int): Most interactions per video.
            (default: :obj:`2`)
        max_decoys (int): Most decoy pairs per video. (default: :obj:`2`)
        pose_dim (int): Size of the pose part of ``x`` (``x`` has
            ``pose_dim + 9`` values). (default: :obj:`8`)
        feature_noise (float): Std of the noise on the pose vectors.
            (default: :obj:`0.6`)
        box_noise (float): Std of the box jitter. (default: :obj:`0.01`)
        video_id (str): The video's id. (default: :obj:`'synthetic_hhi'`)

    Raises:
        ValueError: for an unknown interaction, fewer than 3 players, fewer
            than 2 keyframes, ``pose_dim < 1`` or ``max_interactions < 1``.

    Example:
        >>> g = generate_hhi_video(0, ['basketball - screen'])
        >>> e = g['person', 'interaction', 'person']
        >>> g.interaction_cls.tolist(), e.target.size(1)
        ([0], 12)
    """
    names = [it.name for it in INTERACTIONS]
    C, T = len(names), int(num_frames)
    if min_players < 3 or max_players < min_players:
        raise ValueError(f"Need 3 <= min_players <= max_players, got "
                         f"{min_players} and {max_players}")
    if T < 2:
        raise ValueError(f"'num_frames' must be at least 2, got {T}")
    if pose_dim < 1:
        raise ValueError(f"'pose_dim' must be positive, got {pose_dim}")
    if max_interactions < 1:
        raise ValueError(f"'max_interactions' must be positive, got "
                         f"{max_interactions}")
    rng = (seed if isinstance(seed, np.random.Generator) else
           np.random.default_rng(seed))
    mirror = mirror_classes(INTERACTIONS)

    # 1. Players and interactions.
    P = int(rng.integers(min_players, max_players + 1))
    if interactions is None:
        A = int(rng.integers(1, min(max_interactions, (P - 1) // 2) + 1))
        cls = rng.integers(0, C, size=A)
    else:
        cls = np.array([_class_index(c, names) for c in interactions],
                       dtype=np.int64)
        A = len(cls)
        P = max(P, 2 * A + 1)
    cls = np.asarray(cls, dtype=np.int64)
    players = rng.permutation(P)
    src, dst = players[0:2 * A:2], players[1:2 * A:2]
    idle = players[2 * A:]

    # 2. Background poses and motion, drawn for everyone.
    pose = np.empty((P, T), dtype=np.int64)
    pose[:, 0] = rng.choice(len(POSES), size=P, p=BACKGROUND_POSE_P)
    for t in range(1, T):
        fresh = rng.choice(len(POSES), size=P, p=BACKGROUND_POSE_P)
        keep = rng.random(P) < POSE_STICKINESS
        pose[:, t] = np.where(keep, pose[:, t - 1], fresh)
    centre = np.empty((T, 2))
    centre[0] = 0.3 + 0.4 * rng.random(2)
    offset = np.empty((P, T, 2))
    offset[:, 0] = 0.18 * rng.standard_normal((P, 2))
    for t in range(1, T):
        centre[t] = np.clip(centre[t - 1] + 0.05 * rng.standard_normal(2),
                            0.25, 0.75)
        offset[:, t] = offset[:, t - 1] + 0.05 * rng.standard_normal((P, 2))
    pos = np.clip(centre[None] + offset, 0.05, 0.95)  # [P, T, 2]

    # 3. Interactions: windows, phases, poses and placement.
    window = np.zeros((A, 2), dtype=np.int64)
    scripted: List[Tuple[int, int, int, Phase, float]] = []
    for a in range(A):
        phases = INTERACTIONS[cls[a]].phases
        n = len(phases)
        lo = min(T, max(2, 2 * n))
        hi = max(lo, (3 * T) // 4)
        length = int(rng.integers(lo, hi + 1))
        start = int(rng.integers(0, T - length + 1))
        lengths = _phase_lengths(rng, length, n)
        angle = float(rng.uniform(0, 2 * np.pi))
        seq = np.repeat(np.arange(n), lengths)
        for k, ph in enumerate(seq.tolist()):
            scripted.append((int(src[a]), int(dst[a]), start + k,
                             phases[ph], angle))
        window[a] = (start, start + length - 1)
    # 4. Decoys: one phase of a two-phase class, unlabelled.
    decoy_phases = [ph for it in INTERACTIONS if len(it.phases) > 1
                    for ph in it.phases]
    num_decoys = min(int(rng.integers(0, max_decoys + 1)), len(idle) // 2)
    for d in range(num_decoys):
        phase = decoy_phases[int(rng.integers(0, len(decoy_phases)))]
        length = min(T, int(rng.integers(2, 4)))
        start = int(rng.integers(0, T - length + 1))
        angle = float(rng.uniform(0, 2 * np.pi))
        for t in range(start, start + length):
            scripted.append((int(idle[2 * d]), int(idle[2 * d + 1]), t, phase,
                             angle))
    for i, j, t, (pose_i, pose_j, dist), angle in scripted:
        pose[i, t], pose[j, t] = POSES.index(pose_i), POSES.index(pose_j)
        lo_r, hi_r = _RADIUS[dist]
        radius = float(rng.uniform(lo_r, hi_r))
        jitter = 0.3 * float(rng.standard_normal())
        pos[j, t] = _place(pos[i, t], radius, angle + jitter)

    # 5. Boxes and node features.
    size = np.stack([0.05 + 0.02 * rng.random(P),
                     0.16 + 0.06 * rng.random(P)], axis=-1)  # [P, 2]
    factors = np.array([_POSE_BOX[p] for p in POSES])  # [6, 3]
    f = factors[pose]  # [P, T, 3]
    w = size[:, None, 0] * f[..., 0]
    h = size[:, None, 1] * f[..., 1]
    foot = pos[..., 1] - f[..., 2]
    box = np.stack([pos[..., 0] - w / 2, foot - h, pos[..., 0] + w / 2, foot],
                   axis=-1)
    box = np.clip(box + box_noise * rng.standard_normal(box.shape), 0.0, 1.0)
    vec = pose_vectors(pose_dim)[pose]  # [P, T, pose_dim]
    noise = feature_noise * rng.standard_normal(vec.shape)
    x = np.concatenate([vec + noise, _geometry(box)], axis=-1)

    # 6. Graph: node t * P + p is player p in keyframe t.
    labels = []
    for a in range(A):
        for t in range(int(window[a, 0]), int(window[a, 1]) + 1):
            i, j = t * P + int(src[a]), t * P + int(dst[a])
            labels.append((i, j, int(cls[a])))
            if mirror[cls[a]] is not None:
                labels.append((j, i, int(mirror[cls[a]])))
    order = np.arange(P * T)
    return hhi_video_graph(
        video_id=video_id, num_frames=T,
        x=torch.from_numpy(x.transpose(1, 0, 2).reshape(P * T, -1)).float(),
        box=torch.from_numpy(box.transpose(1, 0, 2).reshape(P * T, 4)).float(),
        frame=torch.from_numpy(order // P), track=torch.from_numpy(order % P),
        num_classes=C, labels=torch.tensor(labels, dtype=torch.long),
        num_tracks=P,
        interaction_cls=torch.from_numpy(cls.copy()),
        interaction_src_track=torch.from_numpy(src.astype(np.int64)),
        interaction_dst_track=torch.from_numpy(dst.astype(np.int64)),
        interaction_start=torch.from_numpy(window[:, 0].copy()),
        interaction_end=torch.from_numpy(window[:, 1].copy()))


class SyntheticHHI(GeneratedSSGDataset):
    r"""A synthetic SportsHHI-shaped interaction dataset in which eight of
    the twelve classes can only be told apart by the temporal order of a
    pair's keyframes (see :mod:`pyg_proda.datasets.synthetic_hhi`).

    Nothing is downloaded: :meth:`process` draws the videos with
    :func:`generate_hhi_video`. Video ``i`` of a split is drawn from the
    seed ``[seed, split id, i]``, so splits differ and a video does not
    depend on :obj:`num_videos`. The processed file name encodes every
    option.

    Args:
        root (str): Root directory; files go to ``root/processed``.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
            (default: :obj:`'train'`)
        num_videos (int, optional): Number of videos; 800/200/200 for
            train/val/test if :obj:`None`. (default: :obj:`None`)
        seed (int): Base seed. (default: :obj:`0`)
        num_frames (int): Keyframes per video. (default: :obj:`8`)
        min_players (int): See :func:`generate_hhi_video`. (default: :obj:`4`)
        max_players (int): See :func:`generate_hhi_video`. (default: :obj:`7`)
        max_interactions (int): See :func:`generate_hhi_video`.
            (default: :obj:`2`)
        max_decoys (int): See :func:`generate_hhi_video`. (default: :obj:`2`)
        pose_dim (int): See :func:`generate_hhi_video`. (default: :obj:`8`)
        feature_noise (float): See :func:`generate_hhi_video`.
            (default: :obj:`0.6`)
        box_noise (float): See :func:`generate_hhi_video`.
            (default: :obj:`0.01`)
        transform (callable, optional): Applied on every access.
            (default: :obj:`None`)
        pre_transform (callable, optional): Applied before saving.
            (default: :obj:`None`)
        pre_filter (callable, optional): Keeps the videos it returns
            :obj:`True` for. (default: :obj:`None`)
        force_reload (bool): Reprocess even if the file exists.
            (default: :obj:`False`)
        log (bool): Print progress while processing. (default: :obj:`True`)

    Raises:
        ValueError: for an unknown split.

    Example:
        >>> dataset = SyntheticHHI('/tmp/hhi', split='val', num_videos=16)
        >>> dataset.num_classes, dataset.order_pairs[0]
        (12, (0, 1))
        >>> dataset[0]['person', 'interaction', 'person'].target.size(1)
        12
    """
    #: Names of the interaction classes, in class-id order.
    interaction_names: List[str] = [it.name for it in INTERACTIONS]
    #: Number of interaction classes.
    num_classes: int = len(INTERACTIONS)
    #: The classes :func:`~pyg_proda.metrics.interaction_map` scores.
    evaluated_classes: List[int] = list(range(len(INTERACTIONS)))
    #: The interaction specifications (:data:`INTERACTIONS`).
    interactions: Tuple[Interaction, ...] = INTERACTIONS
    #: Class pairs that differ only in temporal order.
    order_pairs: List[Tuple[int, int]] = order_pairs(INTERACTIONS)
    #: Default number of videos per split.
    default_num_videos: Dict[str, int] = {'train': 800, 'val': 200,
                                          'test': 200}
    #: Version of the generator; part of the processed file name.
    version: int = 1
    file_prefix = 'synthetic_hhi'
    short_names = {'num_frames': 'T', 'min_players': 'pmin',
                   'max_players': 'pmax', 'max_interactions': 'na',
                   'max_decoys': 'nd', 'pose_dim': 'F', 'feature_noise': 'fn',
                   'box_noise': 'bn'}
    generator = staticmethod(generate_hhi_video)

    def __init__(
        self,
        root: str,
        split: str = 'train',
        num_videos: Optional[int] = None,
        seed: int = 0,
        num_frames: int = 8,
        min_players: int = 4,
        max_players: int = 7,
        max_interactions: int = 2,
        max_decoys: int = 2,
        pose_dim: int = 8,
        feature_noise: float = 0.6,
        box_noise: float = 0.01,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        pre_filter: Optional[Callable] = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        options = dict(
            num_frames=int(num_frames), min_players=int(min_players),
            max_players=int(max_players),
            max_interactions=int(max_interactions),
            max_decoys=int(max_decoys), pose_dim=int(pose_dim),
            feature_noise=float(feature_noise), box_noise=float(box_noise))
        super().__init__(root, split, num_videos, seed, options, transform,
                         pre_transform, pre_filter, force_reload, log)


__all__ = ['INTERACTIONS', 'Interaction', 'POSES', 'SyntheticHHI',
           'generate_hhi_video', 'mirror_classes', 'order_pairs',
           'pose_vectors']
