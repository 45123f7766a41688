r"""Action specifications: the specified (SAP) and unspecified (UAP) action
prompts of ProDA and their disentanglement targets.

For a video with ground-truth action set :math:`G` (:math:`|G| = L`) among
:math:`C` classes, ProDA (Sec. 3.2 and App. C of the paper) uses
:math:`2L + 1` specifications:

* **plain** (non-distractor) SAPs: :math:`i` members of :math:`G`,
  :math:`i = 1, \ldots, L`;
* **distractor**-injected SAPs of fixed length :math:`K` (default 16):
  :math:`i` members of :math:`G` plus :math:`K - i` absent classes,
  :math:`i = 0, \ldots, L`.

The targets are over :math:`C + 1` classes, where index :math:`C` means
"no action":

.. math::
    \mathbf{y}_s = \mathrm{SAP} \cap G, \qquad
    \mathbf{y}_u = G \setminus \mathrm{SAP},

each replaced by the one-hot "no action" vector when empty.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

UAP_MODES = ('complement', 'same')
KINDS = ('plain', 'distractor')
#: Every kind :meth:`ActionSpecSampler.enumerate` lists: the paper's two,
#: and ``'one_distractor'`` (a single absent class, not padded: the
#: authors' evaluation adds it, and it is the "wrong SAP" of one class).
ALL_KINDS = KINDS + ('one_distractor', )
#: The authors' evaluation rows (2L + 2 per video, design facts §11).
PAPER_PROTOCOL_KINDS = ALL_KINDS


class ActionSpec(NamedTuple):
    r"""A batch of action specifications.

    Attributes:
        sap (torch.Tensor): Specified-action prompt, multi-hot ``[M, C]``.
        uap (torch.Tensor): Unspecified-action prompt, multi-hot ``[M, C]``.
        y_s (torch.Tensor): Target of the specified branch ``[M, C + 1]``.
        y_u (torch.Tensor): Target of the unspecified branch ``[M, C + 1]``.
        num_specified (torch.Tensor): Number :math:`i` of ground-truth
            actions in the SAP ``[M]``.
        distractor (torch.Tensor): Whether the SAP is distractor-injected
            ``[M]``.
        num_labels (torch.Tensor): Number :math:`L` of ground-truth actions
            of the video ``[M]``.
        video (torch.Tensor, optional): Index of the video in the input
            batch ``[M]`` (only set by :meth:`ActionSpecSampler.enumerate`).
    """
    sap: Tensor
    uap: Tensor
    y_s: Tensor
    y_u: Tensor
    num_specified: Tensor
    distractor: Tensor
    num_labels: Tensor
    video: Optional[Tensor] = None


def unspecified_prompt(sap: Tensor, mode: str = 'complement') -> Tensor:
    r"""The UAP of a SAP: every class not in it (:obj:`mode="complement"`,
    the paper's App. C) or the SAP itself (:obj:`mode="same"`, the authors'
    stage-1 code). The one place this rule lives.

    Example:
        >>> unspecified_prompt(torch.tensor([[1., 0., 0.]]))
        tensor([[0., 1., 1.]])

    Raises:
        ValueError: On an unknown mode.
    """
    if mode not in UAP_MODES:
        raise ValueError(f"'uap' must be one of {UAP_MODES} (got '{mode}')")
    if mode == 'same':
        return sap
    return 1 - sap if sap.is_floating_point() else ~sap


def branch_targets(sap: Tensor, y: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The :math:`C + 1` targets of the specified and unspecified branches
    for a given SAP: :math:`\mathrm{SAP} \cap G` and :math:`G \setminus
    \mathrm{SAP}`, each the one-hot "no action" vector when empty (the one rule
    :class:`ActionSpecSampler` and the pair modules use).

    Args:
        sap (torch.Tensor): ``[B, C]`` specified action prompt (0/1).
        y (torch.Tensor): ``[B, C]`` ground-truth multi-hot.

    Returns:
        ``(y_s, y_u)``, each ``[B, C + 1]`` in the dtype of :obj:`y` (float
        for a boolean :obj:`y`).

    Example:
        >>> y_s, y_u = branch_targets(torch.tensor([[1., 0., 0.]]),
        ...                           torch.tensor([[0., 1., 0.]]))
        >>> y_s.tolist(), y_u.tolist()
        ([[0.0, 0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0, 0.0]])
    """
    g, s = y > 0.5, sap > 0.5
    spec, unspec = g & s, g & ~s  # SAP ∩ G, G − SAP
    y_s = torch.cat([spec, ~spec.any(dim=1, keepdim=True)], dim=1)
    y_u = torch.cat([unspec, ~unspec.any(dim=1, keepdim=True)], dim=1)
    dtype = y.dtype if y.is_floating_point() else torch.float
    return y_s.to(dtype), y_u.to(dtype)


