r"""An embedded synthetic spatio-temporal scene graph dataset that tests
whether a model uses *time*.

:class:`SyntheticSSG` needs no download: every video is drawn by
:func:`generate_video` from a seed and stored as a
:class:`~pyg_proda.data.VideoSceneGraph` built by
:func:`~pyg_proda.data.build_video_graph`, with Action Genome's vocabulary
(36 object classes, 26 relation classes, see :mod:`pyg_proda.data.vocab`).

**Generative process** (one video of ``T`` sampled frames)

1. Draw ``1..max_actions`` distinct action classes, one person track (two
   with probability ``p_two_persons``) and ``0..num_distractors``
   distractor objects.
2. Each action instance gets its own object track of the action's object
   class and an actor (one of the persons). It occupies a window of ``L``
   frames (``L`` between ``max(3, 2 * phases)`` and ``3T/4``) split into its
   phases (at least two frames each when possible, cut points drawn
   uniformly, so phases have equal expected length). The object is visible
   for the window plus up to two lead-in and lead-out frames with *neutral*
   relations (``not_looking_at``, a random spatial relation among
   ``in_front_of``/``behind``/``on_the_side_of``, ``not_contacting``).
3. An action whose name ends a *reversed* pair (``putting X``,
   ``closing X``, ...) is the exact time reversal of its partner: the
   partner's span is drawn, then the per-frame states *and* every per-frame
   random draw of the object track, the actor track and their relations are
   reversed inside the span. So, for the same random draws, the two
   actions yield the same multiset of frames: a bag-of-frames model cannot
   tell them apart, a temporal model can.
4. Distractor objects (any non-person class) live for the whole video or
   for a random interval and take random relations in every frame
   (``not_contacting`` unless a contact is drawn with probability
   ``distractor_contact_p``). Frames outside all actions show the person(s)
   standing near objects with neutral or random relations.
5. Every person is related to every visible object of the frame by the
   three Action Genome edge types (person-attention->object,
   object-spatial->person, person-contacting->object). With probability
   ``relation_noise`` a relation group's label is replaced by a random
   label of its group. An object is unobserved in a frame with probability
   ``p_missing`` (the track disappears and reappears; each phase keeps at
   least one visible frame).
6. Node features ``x`` are a class vector (fixed per class, the same in all
   splits) plus Gaussian noise of std ``feature_noise``, followed by the
   9 box-geometry values of :func:`~pyg_proda.data.geometry_features`
   ``(x1, y1, x2, y2, w, h, cx, cy, area)``. Held objects sit at the
   actor's hand; all boxes jitter with std ``box_noise``.

Ground truth per video: ``y`` ``[1, C]``, ``frame_labels`` ``[T, C]``
and, per action instance, ``action_cls``, ``action_track`` (the object's
track), ``action_actor_track``, ``action_start`` and ``action_end``
(inclusive frames), all long ``[A]``.

**Action vocabulary** (:data:`ACTIONS`, 38 classes). Each action is a
sequence of relation states between its actor and one object:

* *order-only pairs* (26 classes): ``taking X`` (``looking_at`` +
  ``not_contacting`` then ``holding``) and ``putting X down`` (the
  reverse) for X in cup/glass/bottle, book, phone/camera, box, bag, towel,
  dish and blanket; ``opening``/``closing`` door and closet/cabinet
  (three phases: approach, ``touching``, step aside); ``sitting down on``/
  ``standing up from`` chair; ``lying down on``/``getting up from`` bed
  (``sitting_on`` then ``lying_on``); ``putting on``/``taking off``
  clothes (``holding`` then ``wearing``);
* *same object, different relation* (12 classes): holding vs drinking from
  a cup, reading a book, looking at a phone, sitting on vs standing on a
  chair, sitting on vs lying on a bed, watching television, working on a
  laptop, eating a sandwich and wiping a table.

:func:`order_pairs` lists the ``(forward, reversed)`` class pairs.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from pyg_proda.data.video_scene_graph import (
    Detection,
    Relation,
    VideoSceneGraph,
    build_video_graph,
)
from pyg_proda.data.vocab import (
    AG_OBJECT_CLASSES,
    AG_RELATION_CLASSES,
    AG_RELATION_GROUPS,
)
from pyg_proda.datasets.base import GeneratedSSGDataset


def _group_names(group: str) -> List[str]:
    start, size = AG_RELATION_GROUPS[group]
    return AG_RELATION_CLASSES[start:start + size]


_ATT = _group_names('attention')
_SPA = _group_names('spatial')
_CON = _group_names('contacting')
_NUM_OBJ = len(AG_OBJECT_CLASSES)
_GEOMETRY_DIM = 9
# Class vectors depend on this constant only, so that every split (and
# every dataset seed) shares them.
_CLASS_VECTOR_SEED = 20240229
# Contacts that put the object in the actor's hand.
_HELD = ('carrying', 'drinking_from', 'eating', 'holding')
_NEUTRAL_SPATIAL = ('in_front_of', 'behind', 'on_the_side_of')


@dataclass(frozen=True)
class RelationState:
    r"""Relations of an actor to an object in one frame: one attention
    label, a set of spatial labels and a set of contacting labels (Action
    Genome names)."""
    attention: str
    spatial: Tuple[str, ...]
    contacting: Tuple[str, ...]


@dataclass(frozen=True)
class ActionSpec:
    r"""A synthetic action: a temporal pattern of :class:`RelationState`
    between the actor and one object of class :obj:`object`. With
    :obj:`reverse`, the action is the time reversal of :obj:`phases` (its
    partner generates :obj:`phases` forward)."""
    name: str
    object: str
    phases: Tuple[RelationState, ...]
    reverse: bool = False


def _s(att: str, spa: Union[str, Tuple[str, ...]],
       con: Union[str, Tuple[str, ...]]) -> RelationState:
    spa = (spa, ) if isinstance(spa, str) else spa
    con = (con, ) if isinstance(con, str) else con
    return RelationState(att, spa, con)


def _default_actions() -> Tuple[ActionSpec, ...]:
    reach = _s('looking_at', 'in_front_of', 'not_contacting')
    hold = _s('looking_at', 'in_front_of', 'holding')
    acts: List[ActionSpec] = []

    def pair(fwd: str, bwd: str, obj: str, phases) -> None:
        acts.append(ActionSpec(fwd, obj, tuple(phases)))
        acts.append(ActionSpec(bwd, obj, tuple(phases), reverse=True))

    for obj, short in (('cup/glass/bottle', 'a cup'), ('book', 'a book'),
                       ('phone/camera', 'a phone'), ('box', 'a box'),
                       ('bag', 'a bag'), ('towel', 'a towel'),
                       ('dish', 'a dish'), ('blanket', 'a blanket')):
        pair(f'taking {short}', f'putting {short} down', obj, (reach, hold))
    for obj, short in (('door', 'a door'), ('closet/cabinet', 'a closet')):
        pair(f'opening {short}', f'closing {short}', obj,
             (reach, _s('looking_at', 'in_front_of', 'touching'),
              _s('looking_at', 'on_the_side_of', 'not_contacting')))
    pair('sitting down on a chair', 'standing up from a chair', 'chair',
         (_s('looking_at', 'on_the_side_of', 'not_contacting'),
          _s('not_looking_at', 'beneath', 'sitting_on')))
    pair('lying down on a bed', 'getting up from a bed', 'bed',
         (_s('not_looking_at', 'beneath', 'sitting_on'),
          _s('not_looking_at', 'beneath', 'lying_on')))
    pair('putting on clothes', 'taking off clothes', 'clothes',
         (hold, _s('not_looking_at', 'in', 'wearing')))

    def single(name: str, obj: str, state: RelationState) -> None:
        acts.append(ActionSpec(name, obj, (state, )))

    single('holding a cup', 'cup/glass/bottle',
           _s('not_looking_at', 'in_front_of', 'holding'))
    single('drinking from a cup', 'cup/glass/bottle',
           _s('not_looking_at', 'in_front_of', ('holding', 'drinking_from')))
    single('reading a book', 'book', hold)
    single('looking at a phone', 'phone/camera',
           _s('looking_at', 'in_front_of', ('holding', 'touching')))
    single('sitting on a chair', 'chair',
           _s('not_looking_at', 'beneath', 'sitting_on'))
    single('standing on a chair', 'chair',
           _s('not_looking_at', 'beneath', 'standing_on'))
    single('sitting on a bed', 'bed',
           _s('not_looking_at', 'beneath', 'sitting_on'))
    single('lying on a bed', 'bed',
           _s('not_looking_at', 'beneath', 'lying_on'))
    single('watching television', 'television',
           _s('looking_at', 'in_front_of', 'not_contacting'))
    single('working on a laptop', 'laptop',
           _s('looking_at', 'in_front_of', 'touching'))
    single('eating a sandwich', 'sandwich',
           _s('looking_at', 'in_front_of', ('holding', 'eating')))
    single('wiping a table', 'table',
           _s('looking_at', 'beneath', 'wiping'))
    return tuple(acts)


#: The default action vocabulary (see the module docs).
ACTIONS: Tuple[ActionSpec, ...] = _default_actions()


def order_pairs(actions: Sequence[ActionSpec] = ACTIONS
                ) -> List[Tuple[int, int]]:
    r"""Returns the ``(forward, reversed)`` class ids of the actions that
    differ only in temporal order."""
    out = []
    for j, spec in enumerate(actions):
        if spec.reverse:
            i = next(i for i, o in enumerate(actions)
                     if not o.reverse and o.object == spec.object
                     and o.phases == spec.phases)
            out.append((i, j))
    return out


def _action_index(action: Union[int, str], num: int) -> int:
    if isinstance(action, (int, np.integer)):
        if not 0 <= int(action) < num:
            raise ValueError(f"Action id {action} outside 0..{num - 1}")
        return int(action)
    for i, spec in enumerate(ACTIONS):
        if spec.name == action:
            return i
    raise ValueError(f"Unknown action '{action}' (see "
                     f"pyg_proda.datasets.synthetic.ACTIONS)")


def _state_arrays(state: RelationState) -> Tuple[int, np.ndarray, np.ndarray]:
    spa = np.zeros(len(_SPA), dtype=bool)
    spa[[_SPA.index(s) for s in state.spatial]] = True
    con = np.zeros(len(_CON), dtype=bool)
    con[[_CON.index(c) for c in state.contacting]] = True
    return _ATT.index(state.attention), spa, con


def class_vectors(dim: int) -> np.ndarray:
    r"""The fixed ``[36, dim]`` class vectors of the node features."""
    return np.random.default_rng(_CLASS_VECTOR_SEED).standard_normal(
        (_NUM_OBJ, dim))


def _geometry(box: np.ndarray) -> np.ndarray:
    # The geometry part of `geometry_features`: x1, y1, x2, y2, w, h, cx,
    # cy, area.
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


def generate_video(
    seed: Union[int, Sequence[int], np.random.Generator],
    actions: Optional[Sequence[Union[int, str]]] = None,
    *,
    num_frames: int = 16,
    node_dim: int = 32,
    relation_noise: float = 0.05,
    feature_noise: float = 0.5,
    box_noise: float = 0.02,
    p_missing: float = 0.1,
    num_distractors: int = 8,
    max_actions: int = 5,
    p_two_persons: float = 0.2,
    distractor_contact_p: float = 0.2,
    video_id: str = 'synthetic',
) -> VideoSceneGraph:
    r"""Draws one synthetic video (see the module docs for the process).

    The random draws never depend on which member of an order-only pair an
    action is, so ``generate_video(s, ['taking a cup'])`` and
    ``generate_video(s, ['putting a cup down'])`` (with one person and no
    distractor) show the same frames in reversed order inside the action's
    span.

    Args:
        seed (int, list or numpy.random.Generator): The randomness.
        actions (list, optional): Action names or ids of :data:`ACTIONS` to
            place in the video; drawn at random if :obj:`None`.
            (default: :obj:`None`)
        num_frames (int): Number of sampled frames ``T``. (default: :obj:`16`)
        node_dim (int): Node feature size, at least 10 (class vector part of
            ``node_dim - 9`` values, then box geometry). (default: :obj:`32`)
        relation_noise (float): Probability that a relation group's label is
            replaced by a random one. (default: :obj:`0.05`)
        feature_noise (float): Std of the noise on class vectors.
            (default: :obj:`0.5`)
        box_noise (float): Std of the box jitter. (default: :obj:`0.02`)
        p_missing (float): Probability that an object is unobserved in a
            frame of its lifetime. (default: :obj:`0.1`)
        num_distractors (int): Maximum number of distractor objects.
            (default: :obj:`8`)
        max_actions (int): Maximum number of actions per video.
            (default: :obj:`5`)
        p_two_persons (float): Probability of a second person.
            (default: :obj:`0.2`)
        distractor_contact_p (float): Probability that a distractor has a
            random contacting relation in a frame. (default: :obj:`0.2`)
        video_id (str): The video's id. (default: :obj:`'synthetic'`)

    Raises:
        ValueError: for an unknown action, ``node_dim < 10``, too few frames
            for an action's phases, or ``max_actions`` above the vocabulary.

    Example:
        >>> g = generate_video(0, ['taking a cup', 'watching television'])
        >>> g.action_cls.tolist(), g.frame_labels.shape
        ([0, 34], torch.Size([16, 38]))
    """
    num_classes = len(ACTIONS)
    T = num_frames
    if node_dim < _GEOMETRY_DIM + 1:
        raise ValueError(f"'node_dim' must be at least {_GEOMETRY_DIM + 1}, "
                         f"got {node_dim}")
    if not 1 <= max_actions <= num_classes:
        raise ValueError(f"'max_actions' must be in 1..{num_classes}, got "
                         f"{max_actions}")
    rng = (seed if isinstance(seed, np.random.Generator) else
           np.random.default_rng(seed))

    # 1. Content of the video.
    if actions is None:
        num_act = int(rng.integers(1, max_actions + 1))
        cls = rng.choice(num_classes, size=num_act, replace=False)
    else:
        cls = np.array([_action_index(a, num_classes) for a in actions],
                       dtype=np.int64)
    cls = np.asarray(cls, dtype=np.int64)
    A = len(cls)
    P = 2 if rng.random() < p_two_persons else 1
    D = int(rng.integers(0, num_distractors + 1))
    O = A + D
    N = P + O  # tracks: persons 0..P-1, action objects, then distractors

    # 2. Span of every action, drawn in its forward orientation.
    actor = np.zeros(A, dtype=np.int64)
    span = np.zeros((A, 2), dtype=np.int64)  # object lifetime, inclusive
    window = np.zeros((A, 2), dtype=np.int64)  # labelled frames, inclusive
    seqs: List[np.ndarray] = []  # phase id per frame of the span, -1 neutral
    for a in range(A):
        spec = ACTIONS[cls[a]]
        n = len(spec.phases)
        if T < n:
            raise ValueError(f"Action '{spec.name}' has {n} phases but "
                             f"'num_frames' is {T}")
        lo = min(T, max(3, 2 * n))
        hi = max(lo, min(T, (3 * T) // 4))
        actor[a] = rng.integers(0, P)
        length = int(rng.integers(lo, hi + 1))
        start = int(rng.integers(0, T - length + 1))
        lengths = _phase_lengths(rng, length, n)
        pad = rng.integers(0, 3, size=2)
        s0 = max(0, start - int(pad[0]))
        s1 = min(T - 1, start + length - 1 + int(pad[1]))
        seq = np.full(s1 - s0 + 1, -1, dtype=np.int64)
        seq[start - s0:start - s0 + length] = np.repeat(np.arange(n), lengths)
        span[a] = (s0, s1)
        window[a] = (start, start + length - 1)
        seqs.append(seq)

    d_cls = rng.integers(1, _NUM_OBJ, size=D)
    d_full = rng.random(D) < 0.5
    d_a = rng.integers(0, T, size=D)
    d_b = rng.integers(0, T, size=D)

    # 3. Geometry parameters and every per-frame random draw, drawn in a
    # fixed order whatever the actions are.
    p_par = rng.random((P, 5))
    o_par = rng.random((O, 4))
    feat_noise = rng.standard_normal((N, T, node_dim - _GEOMETRY_DIM))
    jitter = rng.standard_normal((N, T, 4))
    miss = rng.random((N, T))
    pair_u = rng.random((P, O, T, 8))
    pair_i = rng.integers(0, 1 << 30, size=(P, O, T, 5))

    # 4. Reversed actions: reverse states and draws inside the span.
    for a in range(A):
        if not ACTIONS[cls[a]].reverse:
            continue
        s0, s1 = span[a]
        o, p = P + a, actor[a]
        seqs[a] = seqs[a][::-1].copy()
        window[a] = (s0 + s1 - window[a, 1], s0 + s1 - window[a, 0])
        for arr, rows in ((feat_noise, (o, p)), (jitter, (o, p)),
                          (miss, (o, p))):
            for r in rows:
                arr[r, s0:s1 + 1] = arr[r, s0:s1 + 1][::-1].copy()
        for arr in (pair_u, pair_i):
            arr[:, a, s0:s1 + 1] = arr[:, a, s0:s1 + 1][:, ::-1].copy()

    # 5. Visibility.
    present = np.zeros((O, T), dtype=bool)
    for a in range(A):
        present[a, span[a, 0]:span[a, 1] + 1] = True
    for d in range(D):
        lo, hi = sorted((int(d_a[d]), int(d_b[d])))
        present[A + d] = True if d_full[d] else False
        present[A + d, lo:hi + 1] = True
    visible = present & (miss[P:] >= p_missing)
    for a in range(A):
        # Keep one frame of every phase: the one with the largest draw,
        # which reversal maps onto itself.
        s0 = span[a, 0]
        for ph in range(len(ACTIONS[cls[a]].phases)):
            idx = s0 + np.flatnonzero(seqs[a] == ph)
            if not visible[a, idx].any():
                visible[a, idx[np.argmax(miss[P + a, idx])]] = True

    # 6. Relations (true states), then label noise.
    att = np.full((P, O, T), _ATT.index('not_looking_at'), dtype=np.int64)
    spa = np.zeros((P, O, T, len(_SPA)), dtype=bool)
    con = np.zeros((P, O, T, len(_CON)), dtype=bool)
    neutral = np.array([_SPA.index(s) for s in _NEUTRAL_SPATIAL])
    pick = neutral[pair_i[..., 0] % len(neutral)]
    np.put_along_axis(spa, pick[..., None], True, axis=-1)
    con[..., _CON.index('not_contacting')] = True
    if D > 0:
        u, ii = pair_u[:, A:], pair_i[:, A:]
        att[:, A:] = np.where(u[..., 0] < 0.25, 0,
                              np.where(u[..., 0] < 0.75, 1, 2))
        spa[:, A:] = False
        np.put_along_axis(spa[:, A:], (ii[..., 0] % len(_SPA))[..., None],
                          True, axis=-1)
        second = (ii[..., 1] % len(_SPA))[..., None]
        extra = np.zeros_like(spa[:, A:])
        np.put_along_axis(extra, second, True, axis=-1)
        spa[:, A:] |= extra & (u[..., 1] < 0.2)[..., None]
        touch = u[..., 2] < distractor_contact_p
        rand_con = np.zeros_like(con[:, A:])
        np.put_along_axis(rand_con, (ii[..., 2] % len(_CON))[..., None],
                          True, axis=-1)
        con[:, A:] = np.where(touch[..., None], rand_con, con[:, A:])
    for a in range(A):
        states = [_state_arrays(s) for s in ACTIONS[cls[a]].phases]
        s0, p = span[a, 0], actor[a]
        for k, ph in enumerate(seqs[a]):
            if ph >= 0:
                att[p, a, s0 + k], spa[p, a, s0 + k], con[p, a, s0 + k] = (
                    states[ph][0], states[ph][1], states[ph][2])
    held = con[..., [_CON.index(c) for c in _HELD]].any(-1)  # [P, O, T]

    flip = pair_u[..., 3:6] < relation_noise  # [P, O, T, 3]
    att = np.where(flip[..., 0], pair_i[..., 3] % len(_ATT), att)
    rnd = np.zeros_like(spa)
    np.put_along_axis(rnd, (pair_i[..., 4] % len(_SPA))[..., None], True, -1)
    spa = np.where(flip[..., 1, None], rnd, spa)
    rnd = np.zeros_like(con)
    np.put_along_axis(rnd, ((pair_i[..., 4] // len(_SPA)) % len(_CON))[
        ..., None], True, -1)
    con = np.where(flip[..., 2, None], rnd, con)

    # 7. Boxes and node features.
    cx = 0.2 + 0.6 * p_par[:, 0]
    pw = 0.15 + 0.15 * p_par[:, 1]
    py1 = 0.05 + 0.25 * p_par[:, 2]
    py2 = 0.75 + 0.25 * p_par[:, 3]
    p_box = np.stack([cx - pw / 2, py1, cx + pw / 2, py2], axis=-1)
    p_box = p_box[:, None] + box_noise * jitter[:P]  # [P, T, 4]
    side = np.where(p_par[:, 4] < 0.5, -1.0, 1.0)[:, None]
    hand = np.stack([(p_box[..., 0] + p_box[..., 2]) / 2 + 0.35 * side *
                     (p_box[..., 2] - p_box[..., 0]),
                     p_box[..., 1] + 0.55 * (p_box[..., 3] - p_box[..., 1])],
                    axis=-1)  # [P, T, 2]
    o_size = 0.05 + 0.25 * o_par[:, 2:4]  # [O, 2]
    home = 0.05 + 0.9 * o_par[:, :2]
    holder = np.argmax(held, axis=0)  # [O, T]
    centre = np.where(held.any(0)[..., None],
                      hand[holder, np.arange(T)[None, :]],
                      home[:, None])  # [O, T, 2]
    o_box = np.concatenate([centre - o_size[:, None] / 2,
                            centre + o_size[:, None] / 2], axis=-1)
    o_box = o_box + box_noise * jitter[P:]
    box = np.clip(np.concatenate([p_box, o_box], axis=0), 0.0, 1.0)
    track_cls = np.concatenate([
        np.zeros(P, dtype=np.int64),
        [AG_OBJECT_CLASSES.index(ACTIONS[c].object) for c in cls],
        d_cls]).astype(np.int64)
    vec = class_vectors(node_dim - _GEOMETRY_DIM)[track_cls]
    x = np.concatenate([vec[:, None] + feature_noise * feat_noise,
                        _geometry(box)], axis=-1)  # [N, T, F]

    # 8. Graph.
    frames: List[List[Detection]] = []
    relations: List[List[Relation]] = []
    box_l, x_l = box.tolist(), x.tolist()
    spa_ids = [[[np.flatnonzero(spa[p, o, t]).tolist() for t in range(T)]
                for o in range(O)] for p in range(P)]
    con_ids = [[[np.flatnonzero(con[p, o, t]).tolist() for t in range(T)]
                for o in range(O)] for p in range(P)]
    att_l = att.tolist()
    for t in range(T):
        dets = [Detection(p, 'person', 0, box_l[p][t], x_l[p][t])
                for p in range(P)]
        rels = []
        for o in np.flatnonzero(visible[:, t]).tolist():
            n = P + o
            dets.append(Detection(n, 'object', int(track_cls[n]), box_l[n][t],
                                  x_l[n][t]))
            for p in range(P):
                rels.append(Relation(p, 'attention', n, [att_l[p][o][t]]))
                rels.append(Relation(n, 'spatial', p, spa_ids[p][o][t]))
                rels.append(Relation(p, 'contacting', n, con_ids[p][o][t]))
        frames.append(dets)
        relations.append(rels)

    frame_labels = torch.zeros(T, num_classes)
    for a in range(A):
        frame_labels[window[a, 0]:window[a, 1] + 1, cls[a]] = 1.0
    y = torch.zeros(num_classes)
    y[torch.from_numpy(cls)] = 1.0
    data = build_video_graph(frames, relations, video_id=video_id, y=y,
                             frame_labels=frame_labels, node_dim=node_dim)
    # All tracks count, even one never observed, so that `*_track`
    # attributes stay below the batching offset.
    data.num_tracks = N
    data.action_cls = torch.from_numpy(cls.copy())
    data.action_track = torch.arange(P, P + A, dtype=torch.long)
    data.action_actor_track = torch.from_numpy(actor.copy())
    data.action_start = torch.from_numpy(window[:, 0].copy())
    data.action_end = torch.from_numpy(window[:, 1].copy())
    return data


class SyntheticSSG(GeneratedSSGDataset):
    r"""A synthetic multi-label action recognition dataset of
    spatio-temporal scene graphs in which 26 of the 38 classes can only be
    told apart by the temporal order of relations (see the module docs of
    :mod:`pyg_proda.datasets.synthetic`).

    Nothing is downloaded: :meth:`process` draws the videos with
    :func:`generate_video`. Video ``i`` of a split is drawn from the seed
    ``[seed, split id, i]``, so splits differ and a video does not depend
    on :obj:`num_videos`. The processed file name encodes every option.

    Args:
        root (str): Root directory; files go to ``root/processed``.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
            (default: :obj:`'train'`)
        num_videos (int, optional): Number of videos; 1500/400/400 for
            train/val/test if :obj:`None`. (default: :obj:`None`)
        num_frames (int): Frames per video. (default: :obj:`16`)
        seed (int): Base seed. (default: :obj:`0`)
        node_dim (int): Node feature size. (default: :obj:`32`)
        relation_noise (float): See :func:`generate_video`.
            (default: :obj:`0.05`)
        feature_noise (float): See :func:`generate_video`.
            (default: :obj:`0.5`)
        box_noise (float): See :func:`generate_video`. (default: :obj:`0.02`)
        p_missing (float): See :func:`generate_video`. (default: :obj:`0.1`)
        num_distractors (int): See :func:`generate_video`.
            (default: :obj:`8`)
        max_actions (int): See :func:`generate_video`. (default: :obj:`5`)
        p_two_persons (float): See :func:`generate_video`.
            (default: :obj:`0.2`)
        distractor_contact_p (float): See :func:`generate_video`.
            (default: :obj:`0.2`)
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
        >>> from torch_geometric.loader import DataLoader
        >>> dataset = SyntheticSSG('/tmp/ssg', split='val', num_videos=32)
        >>> dataset.num_classes, len(dataset.action_names)
        (38, 38)
        >>> batch = next(iter(DataLoader(dataset, batch_size=8)))
        >>> batch.y.shape
        torch.Size([8, 38])
    """
    #: Names of the action classes, in class-id order.
    action_names: List[str] = [spec.name for spec in ACTIONS]
    #: Number of action classes.
    num_classes: int = len(ACTIONS)
    #: Object class names (Action Genome's, ``person`` is 0).
    object_names: List[str] = AG_OBJECT_CLASSES
    #: Relation class names in Action Genome's global order.
    relation_names: List[str] = AG_RELATION_CLASSES
    #: The action specifications (:data:`ACTIONS`).
    actions: Tuple[ActionSpec, ...] = ACTIONS
    #: ``(forward, reversed)`` class ids of the order-only pairs.
    order_pairs: List[Tuple[int, int]] = order_pairs(ACTIONS)
    #: Default number of videos per split.
    default_num_videos: Dict[str, int] = {'train': 1500, 'val': 400,
                                          'test': 400}
    #: Version of the generator; part of the processed file name.
    version: int = 1
    file_prefix = 'synthetic'
    short_names = {'num_frames': 'T', 'node_dim': 'F', 'relation_noise': 'rn',
                   'feature_noise': 'fn', 'box_noise': 'bn', 'p_missing': 'pm',
                   'num_distractors': 'nd', 'max_actions': 'na',
                   'p_two_persons': 'p2', 'distractor_contact_p': 'dc'}
    generator = staticmethod(generate_video)

    def __init__(
        self,
        root: str,
        split: str = 'train',
        num_videos: Optional[int] = None,
        num_frames: int = 16,
        seed: int = 0,
        node_dim: int = 32,
        relation_noise: float = 0.05,
        feature_noise: float = 0.5,
        box_noise: float = 0.02,
        p_missing: float = 0.1,
        num_distractors: int = 8,
        max_actions: int = 5,
        p_two_persons: float = 0.2,
        distractor_contact_p: float = 0.2,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        pre_filter: Optional[Callable] = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        options = dict(
            num_frames=int(num_frames), node_dim=int(node_dim),
            relation_noise=float(relation_noise),
            feature_noise=float(feature_noise), box_noise=float(box_noise),
            p_missing=float(p_missing), num_distractors=int(num_distractors),
            max_actions=int(max_actions), p_two_persons=float(p_two_persons),
            distractor_contact_p=float(distractor_contact_p))
        super().__init__(root, split, num_videos, seed, options, transform,
                         pre_transform, pre_filter, force_reload, log)


__all__ = ['ACTIONS', 'ActionSpec', 'RelationState', 'SyntheticSSG',
           'class_vectors', 'generate_video', 'order_pairs']
