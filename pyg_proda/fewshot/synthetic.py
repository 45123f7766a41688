r"""The embedded synthetic few-shot benchmark: CLIP-like frame and text
features whose classes can only partly be told apart without time.

:class:`SyntheticFewShot` needs no download. Classes come in *groups* of
four visually similar classes sharing one appearance; each group holds one
**order-only pair** (a class and its exact time reversal, e.g. ``raising
obj07`` / ``lowering obj07``) and two classes with their own motion. Whole
groups go to the train / val / test splits (64 / 12 / 24 classes by
default, as Kinetics-100 and SSv2-Small), so every split has order-only
pairs (16 / 3 / 6).

**Frames** of video :math:`v` of class :math:`c` in group :math:`g`
(:math:`T` frames, :math:`u_t = t / (T - 1)`):

.. math::
    \mathbf{x}_{v,t} = \mathbf{m}_0 + \mathbf{V}\mathbf{w}_v +
    \mathbf{a}_c + \beta\,\mathbf{U}\big((1 - \pi_v(u_t))\,
    \mathbf{s}^{0}_c + \pi_v(u_t)\,\mathbf{s}^{1}_c\big) +
    \sigma\boldsymbol{\epsilon}_{v,t}

* :math:`\mathbf{m}_0`: a mean shared by all features (CLIP features have
  a large common component), :math:`\mathbf{V}\mathbf{w}_v`: a static
  per-video background in a :obj:`background_dim`-dimensional subspace,
* :math:`\mathbf{a}_c`: the group appearance plus a small class offset
  (the same for both members of an order-only pair),
* the motion: a move from state :math:`\mathbf{s}^0_c` to
  :math:`\mathbf{s}^1_c` (in a :obj:`motion_dim`-dimensional subspace
  :math:`\mathbf{U}`) along a sigmoid progress
  :math:`\pi_v(u) = \sigma(k_v(u - o_v))` with a random onset
  :math:`o_v` and speed :math:`k_v` per video,
* :math:`\boldsymbol{\epsilon}`: i.i.d. noise per frame.

A video of the reversed member of a pair is a video of the forward member
with its frames in reverse order, so the two classes have exactly the same
distribution of frame *sets*: a model that pools over time cannot separate
them better than chance.

**Text** features are tied to a class latent (appearance and the
direction of motion :math:`\mathbf{s}^1_c - \mathbf{s}^0_c`, which flips
within an order-only pair) and sit behind a modality gap
:math:`\mathbf{g}`:

.. math::
    \mathbf{t}_c = \mathbf{a}_c + \gamma\,\mathbf{U}(\mathbf{s}^1_c -
    \mathbf{s}^0_c) + \mathbf{g} + \sigma_t\boldsymbol{\eta}_c

Everything is drawn from :obj:`seed`; the datasets are
:class:`~pyg_proda.fewshot.FrameFeatureDataset` objects, and
:meth:`SyntheticFewShot.write` stores them as feature caches.
"""
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from pyg_proda.fewshot.data import FrameFeatureDataset
from pyg_proda.io import write_json_atomic

_SPLITS = ('train', 'val', 'test')
_ORDER_VERBS = (('raising', 'lowering'), ('opening', 'closing'),
                ('pushing', 'pulling'), ('filling', 'emptying'),
                ('folding', 'unfolding'), ('stacking', 'unstacking'))
_OTHER_VERBS = ('spinning', 'shaking', 'tilting', 'tapping', 'sliding',
                'squeezing', 'rolling', 'waving')


def _orthonormal(rng: np.random.Generator, dim: int, k: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((dim, k)))
    return q[:, :k]