def random_prompt(num_videos: int, num_classes: int, length: int,
                  seed: int, device: Optional[torch.device] = None,
                  index: Optional[Tensor] = None) -> Tensor:
    r"""A ground-truth-free specification: :obj:`length` classes drawn
    uniformly per video from a generator seeded with :obj:`seed`. Used to
    read :math:`a_t` without revealing any label to the model (the
    label-free protocol), and to train the stage-2 classifiers under the
    prompts they are read with.

    Args:
        num_videos (int): Rows.
        num_classes (int): Classes :math:`C`.
        length (int): Classes per prompt.
        seed (int): Seed of the draw.
        device (torch.device, optional): Device of the result.
        index (Tensor, optional): A video id per row ``[num_videos]``: row
            ``i`` is then drawn from :obj:`seed` and ``index[i]`` alone, so
            a video gets the same prompt whatever batch (or process) it
            lands in. (default: :obj:`None`, one draw for all rows)

    Example:
        >>> random_prompt(2, 5, length=3, seed=0).sum(dim=1)
        tensor([3., 3.])
        >>> a = random_prompt(2, 5, 3, seed=0, index=torch.tensor([7, 9]))
        >>> torch.equal(a[1], random_prompt(1, 5, 3, 0,
        ...                                 index=torch.tensor([9]))[0])
        True
    """
    if index is None:
        gen = torch.Generator().manual_seed(seed)
        scores = torch.rand(num_videos, num_classes, generator=gen)
    else:
        gen = torch.Generator()
        scores = torch.stack([
            torch.rand(num_classes,
                       generator=gen.manual_seed(seed * 1_000_003 + int(i)))
            for i in index.tolist()]) if num_videos else \
            torch.zeros(0, num_classes)
    idx = scores.topk(min(length, num_classes), dim=-1).indices
    sap = torch.zeros(num_videos, num_classes).scatter_(1, idx, 1.0)
    return sap.to(device) if device is not None else sap


def _rand(shape: Sequence[int], generator: Optional[torch.Generator],
          device: torch.device) -> Tensor:
    # Draw on the generator's device (a CPU generator cannot fill a CUDA
    # tensor), then move, so a seeded run gives the same pairs everywhere.
    gen_device = generator.device if generator is not None else device
    return torch.rand(tuple(shape), generator=generator,
                      device=gen_device).to(device)


def _random_subset(pool: Tensor, count: Tensor,
                   generator: Optional[torch.Generator]) -> Tensor:
    r"""Picks ``count[m]`` random members of each row of the boolean
    ``pool`` ``[M, C]`` (uniformly, without replacement)."""
    keys = _rand(pool.shape, generator, pool.device)
    keys = keys.masked_fill(~pool, 2.0)  # non-members sort last
    rank = keys.argsort(dim=1).argsort(dim=1)  # [M, C]
    return pool & (rank < count.view(-1, 1))


