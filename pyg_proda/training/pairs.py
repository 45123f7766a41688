r"""Pair-level training and evaluation: SportsHHI interaction
classification with ground-truth boxes given.

Batches are :class:`~pyg_proda.data.SSGView` objects of
:class:`~pyg_proda.data.SSGLoader` over
:class:`~pyg_proda.datasets.SportsHHI` or
:class:`~pyg_proda.datasets.SyntheticHHI` graphs, whose edges are the
candidate pairs and whose ``edge_target`` ``[E, C]`` holds the per-pair
interactions. Models only ever receive :func:`model_input` of a batch, the
fields of :data:`MODEL_INPUT_KEYS`: no target reaches them.

Scores are evaluated with the SportsHHI rules
(:func:`~pyg_proda.metrics.interaction_map`, evaluation.md §5) by
:class:`InteractionMeter`.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_proda.data.action_spec import (
    ActionSpecSampler,
    branch_targets,
    random_prompt,
    unspecified_prompt,
)
from pyg_proda.data.homogeneous import SSGView
from pyg_proda.metrics import Triplets, charades_map, interaction_map
from pyg_proda.models.pair_baseline import PairBaseline
from pyg_proda.models.proda_pairs import ProDAPairOutput, ProDAPairs
from pyg_proda.nn.ad_loss import MarginSchedule, ProDALoss
from pyg_proda.training.module import PromptedTrainingMixin, _model_from
from pyg_proda.training.schedule import WarmupAdamWMixin

#: The fields of a view a model may read (everything else, the targets
#: ``y``, ``frame_labels`` and ``edge_target`` and the ids, is dropped).
MODEL_INPUT_KEYS: Tuple[str, ...] = (
    'x', 'node_type', 'frame', 'track', 'cls', 'box', 'batch', 'edge_index',
    'edge_type', 'edge_attr', 'edge_frame', 'edge_pair', 'num_frames')
#: The SportsHHI evaluator's minimum score of a predicted triplet.
SCORE_THRESHOLD = 0.002
#: Keyframe ids of video ``i`` (by ``video_index``) start at ``i *
#: VIDEO_STRIDE``, so ids are global across batches and processes.
VIDEO_STRIDE = 1 << 20


def model_input(view: SSGView) -> SSGView:
    r"""The model's view of a batch: only the fields of
    :data:`MODEL_INPUT_KEYS` (shared, not copied).

    Raises:
        ValueError: naming a missing field.

    Example:
        >>> from pyg_proda.data import SSGLoader
        >>> from pyg_proda.datasets import SyntheticHHI
        >>> view = next(iter(SSGLoader(SyntheticHHI('/tmp/hhi', 'val',
        ...                                         num_videos=2), 2)))
        >>> 'edge_target' in view, 'edge_target' in model_input(view)
        (True, False)
    """
    missing = [k for k in MODEL_INPUT_KEYS if k not in view]
    if missing:
        raise ValueError(f"model_input: the view lacks {missing}")
    return SSGView(**{k: view[k] for k in MODEL_INPUT_KEYS})


def pair_triplets(view: SSGView, scores: Tensor, keyframe_offset: int = 0,
                  score_threshold: float = SCORE_THRESHOLD,
                  first_keyframe: Optional[Tensor] = None,
                  ) -> Tuple[Triplets, Triplets]:
    r"""The predicted and the ground-truth interaction triplets of a batch.

    Keyframe :math:`t` of video :math:`b` gets the id ``first_keyframe[b] +
    t``; by default ``keyframe_offset + sum(num_frames[:b]) + t``, so
    consecutive batches with increasing offsets never share one. Every
    (candidate, class) whose score exceeds :obj:`score_threshold` is one
    predicted triplet (the official multi-label output,
    :func:`~pyg_proda.metrics.interaction_candidates`;
    pairs that are no candidate, e.g. self-pairs, score 0 and give none).
    Every positive of ``edge_target`` is one ground-truth triplet.

    Args:
        view (SSGView): The batch (with ``edge_target``).
        scores (Tensor): Probabilities ``[E, C]`` of its candidates.
        keyframe_offset (int, optional): Id of the batch's first keyframe.
            (default: :obj:`0`)
        score_threshold (float, optional): Minimum score (exclusive).
            (default: :obj:`0.002`)
        first_keyframe (Tensor, optional): Id of every video's first
            keyframe ``[B]``. (default: :obj:`None`)

    Raises:
        ValueError: if :obj:`scores` does not match ``edge_target``.
    """
    target = view.edge_target
    if scores.shape != target.shape:
        raise ValueError(f"pair_triplets: scores {tuple(scores.shape)} do "
                         f"not match edge_target {tuple(target.shape)}")
    scores, target = scores.detach().float().cpu(), target.cpu()
    src, dst = view.edge_index.cpu()
    box = view.box.detach().float().cpu()
    if first_keyframe is None:
        num_frames = view.num_frames.cpu()
        first_keyframe = keyframe_offset + torch.cumsum(num_frames, 0) - \
            num_frames
    key = first_keyframe.cpu()[view.batch.cpu()[src]] + view.edge_frame.cpu()
    e, c = (scores > score_threshold).nonzero(as_tuple=True)
    pred = Triplets(key[e], box[src[e]], box[dst[e]], c, scores[e, c])
    e, c = (target > 0.5).nonzero(as_tuple=True)
    gt = Triplets(key[e], box[src[e]], box[dst[e]], c)
    return pred, gt


class InteractionMeter:
    r"""Accumulates candidate scores over batches and computes SportsHHI's
    interaction mAP and Recall@K with
    :func:`~pyg_proda.metrics.interaction_map` (boxes matched at IoU
    :math:`\geq` :obj:`iou_threshold`, only keyframes with ground truth
    evaluated, mAP over the classes that received a prediction).

    Under ``torch.distributed`` (e.g. Lightning's DDP), :meth:`compute`
    gathers the triplets of every process and counts each video once, by
    its ``video_index`` (the distributed sampler repeats videos to even out
    the shards). The triplets are ordered by keyframe id before scoring, so
    the result does not depend on how the videos were batched.

    Args:
        classes (Sequence[int], optional): The evaluated classes (SportsHHI:
            the 28 of :attr:`SportsHHI.evaluated_classes`).
            (default: :obj:`None`, every class)
        iou_threshold (float, optional): (default: :obj:`0.9`)
        score_threshold (float, optional): (default: :obj:`0.002`)
        recall_ks (Sequence[int], optional): (default: :obj:`(20, 50)`)

    Example:
        >>> from pyg_proda.data import SSGLoader
        >>> from pyg_proda.datasets import SyntheticHHI
        >>> view = next(iter(SSGLoader(SyntheticHHI('/tmp/hhi', 'val',
        ...                                         num_videos=2), 2)))
        >>> meter = InteractionMeter()
        >>> meter.update(view, view.edge_target)  # perfect scores
        >>> out = meter.compute()
        >>> out['mAP'], out['recall@50']
        (1.0, 1.0)
    """
    def __init__(self, classes: Optional[Sequence[int]] = None,
                 iou_threshold: float = 0.9,
                 score_threshold: float = SCORE_THRESHOLD,
                 recall_ks: Sequence[int] = (20, 50)):
        self.classes = None if classes is None else list(classes)
        self.iou_threshold = iou_threshold
        self.score_threshold = score_threshold
        self.recall_ks = tuple(recall_ks)
        self.reset()

    def reset(self) -> None:
        self._pred: List[Triplets] = []
        self._gt: List[Triplets] = []
        self._videos: Optional[List[Tensor]] = []
        self._offset = 0

    def update(self, view: SSGView, scores: Tensor) -> None:
        r"""Adds a batch (``scores``: probabilities ``[E, C]``)."""
        first = None
        if 'video_index' in view and self._videos is not None:
            videos = view.video_index.detach().cpu().long()
            first = videos * VIDEO_STRIDE
            self._videos.append(videos)
        else:  # batches without ids: local, batch-order keyframe ids
            if self._videos:
                raise ValueError("InteractionMeter: a batch without "
                                 "'video_index' after batches with it")
            self._videos = None
        pred, gt = pair_triplets(view, scores, self._offset,
                                 self.score_threshold, first)
        self._pred.append(pred)
        self._gt.append(gt)
        self._offset += int(view.num_frames.sum())

    @property
    def num_batches(self) -> int:
        r"""Batches added since :meth:`reset` (in this process)."""
        return len(self._gt)

    @staticmethod
    def _cat(parts: List[Triplets], score: bool) -> Triplets:
        if not parts:
            empty = torch.zeros(0, dtype=torch.long)
            return Triplets(empty, torch.zeros(0, 4), torch.zeros(0, 4),
                            empty, torch.zeros(0) if score else None)
        return Triplets(
            torch.cat([p.frame for p in parts]),
            torch.cat([p.box1 for p in parts]),
            torch.cat([p.box2 for p in parts]),
            torch.cat([p.cls for p in parts]),
            torch.cat([p.score for p in parts]) if score else None)

    @staticmethod
    def _select(t: Triplets, keep: Tensor) -> Triplets:
        return Triplets(*(None if a is None else a[keep] for a in t))

    def _gather(self, pred: Triplets, gt: Triplets
                ) -> Tuple[Triplets, Triplets]:
        import torch.distributed as dist
        if self._videos is None:
            raise RuntimeError(
                "InteractionMeter: distributed evaluation needs "
                "'video_index' in every batch (pyg_proda datasets add it) "
                "to count each video once")
        videos = torch.cat(self._videos) if self._videos else \
            torch.zeros(0, dtype=torch.long)
        parts: List[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, (pred, gt, videos))
        preds, gts, seen = [], [], set()
        for p, g, v in parts:
            new = sorted(set(v.tolist()) - seen)
            seen.update(new)
            new = torch.tensor(new, dtype=torch.long)
            preds.append(self._select(p, torch.isin(p.frame // VIDEO_STRIDE,
                                                    new)))
            gts.append(self._select(g, torch.isin(g.frame // VIDEO_STRIDE,
                                                  new)))
        return self._cat(preds, True), self._cat(gts, False)

    def compute(self, sync: bool = True) -> Dict[str, Any]:
        r"""The metrics (fractions) of everything added since
        :meth:`reset`: ``'mAP'``, ``'ap'`` (class :math:`\to` AP) and
        ``'recall@K'``.

        Args:
            sync (bool, optional): Gather the triplets of every process
                when ``torch.distributed`` is initialised (every process
                must then call :meth:`compute`). (default: :obj:`True`)

        Raises:
            RuntimeError: if nothing was added (in any process), or if a
                distributed evaluation lacks ``video_index``.
        """
        pred, gt = self._cat(self._pred, True), self._cat(self._gt, False)
        import torch.distributed as dist
        if sync and dist.is_available() and dist.is_initialized() and \
                dist.get_world_size() > 1:
            pred, gt = self._gather(pred, gt)
        elif not self._gt:
            raise RuntimeError('InteractionMeter: no batch was added')
        # Keyframe order, stable within a keyframe: independent of batching.
        pred = self._select(pred, torch.sort(pred.frame, stable=True)[1])
        gt = self._select(gt, torch.sort(gt.frame, stable=True)[1])
        return interaction_map(pred, gt, classes=self.classes,
                               iou_threshold=self.iou_threshold,
                               recall_ks=self.recall_ks)


def pair_loss(logits: Tensor, target: Tensor) -> Tensor:
    r"""The per-candidate multi-label loss: binary cross-entropy summed over
    the :math:`C` classes and averaged over the :math:`E` candidates,

    .. math::
        \mathcal{L}_{pair} = \frac{1}{E} \sum_{e=1}^{E} \sum_{c=1}^{C}
        \mathrm{BCE}(a_{ec}, y_{ec}),

    a per-pair loss like the authors' soft-target cross-entropy over a
    pair's classes (a mean over all :math:`E \times C` elements would
    shrink it by :math:`C` next to the video-level terms).

    Example:
        >>> round(float(pair_loss(torch.zeros(2, 3), torch.zeros(2, 3))), 4)
        2.0794
    """
    if logits.numel() == 0:
        return logits.sum()
    bce = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype),
                                             reduction='none')
    return bce.sum(dim=-1).mean()


class _PairEvalMixin:
    r"""Validation/test through :class:`InteractionMeter` (gathered over
    the processes under DDP, each video counted once), logged in percent as
    ``{prefix}/pair_map`` and ``{prefix}/recall@K``."""
    def _make_meter(self) -> InteractionMeter:
        return InteractionMeter(self.hparams.evaluated_classes,
                                self.hparams.iou_threshold,
                                self.hparams.score_threshold,
                                self.hparams.recall_ks)

    def _log_meter(self, prefix: str) -> None:
        # Under DDP every process takes part in the gather.
        if self.meter.num_batches == 0 and self.trainer.world_size == 1:
            return
        res = self.meter.compute()
        self.log(f'{prefix}/pair_map', 100 * res['mAP'], prog_bar=True)
        for k in self.hparams.recall_ks:
            self.log(f'{prefix}/recall@{k}', 100 * res[f'recall@{k}'])
        self.meter.reset()

    def on_validation_epoch_start(self) -> None:
        self.meter.reset()

    def validation_step(self, view: SSGView, batch_idx: int) -> None:
        self.meter.update(view, self.pair_scores(view))

    def on_validation_epoch_end(self) -> None:
        self._log_meter('val')

    def on_test_epoch_start(self) -> None:
        self.meter.reset()

    def test_step(self, view: SSGView, batch_idx: int) -> None:
        self.meter.update(view, self.pair_scores(view))

    def on_test_epoch_end(self) -> None:
        self._log_meter('test')

    @torch.no_grad()
    def evaluate(self, loader, prompt_seed: Optional[int] = None
                 ) -> Dict[str, Any]:
        r"""Scores every batch of :obj:`loader` in evaluation mode and
        returns the :class:`InteractionMeter` metrics (fractions).
        :obj:`prompt_seed` replaces the seed of the label-free prompts
        (ProDA only)."""
        was_training = self.training
        self.eval()
        meter = self._make_meter()
        for view in loader:
            view = view.to(self.device)
            meter.update(view, self.pair_scores(view, prompt_seed))
        self.train(was_training)
        return meter.compute()



class PairProDAModule(_PairEvalMixin, PromptedTrainingMixin,
                      L.LightningModule):
    r"""Trains :class:`~pyg_proda.models.ProDAPairs`: ProDA's objective on
    its video heads plus the per-candidate loss on the pair logits,

    .. math::
        \mathcal{L} = \lambda_{pair} \mathcal{L}_{pair}(\mathbf{a}_{pair},
        \mathbf{y}_{pair}) + \mathcal{L}_{ProDA}(\mathbf{a}_s,
        \mathbf{a}_u, \mathbf{a}_t, \mathbf{a}_m; \mathcal{L}_{dis},
        \mathcal{L}_{rec})

    with :math:`\mathcal{L}_{ProDA}` the weighted objective of
    :class:`~pyg_proda.nn.ProDALoss` (the video label :math:`\mathbf{y}`
    is the OR of the pair targets) and :math:`\mathcal{L}_{pair}` the
    per-candidate BCE of :func:`pair_loss`.

    Choices, after the authors' SportsHHI release where it is sensible
    (design facts §9-11) and documented where it is not:

    * **Weights and margins**: the release's
      :math:`L_{main} + 0.1 L_p + L_c + L_{rec} + L_{corr}` gives
      :obj:`lambda_pair` = 1 (main), :obj:`lambda_s` = 1 (common /
      specified), :obj:`lambda_u` = 0.1 (private / unspecified), fixed
      margins 0.4 (decorrelation) and 0.3 (reconstruction). The release's
      common and private heads are pair-level; here :math:`a_s, a_u` stay
      ProDA's video heads, so their weights (and those of :math:`a_t,
      a_m`) are free parameters: ``docs/sportshhi.md`` measures them.
    * **Prompts in training**: the release draws one prompt per keyframe
      from the ground truth, fixed for the run. :obj:`train_prompt` =
      ``'spec'`` is the closest video-level counterpart: one specification
      per video drawn online from its label by
      :class:`~pyg_proda.data.ActionSpecSampler`. The default ``'random'``
      trains under label-free prompts (:func:`~pyg_proda.data.random_prompt`,
      the branch targets :func:`~pyg_proda.data.branch_targets` still follow the label), the
      prompts the heads are read with at evaluation, for the reason
      :class:`~pyg_proda.training.ProDAModule` trains its stage-2
      classifiers so: a head trained under prompts that name the true
      classes learns to trust them. ``docs/sportshhi.md`` measures both.
    * **Prompts at evaluation**: the release also draws its validation
      prompts from the ground truth, which reveals the labels. Here they
      are label-free: :func:`~pyg_proda.data.random_prompt` of
      :obj:`spec_length` classes drawn from the video's index and the seed
      alone (as :meth:`ProDAModule.label_free_prompt`).

    Args:
        model (ProDAPairs, optional): The model. (default: :obj:`None`,
            built from :obj:`model_config`)
        model_config (dict, optional): :attr:`ProDAPairs.config`, stored in
            the checkpoint so that
            :meth:`~lightning.pytorch.LightningModule.load_from_checkpoint`
            rebuilds the model.
        lr (float): Peak AdamW learning rate. (default: :obj:`2e-4`)
        weight_decay (float): AdamW weight decay (none on 1-D parameters).
            (default: :obj:`1e-3`)
        warmup_ratio (float): Fraction of the steps used for warm-up.
            (default: :obj:`0.1`)
        lambda_pair, lambda_s, lambda_u, lambda_t, lambda_m, lambda_dis,
            lambda_rec (float): Loss weights (see above).
            (default: :obj:`1`, :obj:`1`, :obj:`0.1`, :obj:`1`, :obj:`1`,
            :obj:`1`, :obj:`1`)
        use_dis, use_rec (bool): Switch the AD terms. (default: :obj:`True`)
        use_margins (bool): Margins on, or 0. (default: :obj:`True`)
        margin_dis, margin_rec (float): Fixed margins.
            (default: :obj:`0.4`, :obj:`0.3`)
        spec_length (int): Length ``K`` of distractor-injected and of the
            evaluation prompts. (default: :obj:`16`)
        uap (str): ``'complement'`` or ``'same'``
            (:func:`~pyg_proda.data.unspecified_prompt`).
            (default: :obj:`'complement'`)
        train_prompt (str): ``'random'`` or ``'spec'`` (see above).
            (default: :obj:`'random'`)
        evaluated_classes (list, optional): Classes scored by the metrics.
            (default: :obj:`None`, all)
        iou_threshold (float): (default: :obj:`0.9`)
        score_threshold (float): (default: :obj:`0.002`)
        recall_ks (Sequence[int]): (default: :obj:`(20, 50)`)
        sync_norm (bool, optional): Synchronise VGNorm over the processes
            (:obj:`None`: when training runs on several).
            (default: :obj:`None`)
        seed (int): Seed of the per-step randomness and of the label-free
            prompts. (default: :obj:`0`)

    Raises:
        ValueError: on an unknown :obj:`train_prompt` or :obj:`uap`, or
            without a model.

    Example:
        >>> from pyg_proda.models import ProDAPairs
        >>> module = PairProDAModule(ProDAPairs(17, 12, 7, hidden_channels=16,
        ...                                     heads=2, num_layers=1),
        ...                          lr=2e-3, spec_length=6)
        >>> module.loss_fn.terms
        ('cls_s', 'cls_u', 'cls_t', 'cls_m', 'dis', 'rec')
    """
    def __init__(
        self,
        model: Optional[ProDAPairs] = None,
        model_config: Optional[Dict[str, Any]] = None,
        lr: float = 2e-4,
        weight_decay: float = 1e-3,
        warmup_ratio: float = 0.1,
        lambda_pair: float = 1.0,
        lambda_s: float = 1.0,
        lambda_u: float = 0.1,
        lambda_t: float = 1.0,
        lambda_m: float = 1.0,
        lambda_dis: float = 1.0,
        lambda_rec: float = 1.0,
        use_dis: bool = True,
        use_rec: bool = True,
        use_margins: bool = True,
        margin_dis: float = 0.4,
        margin_rec: float = 0.3,
        spec_length: int = 16,
        uap: str = 'complement',
        train_prompt: str = 'random',
        evaluated_classes: Optional[List[int]] = None,
        iou_threshold: float = 0.9,
        score_threshold: float = SCORE_THRESHOLD,
        recall_ks: Sequence[int] = (20, 50),
        sync_norm: Optional[bool] = None,
        seed: int = 0,
    ):
        super().__init__()
        if train_prompt not in ('spec', 'random'):
            raise ValueError(f"'train_prompt' must be 'spec' or 'random', "
                             f"got '{train_prompt}'")
        self.model = _model_from(model, model_config, ProDAPairs)
        self.save_hyperparameters(ignore=['model'])
        self.hparams['model_config'] = dict(self.model.config)
        self.hparams['recall_ks'] = list(recall_ks)
        self.sampler = ActionSpecSampler(self.model.num_classes,
                                         length=spec_length, uap=uap)
        terms = ['cls_s', 'cls_u', 'cls_t', 'cls_m'] + ['dis'] * use_dis + \
            ['rec'] * use_rec
        self.loss_fn = ProDALoss(
            lambda_s=lambda_s, lambda_u=lambda_u, lambda_t=lambda_t,
            lambda_m=lambda_m, lambda_dis=lambda_dis, lambda_rec=lambda_rec,
            margin_dis=MarginSchedule(margin_dis, margin_dis, mode='fixed',
                                      enabled=use_margins),
            margin_rec=MarginSchedule(margin_rec, margin_rec, mode='fixed',
                                      enabled=use_margins),
            terms=terms)
        self.meter = self._make_meter()

    def prompts(self, y: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""Training prompts and branch targets ``(sap, uap, y_s, y_u)``
        for video labels :obj:`y` ``[B, C]`` (see :obj:`train_prompt`)."""
        if self.hparams.train_prompt == 'random':
            B, C = y.shape
            sap = random_prompt(B, C, self.hparams.spec_length,
                                self._step_seed(), y.device)
            y_s, y_u = branch_targets(sap, y)
            return sap, unspecified_prompt(sap, self.hparams.uap), y_s, y_u
        gen = torch.Generator().manual_seed(self._step_seed())
        spec = self.sampler.sample(y.cpu(), generator=gen)
        return (spec.sap.to(y.device), spec.uap.to(y.device),
                spec.y_s.to(y.device), spec.y_u.to(y.device))

    def training_step(self, view: SSGView, batch_idx: int) -> Tensor:
        y, target = view.y, view.edge_target
        sap, uap, y_s, y_u = self.prompts(y)
        out = self.model(model_input(view), sap, uap)
        v = out.video
        terms = self.loss_fn(
            a_s=v.a_s, y_s=y_s, a_u=v.a_u, y_u=y_u, a_t=v.a_t, y=y,
            a_m=v.a_m, f_s=v.f_s, f_u=v.f_u, f_o=v.f_o, f_r=v.f_r,
            batch=view.batch, batch_size=view.num_graphs,
            epoch=self.current_epoch + 1)
        terms['pair'] = pair_loss(out.pair_logits, target)
        terms['loss'] = terms['loss'] + self.hparams.lambda_pair * \
            terms['pair']
        B = view.num_graphs
        for k, val in terms.items():
            self.log(f'train/{k}', val, batch_size=B, prog_bar=k == 'loss')
        return terms['loss']

    def eval_forward(self, view: SSGView,
                     prompt_seed: Optional[int] = None) -> ProDAPairOutput:
        r"""Forward pass under the label-free prompts."""
        sap = self.label_free_prompt(view, prompt_seed)
        return self.model(model_input(view), sap,
                          unspecified_prompt(sap, self.hparams.uap))

    def pair_scores(self, view: SSGView,
                    prompt_seed: Optional[int] = None) -> Tensor:
        r"""Probabilities ``[E, C]`` of the candidates of :obj:`view`."""
        return self.eval_forward(view, prompt_seed).pair_logits.sigmoid()

    @torch.no_grad()
    def video_map(self, loader) -> float:
        r"""Video-level mAP (fraction) of the fused head :math:`a_t` under
        the label-free prompts (:func:`~pyg_proda.metrics.charades_map`,
        classes without positives left out)."""
        was_training = self.training
        self.eval()
        scores, labels = [], []
        for view in loader:
            view = view.to(self.device)
            scores.append(self.eval_forward(view).video.a_t.sigmoid().cpu())
            labels.append(view.y.cpu())
        self.train(was_training)
        return float(charades_map(torch.cat(scores), torch.cat(labels))[0])


class PairBaselineModule(_PairEvalMixin, WarmupAdamWMixin,
                         L.LightningModule):
    r"""Trains the non-temporal :class:`~pyg_proda.models.PairBaseline`
    with the per-candidate loss (:func:`pair_loss`), AdamW and the same
    schedule as :class:`PairProDAModule`, and evaluates it with the same
    :class:`InteractionMeter`.

    Args:
        model (PairBaseline, optional): The model. (default: :obj:`None`,
            built from :obj:`model_config`)
        model_config (dict, optional): :attr:`PairBaseline.config`.
        lr, weight_decay, warmup_ratio (float): Optimisation.
            (default: :obj:`1e-3`, :obj:`1e-3`, :obj:`0.1`)
        evaluated_classes, iou_threshold, score_threshold, recall_ks: See
            :class:`PairProDAModule`.
        seed (int): Seed of the per-step randomness. (default: :obj:`0`)

    Example:
        >>> from pyg_proda.models import PairBaseline
        >>> module = PairBaselineModule(PairBaseline(17, 12, 7), lr=2e-3)
        >>> module.hparams.model_config['hidden_channels']
        128
    """
    def __init__(self, model: Optional[PairBaseline] = None,
                 model_config: Optional[Dict[str, Any]] = None,
                 lr: float = 1e-3, weight_decay: float = 1e-3,
                 warmup_ratio: float = 0.1,
                 evaluated_classes: Optional[List[int]] = None,
                 iou_threshold: float = 0.9,
                 score_threshold: float = SCORE_THRESHOLD,
                 recall_ks: Sequence[int] = (20, 50), seed: int = 0):
        super().__init__()
        self.model = _model_from(model, model_config, PairBaseline)
        self.save_hyperparameters(ignore=['model'])
        self.hparams['model_config'] = dict(self.model.config)
        self.hparams['recall_ks'] = list(recall_ks)
        self.meter = self._make_meter()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self.hparams.seed * 1_000_003 + self.global_step)

    def training_step(self, view: SSGView, batch_idx: int) -> Tensor:
        logits = self.model(model_input(view))
        loss = pair_loss(logits, view.edge_target)
        self.log('train/loss', loss, batch_size=view.num_graphs,
                 prog_bar=True)
        return loss

    def pair_scores(self, view: SSGView,
                    prompt_seed: Optional[int] = None) -> Tensor:
        r"""Probabilities ``[E, C]`` of the candidates of :obj:`view`
        (:obj:`prompt_seed` is ignored: the baseline has no prompt)."""
        return self.model(model_input(view)).sigmoid()


def summarize(res: Dict[str, Any], recall_ks: Sequence[int] = (50, 20)
              ) -> Dict[str, float]:
    r"""Percentages of an :class:`InteractionMeter` result: ``'mAP'`` and
    ``'R@K'``; NaN stays NaN."""
    out = {'mAP': 100 * res['mAP']}
    for k in recall_ks:
        out[f'R@{k}'] = 100 * res[f'recall@{k}']
    return {k: float(v) if not np.isnan(v) else float('nan')
            for k, v in out.items()}


__all__ = ['MODEL_INPUT_KEYS', 'SCORE_THRESHOLD', 'InteractionMeter',
           'PairBaselineModule', 'PairProDAModule',
           'model_input', 'pair_loss', 'pair_triplets', 'summarize']