class SyntheticFewShot:
    r"""The embedded synthetic few-shot benchmark (see the module docs).

    Args:
        num_classes (tuple of int, optional): Classes of train / val /
            test; multiples of 4. (default: :obj:`(64, 12, 24)`)
        videos_per_class (int, optional): (default: :obj:`100`)
        dim (int, optional): Feature size :math:`D`. (default: :obj:`32`)
        num_frames (int, optional): :math:`T`. (default: :obj:`8`)
        motion_dim (int, optional): Size of the motion subspace.
            (default: :obj:`8`)
        background_dim (int, optional): Size of the background subspace.
            (default: :obj:`8`)
        motion_scale (float, optional): :math:`\beta`. (default: :obj:`1.0`)
        background_scale (float, optional): Std of :math:`\mathbf{w}_v`.
            (default: :obj:`2.0`)
        appearance_scale (float, optional): Norm scale of the group
            appearance. (default: :obj:`0.6`)
        class_offset (float, optional): Scale of the per-class appearance
            offset relative to the group's. (default: :obj:`0.1`)
        noise (float, optional): :math:`\sigma` per feature.
            (default: :obj:`1.2`)
        mean_scale (float, optional): Norm of :math:`\mathbf{m}_0`.
            (default: :obj:`2.0`)
        text_motion (float, optional): :math:`\gamma`. (default: :obj:`0.5`)
        text_gap (float, optional): Norm of the modality gap
            :math:`\mathbf{g}`. (default: :obj:`3.0`)
        text_noise (float, optional): :math:`\sigma_t` per feature.
            (default: :obj:`0.05`)
        seed (int, optional): (default: :obj:`0`)

    Raises:
        ValueError: for class counts that are not positive multiples of 4.

    Example:
        >>> bench = SyntheticFewShot((8, 4, 4), videos_per_class=6, dim=32)
        >>> bench.splits['test']
        FrameFeatureDataset(24, classes=4, frames=8, dim=32)
        >>> bench.order_pairs['test']
        [(0, 1)]
    """
    group_size = 4

    def __init__(self, num_classes: Sequence[int] = (64, 12, 24),
                 videos_per_class: int = 100, dim: int = 32,
                 num_frames: int = 8, motion_dim: int = 8,
                 background_dim: int = 8, motion_scale: float = 1.0,
                 background_scale: float = 2.0,
                 appearance_scale: float = 0.6, class_offset: float = 0.1,
                 noise: float = 1.2, mean_scale: float = 2.0,
                 text_motion: float = 0.5, text_gap: float = 3.0,
                 text_noise: float = 0.05, seed: int = 0):
        num_classes = tuple(int(n) for n in num_classes)
        if len(num_classes) != 3 or any(
                n <= 0 or n % self.group_size for n in num_classes):
            raise ValueError(f"'num_classes' must be three positive "
                             f"multiples of {self.group_size}, got "
                             f"{num_classes}")
        if motion_dim + background_dim > dim:
            raise ValueError(f"motion_dim + background_dim = "
                             f"{motion_dim + background_dim} exceeds dim = "
                             f"{dim}")
        self.options = dict(
            num_classes=list(num_classes),
            videos_per_class=int(videos_per_class), dim=int(dim),
            num_frames=int(num_frames), motion_dim=int(motion_dim),
            background_dim=int(background_dim),
            motion_scale=float(motion_scale),
            background_scale=float(background_scale),
            appearance_scale=float(appearance_scale),
            class_offset=float(class_offset), noise=float(noise),
            mean_scale=float(mean_scale), text_motion=float(text_motion),
            text_gap=float(text_gap), text_noise=float(text_noise),
            seed=int(seed))
        self.splits: Dict[str, FrameFeatureDataset] = {}
        self.order_pairs: Dict[str, List[Tuple[int, int]]] = {}
        self._generate()

    def _generate(self) -> None:
        o = self.options
        D, P = o['dim'], o['motion_dim']
        rng = np.random.default_rng([o['seed'], 0])
        # One shared basis: motion and background subspaces are disjoint.
        basis = _orthonormal(rng, D, P + o['background_dim'])
        U, V = basis[:, :P], basis[:, P:]
        m0 = rng.standard_normal(D)
        m0 *= o['mean_scale'] / np.linalg.norm(m0)
        gap = rng.standard_normal(D)
        gap *= o['text_gap'] / np.linalg.norm(gap)
        groups = sum(o['num_classes']) // self.group_size
        order = rng.permutation(groups)
        bounds = np.cumsum([0] + [n // self.group_size
                                  for n in o['num_classes']])
        for s, split in enumerate(_SPLITS):
            self._make_split(split, order[bounds[s]:bounds[s + 1]], U, V, m0,
                             gap)

    def _make_split(self, split: str, groups: np.ndarray, U: np.ndarray,
                    V: np.ndarray, m0: np.ndarray, gap: np.ndarray) -> None:
        o = self.options
        D, T, P = o['dim'], o['num_frames'], o['motion_dim']
        n = o['videos_per_class']
        feats, labels, ids, names, texts = [], [], [], [], []
        pairs = []
        u = np.linspace(0.0, 1.0, T)
        for g in groups.tolist():
            # Each group's draws depend only on (seed, group): the classes
            # are the same whatever the split sizes.
            rng = np.random.default_rng([o['seed'], 1, g])
            app = rng.standard_normal(D) * o['appearance_scale'] / np.sqrt(
                D) * 4.0
            fwd, bwd = _ORDER_VERBS[g % len(_ORDER_VERBS)]
            others = [_OTHER_VERBS[(2 * g + i) % len(_OTHER_VERBS)]
                      for i in range(2)]
            if others[0] == others[1]:
                others[1] = _OTHER_VERBS[(2 * g + 3) % len(_OTHER_VERBS)]
            obj = f'obj{g:02d}'
            specs = []  # (name, appearance, s0, s1, reversed)
            offset = rng.standard_normal(D) / np.sqrt(D) * 4.0 * \
                o['appearance_scale'] * o['class_offset']
            s0, s1 = rng.standard_normal(P), rng.standard_normal(P)
            specs.append((f'{fwd} {obj}', app + offset, s0, s1, False))
            specs.append((f'{bwd} {obj}', app + offset, s0, s1, True))
            for verb in others:
                off = rng.standard_normal(D) / np.sqrt(D) * 4.0 * \
                    o['appearance_scale'] * o['class_offset']
                specs.append((f'{verb} {obj}', app + off,
                              rng.standard_normal(P), rng.standard_normal(P),
                              False))
            first = len(names)
            pairs.append((first, first + 1))
            for k, (name, a, s0, s1, rev) in enumerate(specs):
                c = len(names)
                names.append(name)
                direction = (s0 - s1) if rev else (s1 - s0)
                texts.append(a + o['text_motion'] * U @ direction + gap +
                             o['text_noise'] * rng.standard_normal(D))
                vrng = np.random.default_rng([o['seed'], 2, g, k])
                onset = vrng.uniform(0.3, 0.7, size=(n, 1))
                speed = vrng.uniform(6.0, 14.0, size=(n, 1))
                prog = 1.0 / (1.0 + np.exp(-speed * (u[None] - onset)))
                state = ((1 - prog)[..., None] * s0 + prog[..., None] * s1)
                motion = o['motion_scale'] * state @ U.T  # [n, T, D]
                if rev:
                    motion = motion[:, ::-1]
                bg = (vrng.standard_normal((n, V.shape[1])) *
                      o['background_scale']) @ V.T  # [n, D]
                x = (m0 + bg[:, None] + a + motion +
                     o['noise'] * vrng.standard_normal((n, T, D)))
                feats.append(x)
                labels.append(np.full(n, c))
                ids.extend(f'{name}/{split}_{c:03d}_{i:04d}'
                           for i in range(n))
        self.splits[split] = FrameFeatureDataset.from_tensors(
            torch.from_numpy(np.concatenate(feats).astype(np.float32)),
            torch.from_numpy(np.concatenate(labels)), ids, names,
            torch.from_numpy(np.stack(texts).astype(np.float32)),
            path=f'<synthetic {split}>')
        self.order_pairs[split] = pairs

    def write(self, root: str, suffix: str = '.npz') -> List[str]:
        r"""Writes the three splits as feature caches
        ``root/{train,val,test}<suffix>`` and ``root/order_pairs.json``;
        returns the cache paths."""
        paths = []
        for split, ds in self.splits.items():
            path = osp.join(root, split + suffix)
            ds.to_cache(path, meta={'source': 'SyntheticFewShot',
                                    'options': self.options})
            paths.append(path)
        write_json_atomic({s: [[self.splits[s].class_names[a],
                                self.splits[s].class_names[b]]
                               for a, b in p]
                           for s, p in self.order_pairs.items()},
                          osp.join(root, 'order_pairs.json'))
        return paths

    def __repr__(self) -> str:
        n = self.options['num_classes']
        return (f'{self.__class__.__name__}({n[0]}/{n[1]}/{n[2]} classes, '
                f'dim={self.options["dim"]})')


__all__ = ['SyntheticFewShot']