class ActionSpecSampler:
    r"""Draws ProDA action specifications from multi-hot video labels.

    In training mode (:meth:`sample`) every call draws **one** specification
    per video: its kind is uniform over the :math:`2L + 1` (SAP, UAP) pairs
    of the video, then the :math:`i` specified members and the distractors
    are drawn uniformly at random. The pairs are drawn online, so each epoch
    sees new ones (the authors' code fixes one set for the whole run).
    In evaluation mode (:meth:`enumerate`) every pair kind of every video is
    listed once, which gives the per-label-count grids of Tables 6 and 7 of
    the paper.

    Choices made where the paper is silent (documented here on purpose):

    * **UAP.** :obj:`uap="complement"` (default) gives the paper's UAP,
      every class not in the SAP (App. C), so it contains the unspecified
      ground-truth actions **and** all other absent classes and does not
      reveal :math:`G`. :obj:`uap="same"` passes the SAP itself to the
      unspecified branch, as the authors' stage-1 training code does.
    * **Clamped length.** A distractor-injected SAP holds
      :math:`\min(K - i, C - L)` distractors (never negative): there are
      only :math:`C - L` absent classes. Plain SAPs never hold distractors.
      For :math:`L > K` the distractor-injected SAP has :math:`i > K`
      tokens and no distractors.
    * **Label-less videos** (:math:`L = 0`): the only pair is the
      all-distractor SAP, with :math:`\mathbf{y}_s = \mathbf{y}_u =`
      "no action".

    Args:
        num_classes (int): Number of action classes :math:`C`.
        length (int, optional): Length :math:`K` of a distractor-injected
            SAP. (default: :obj:`16`)
        uap (str, optional): :obj:`"complement"` or :obj:`"same"` (see
            above). (default: :obj:`"complement"`)

    Example:
        >>> y = torch.tensor([[1., 0., 1., 0., 0.], [0., 1., 0., 0., 0.]])
        >>> sampler = ActionSpecSampler(num_classes=5, length=3)
        >>> spec = sampler.sample(y, torch.Generator().manual_seed(0))
        >>> spec.sap.shape, spec.y_s.shape
        (torch.Size([2, 5]), torch.Size([2, 6]))
        >>> sampler.enumerate(y).sap.size(0)  # (2 * 2 + 1) + (2 * 1 + 1)
        8

    Raises:
        ValueError: On an unknown :obj:`uap` mode or non-positive sizes.
    """
    def __init__(self, num_classes: int, length: int = 16,
                 uap: str = 'complement'):
        if num_classes < 1:
            raise ValueError(f"'num_classes' must be positive "
                             f"(got {num_classes})")
        if length < 1:
            raise ValueError(f"'length' must be positive (got {length})")
        if uap not in UAP_MODES:
            raise ValueError(f"'uap' must be one of {UAP_MODES} "
                             f"(got '{uap}')")
        self.num_classes = num_classes
        self.length = length
        self.uap = uap

    def _labels(self, y: Tensor) -> Tensor:
        if y.dim() != 2 or y.size(1) != self.num_classes:
            raise ValueError(f"ActionSpecSampler: expected labels of shape "
                             f"[B, {self.num_classes}] (got "
                             f"{tuple(y.shape)})")
        return y > 0.5

    def build(self, y: Tensor, num_specified: Tensor, distractor: Tensor,
              generator: Optional[torch.Generator] = None,
              video: Optional[Tensor] = None,
              length: Optional[Tensor] = None) -> ActionSpec:
        r"""Builds one specification per row of :obj:`y` with the given
        number of specified ground-truth actions and kind.

        Args:
            y (torch.Tensor): Multi-hot labels ``[M, C]``.
            num_specified (torch.Tensor): :math:`i` per row ``[M]``, with
                :math:`1 \leq i \leq L` for plain and :math:`0 \leq i
                \leq L` for distractor-injected rows.
            distractor (torch.Tensor): Kind per row ``[M]`` (bool).
            generator (torch.Generator, optional): Random source.
                (default: :obj:`None`)
            video (torch.Tensor, optional): Stored as
                :obj:`ActionSpec.video`. (default: :obj:`None`)
            length (torch.Tensor, optional): Length :math:`K` per row ``[M]``
                of the distractor-injected rows. (default: :obj:`None`, the
                sampler's :obj:`length`)

        Raises:
            ValueError: If some :math:`i` is out of range for its row.
        """
        gt = self._labels(y)  # [M, C]
        device = y.device
        num_specified = num_specified.to(device=device, dtype=torch.long)
        distractor = distractor.to(device=device, dtype=torch.bool)
        num_labels = gt.sum(dim=1)  # [M]
        low = (~distractor).long()  # plain SAPs hold at least one action
        bad = (num_specified < low) | (num_specified > num_labels)
        if bool(bad.any()):
            row = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"ActionSpecSampler: row {row} asks for "
                f"{int(num_specified[row])} specified actions of a video "
                f"with {int(num_labels[row])} labels")

        member = _random_subset(gt, num_specified, generator)
        K = self.length if length is None else length.to(device)
        num_distractors = (K - num_specified).clamp(min=0)
        num_distractors = torch.minimum(num_distractors,
                                        self.num_classes - num_labels)
        num_distractors = num_distractors * distractor.long()
        distr = _random_subset(~gt, num_distractors, generator)

        sap = member | distr
        uap = unspecified_prompt(sap, self.uap)
        y_s, y_u = branch_targets(sap, gt)
        dtype = y.dtype if y.is_floating_point() else torch.float
        return ActionSpec(sap.to(dtype), uap.to(dtype), y_s.to(dtype),
                          y_u.to(dtype), num_specified, distractor,
                          num_labels, video)

    def sample(self, y: Tensor,
               generator: Optional[torch.Generator] = None) -> ActionSpec:
        r"""Draws one random (SAP, UAP) pair per video.

        The kind is uniform over the :math:`2L + 1` pairs of the video: the
        :math:`L` plain ones (:math:`i = 1..L`) and the :math:`L + 1`
        distractor-injected ones (:math:`i = 0..L`).

        Args:
            y (torch.Tensor): Multi-hot video labels ``[B, C]``.
            generator (torch.Generator, optional): Random source, for
                reproducible draws. (default: :obj:`None`)
        """
        gt = self._labels(y)
        num_labels = gt.sum(dim=1)  # [B]
        u = _rand((y.size(0), ), generator, y.device)
        choice = (u * (2 * num_labels + 1)).long()
        choice = torch.minimum(choice, 2 * num_labels)  # guards u ~ 1.0
        plain = choice < num_labels
        num_specified = torch.where(plain, choice + 1, choice - num_labels)
        return self.build(y, num_specified, ~plain, generator)

    def enumerate_per_video(self, y: Tensor, index: Tensor, seed: int,
                            kinds: Sequence[str] = KINDS) -> ActionSpec:
        r""":meth:`enumerate` with the random members and distractors of
        video ``b`` drawn from :obj:`seed` and ``index[b]`` alone, so that a
        video gets the same rows whatever batch (or process) it lands in.

        Args:
            y (torch.Tensor): Multi-hot video labels ``[B, C]``.
            index (torch.Tensor): A video id per row ``[B]``.
            seed (int): Seed of the draws.
            kinds (Sequence[str], optional): As :meth:`enumerate`.
        """
        parts = []
        for b, i in enumerate(index.tolist()):
            gen = torch.Generator().manual_seed(seed * 1_000_003 + int(i))
            spec = self.enumerate(y[b:b + 1], kinds, generator=gen)
            parts.append(spec._replace(video=torch.full_like(spec.video, b)))
        return ActionSpec(*(torch.cat(f) for f in zip(*parts)))

    def enumerate(self, y: Tensor, kinds: Sequence[str] = KINDS,
                  generator: Optional[torch.Generator] = None,
                  max_labels: Optional[int] = None) -> ActionSpec:
        r"""Lists every (video, kind, :math:`i`) specification of the
        batch, the evaluation grid of the paper's Tables 6 and 7.

        Rows are ordered by video, then kind (in the order of
        :obj:`kinds`), then :math:`i`. The :math:`i` specified members are
        drawn at random (seeded through :obj:`generator`).

        Args:
            y (torch.Tensor): Multi-hot video labels ``[B, C]``.
            kinds (Sequence[str], optional): Any of :obj:`"plain"`
                (:math:`i = 1..L`), :obj:`"distractor"` (:math:`i = 0..L`)
                and :obj:`"one_distractor"` (one row: a single absent
                class). :data:`PAPER_PROTOCOL_KINDS` gives the authors'
                :math:`2L + 2` rows. (default: :obj:`("plain",
                "distractor")`)
            generator (torch.Generator, optional): Random source.
                (default: :obj:`None`)
            max_labels (int, optional): Skips videos with more than this
                many labels (the authors exclude :math:`L > 16`).
                (default: :obj:`None`)

        Raises:
            ValueError: On an unknown kind.
        """
        for kind in kinds:
            if kind not in ALL_KINDS:
                raise ValueError(f"Unknown specification kind '{kind}' "
                                 f"(expected one of {ALL_KINDS})")
        gt = self._labels(y)
        device = y.device
        num_labels = gt.sum(dim=1)  # [B]
        keep = torch.ones_like(num_labels, dtype=torch.bool)
        if max_labels is not None:
            keep = num_labels <= max_labels

        # Per video and kind, rows i = start..L, laid out without loops.
        counts, starts, flags, lengths = [], [], [], []
        for kind in kinds:
            start = 1 if kind == 'plain' else 0
            cnt = (num_labels - start + 1).clamp(min=0)
            if kind == 'plain':
                cnt = torch.where(num_labels > 0, cnt, 0)
            elif kind == 'one_distractor':
                cnt = torch.ones_like(num_labels)
            counts.append(cnt * keep.long())
            starts.append(start)
            flags.append(kind != 'plain')
            lengths.append(1 if kind == 'one_distractor' else self.length)
        count = torch.stack(counts, dim=1)  # [B, num_kinds]
        start = torch.tensor(starts, device=device).expand_as(count)
        flag = torch.tensor(flags, device=device).expand_as(count)
        length = torch.tensor(lengths, device=device).expand_as(count)

        count, start, flag, length = (count.reshape(-1), start.reshape(-1),
                                      flag.reshape(-1), length.reshape(-1))
        seg = torch.arange(count.numel(), device=device)
        seg = seg.repeat_interleave(count)  # [M]
        offset = torch.cumsum(count, dim=0) - count
        pos = torch.arange(seg.numel(), device=device) - offset[seg]
        video = seg // len(kinds)
        return self.build(y[video], start[seg] + pos, flag[seg], generator,
                          video=video, length=length[seg])
