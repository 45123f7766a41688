r"""Lightning modules: two-stage ProDA training and the bag-of-frames
baseline. The models are injected (``ProDAModule(ProDA(...), lr=...)``);
the recipe that runs both stages is :func:`~pyg_proda.training.fit_two_stage`.
"""
import inspect
from typing import Any, Dict, Optional, Sequence, Union

import lightning as L
import torch
from torch import Tensor, nn

from pyg_proda.data.action_spec import (
    PAPER_PROTOCOL_KINDS,
    ActionSpecSampler,
    random_prompt,
    unspecified_prompt,
)
from pyg_proda.data.homogeneous import SSGView
from pyg_proda.metrics import CharadesMAP
from pyg_proda.models import BagOfFrames, ProDA
from pyg_proda.models.proda import ProDAOutput
from pyg_proda.nn.ad_loss import MarginSchedule, ProDALoss
from pyg_proda.training.schedule import WarmupAdamWMixin

#: Evaluation protocols of :math:`a_t` (see :class:`ProDAModule`).
PROTOCOLS = ('label-free', 'paper')
# Rows of one video in the paper protocol are told apart in the metric's
# index as video * _ROWS + row (2L + 2 <= 34 rows for L <= 16).
_ROWS = 1024


def _model_from(model: Optional[nn.Module], config: Optional[Dict],
                cls: type) -> nn.Module:
    if model is not None:
        return model
    if config is None:
        raise ValueError(f"Pass the {cls.__name__} model (or its "
                         f"'model_config' when loading a checkpoint)")
    return cls(**config)


class _VideoMetrics:
    r"""Video-level mAP of every evaluated head through
    :class:`~pyg_proda.metrics.CharadesMAP`, synchronised across processes
    with every video counted once."""
    def _init_metrics(self, names: Dict[str, Sequence[str]]) -> None:
        self.metrics = nn.ModuleDict({
            f'{split}_{name}': CharadesMAP()
            for split, heads in names.items() for name in heads})

    def _update(self, split: str, name: str, scores: Tensor, labels: Tensor,
                index: Optional[Tensor]) -> None:
        self.metrics[f'{split}_{name}'].update(scores.float(), labels, index)

    def _log_metrics(self, split: str) -> None:
        for key, metric in self.metrics.items():
            if not key.startswith(f'{split}_') or not metric.update_called:
                continue
            name = key[len(split) + 1:]
            self.log(f'{split}/{name}_map', float(metric.compute()) * 100,
                     prog_bar=name == 'a_t' or name == 'baseline')
            metric.reset()


class PromptedTrainingMixin(WarmupAdamWMixin):
    r"""What the prompted modules (:class:`ProDAModule` and
    :class:`~pyg_proda.training.PairProDAModule`) share: the synchronised
    VGNorm under DDP, the per-step seed, the label-free evaluation prompt
    and the optimiser. Needs the hyper-parameters ``seed``, ``spec_length``
    and ``sync_norm`` and a :obj:`model` with ``num_classes`` and
    ``set_sync_norm``."""
    def setup(self, stage: str) -> None:
        sync = self.hparams.sync_norm
        if sync is None:
            sync = self._trainer is not None and self.trainer.world_size > 1
        self.model.set_sync_norm(bool(sync))

    def _step_seed(self) -> int:
        rank = self.global_rank if self._trainer is not None else 0
        return (self.hparams.seed * 1_000_003 + self.global_step * 101 +
                rank) % (2**63 - 1)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self._step_seed())

    def label_free_prompt(self, view: SSGView,
                          seed: Optional[int] = None) -> Tensor:
        r"""The label-free prompt ``[B, C]`` of every video of :obj:`view`:
        drawn from the video's index (``video_index``, or its position in
        the batch) and the seed (:obj:`seed`, or the module's), never from
        its labels."""
        B, C = view.num_graphs, self.model.num_classes
        index = view.video_index if 'video_index' in view else \
            torch.arange(B)
        return random_prompt(B, C, self.hparams.spec_length,
                             self.hparams.seed if seed is None else seed,
                             view.x.device, index=index)


class ProDAModule(_VideoMetrics, PromptedTrainingMixin, L.LightningModule):
    r"""Trains :class:`~pyg_proda.models.ProDA` (one stage; the two-stage
    recipe is :func:`~pyg_proda.training.fit_two_stage`).

    **Stage 1** trains everything end to end with BCE on :math:`a_s`,
    :math:`a_u` (over :math:`C + 1` classes), :math:`a_t` and :math:`a_m`,
    the decorrelation loss between the branches and the reconstruction loss
    (paper Eq. 5-8, :class:`~pyg_proda.nn.ProDALoss`), under action
    specifications drawn online (:class:`~pyg_proda.data.ActionSpecSampler`):
    one per video and step, or all :math:`2L + 1` of every video
    (:obj:`specs_per_video="all"`, the paper's count, with the encoder run
    once per video). **Stage 2** (``stage=2, init_from=CKPT``) loads the
    best stage-1 weights, freezes everything but the :math:`a_t` and
    :math:`a_m` classifiers, re-initialises those and trains them with BCE
    only.

    Evaluation (validation and test) reads :math:`a_t` under the
    **label-free** protocol: a prompt of :obj:`spec_length` classes drawn
    from the video's index alone, so no label reaches the model (the
    headline, logged as ``{val,test}/a_t_map``). With ``'paper'`` in
    :obj:`test_protocols`, the test also reads :math:`a_t` under the
    authors' protocol: the :math:`2L + 2` prompts built from each video's
    ground truth (design facts §11), one row each, mAP over the rows
    (``test/a_t_paper_protocol_map``). Every video counts once, also under
    DDP.

    Every step's randomness (specification sampling, dropout) is derived
    from ``(seed, global_step, rank)``, and shuffling from ``(seed,
    epoch)``, so a run resumed from a checkpoint reproduces an
    uninterrupted one.

    Args:
        model (ProDA, optional): The model. (default: :obj:`None`, built
            from :obj:`model_config`)
        model_config (dict, optional): :attr:`ProDA.config` of the model,
            stored in the checkpoint so that
            :meth:`~lightning.pytorch.LightningModule.load_from_checkpoint`
            rebuilds it.
        stage (int): 1 or 2. (default: :obj:`1`)
        init_from (str, optional): Stage-1 checkpoint for stage 2.
        lr (float): Peak AdamW learning rate. (default: :obj:`2e-4`)
        weight_decay (float): AdamW weight decay (none on 1-D parameters).
            (default: :obj:`1e-3`)
        warmup_ratio (float): Fraction of the steps used for warm-up.
            (default: :obj:`0.1`)
        lambda_s, lambda_u, lambda_t, lambda_m, lambda_dis, lambda_rec
            (float): Loss weights (:math:`\lambda` of Eq. 8, plus
            :math:`a_m`). (default: :obj:`1.0`)
        use_dis, use_rec (bool): Switch the AD terms. (default: :obj:`True`)
        use_margins (bool): Margins on (scheduled) or off (margin 0).
            (default: :obj:`True`)
        margin_start, margin_end (float): Linear schedule of both margins
            over the epochs; equal values give a fixed margin.
            (default: :obj:`0.7`, :obj:`0.2`, the authors' schedule)
        margin_rec_start, margin_rec_end (float, optional): A separate
            schedule for the reconstruction margin (SportsHHI: 0.3).
        spec_length (int): Length ``K`` of distractor-injected and
            label-free prompts. (default: :obj:`16`)
        uap (str): ``'complement'`` (paper) or ``'same'`` (authors' stage-1
            code), see :func:`~pyg_proda.data.unspecified_prompt`.
            (default: :obj:`'complement'`)
        specs_per_video (int or str): Specifications per video and step in
            stage 1: ``1``, or ``'all'`` for all :math:`2L + 1` of them.
            (default: :obj:`1`)
        stage2_epochs (int): Epochs of stage 2 in the two-stage recipe.
            (default: :obj:`0`)
        stage2_lr (float): Learning rate of stage 2. (default: :obj:`1e-4`)
        stage2_prompt (str): Prompts of stage 2: ``'random'`` trains the
            classifiers with the label-free prompts they are read with
            at evaluation; ``'spec'`` keeps the stage-1 specifications,
            which name ground-truth actions and let a classifier learn to
            trust the prompt. (default: :obj:`'random'`)
        sync_norm (bool, optional): Synchronise VGNorm's training mean over
            the processes (:obj:`None`: on exactly when training runs on
            several processes). (default: :obj:`None`)
        test_protocols (Sequence[str]): Protocols of :math:`a_t` at test,
            any of :data:`PROTOCOLS`. (default: :obj:`('label-free',)`)
        seed (int): Seed of the per-step randomness. (default: :obj:`0`)

    Example:
        >>> from pyg_proda.models import ProDA
        >>> module = ProDAModule(ProDA(41, 38, 26, hidden_channels=16,
        ...                           heads=2, num_layers=1), lr=3e-3)
        >>> module.loss_fn.terms
        ('cls_s', 'cls_u', 'cls_t', 'cls_m', 'dis', 'rec')
    """
    def __init__(
        self,
        model: Optional[ProDA] = None,
        model_config: Optional[Dict[str, Any]] = None,
        stage: int = 1,
        init_from: Optional[str] = None,
        lr: float = 2e-4,
        weight_decay: float = 1e-3,
        warmup_ratio: float = 0.1,
        lambda_s: float = 1.0,
        lambda_u: float = 1.0,
        lambda_t: float = 1.0,
        lambda_m: float = 1.0,
        lambda_dis: float = 1.0,
        lambda_rec: float = 1.0,
        use_dis: bool = True,
        use_rec: bool = True,
        use_margins: bool = True,
        margin_start: float = 0.7,
        margin_end: float = 0.2,
        margin_rec_start: Optional[float] = None,
        margin_rec_end: Optional[float] = None,
        spec_length: int = 16,
        uap: str = 'complement',
        specs_per_video: Union[int, str] = 1,
        stage2_epochs: int = 0,
        stage2_lr: float = 1e-4,
        stage2_prompt: str = 'random',
        sync_norm: Optional[bool] = None,
        test_protocols: Sequence[str] = ('label-free', ),
        seed: int = 0,
    ):
        super().__init__()
        if stage not in (1, 2):
            raise ValueError(f"'stage' must be 1 or 2, got {stage}")
        if stage2_prompt not in ('random', 'spec'):
            raise ValueError(f"'stage2_prompt' must be 'random' or 'spec', "
                             f"got '{stage2_prompt}'")
        if stage == 2 and init_from is None:
            raise ValueError("Stage 2 needs 'init_from', the stage-1 "
                             "checkpoint to start from")
        if specs_per_video != 'all' and not (isinstance(specs_per_video, int)
                                             and specs_per_video == 1):
            raise ValueError(f"'specs_per_video' must be 1 or 'all', got "
                             f"{specs_per_video!r}")
        for p in test_protocols:
            if p not in PROTOCOLS:
                raise ValueError(f"Unknown protocol '{p}' (expected any of "
                                 f"{PROTOCOLS})")
        self.model = _model_from(model, model_config, ProDA)
        self.save_hyperparameters(ignore=['model'])
        self.hparams['model_config'] = dict(self.model.config)
        self.hparams['test_protocols'] = list(test_protocols)
        num_classes = self.model.num_classes
        self.sampler = ActionSpecSampler(num_classes, length=spec_length,
                                         uap=uap)
        if stage == 1:
            terms = ['cls_s', 'cls_u', 'cls_t', 'cls_m']
            terms += ['dis'] * use_dis + ['rec'] * use_rec
        else:
            terms = ['cls_t', 'cls_m']
        self.loss_fn = ProDALoss(
            lambda_s=lambda_s, lambda_u=lambda_u, lambda_t=lambda_t,
            lambda_m=lambda_m, lambda_dis=lambda_dis, lambda_rec=lambda_rec,
            margin_dis=MarginSchedule(margin_start, margin_end,
                                      enabled=use_margins),
            margin_rec=MarginSchedule(
                margin_start if margin_rec_start is None else
                margin_rec_start, margin_end if margin_rec_end is None else
                margin_rec_end, enabled=use_margins),
            terms=terms)
        heads = ['a_t', 'a_m']
        self._init_metrics({'val': heads, 'test': heads + [
            'a_t_paper_protocol']})
        #: Running count of the training steps in which each AD term was
        #: active (some video above its margin) and of the share of videos
        #: above it, since this module was built.
        self.ad_activity: Dict[str, Dict[str, float]] = {
            t: {'steps': 0, 'active_steps': 0, 'video_share': 0.0}
            for t in ('dis', 'rec')}
        if stage == 2:
            self._init_stage2(init_from)

    # --- stage 2 ---------------------------------------------------------
    def _init_stage2(self, path: str) -> None:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
        state = ckpt.get('state_dict', ckpt)
        state = {k[len('model.'):]: v for k, v in state.items()
                 if k.startswith('model.')}
        self.model.load_state_dict(state)
        for p in self.model.parameters():
            p.requires_grad_(False)
        for head in self.model.classifier_heads().values():
            head.reset_parameters()
            for p in head.parameters():
                p.requires_grad_(True)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.hparams.stage == 2:
            # Frozen parts keep eval behaviour (dropout off, running stats).
            self.model.eval()
            for head in self.model.classifier_heads().values():
                head.train(mode)
        return self

    def on_train_epoch_start(self) -> None:
        # Lightning keeps submodules' modes as they are; stage 2 needs its
        # frozen parts in eval mode.
        self.train()

    # --- steps -----------------------------------------------------------

    def _uap(self, sap: Tensor) -> Tensor:
        return unspecified_prompt(sap, self.hparams.uap)

    def compute_losses(self, out: ProDAOutput, spec) -> Dict[str, Tensor]:
        r"""The weighted objective (:class:`~pyg_proda.nn.ProDALoss`) on
        the rows of :obj:`out` (their targets in :attr:`ProDAOutput.view`)."""
        epochs = self.trainer.max_epochs if self._trainer is not None else 1
        for m in (self.loss_fn.margin_dis, self.loss_fn.margin_rec):
            m.total_epochs = max(1, epochs or 1)
        view = out.view
        return self.loss_fn(
            a_s=out.a_s, y_s=None if spec is None else spec.y_s,
            a_u=out.a_u, y_u=None if spec is None else spec.y_u,
            a_t=out.a_t, y=view.y, a_m=out.a_m, f_s=out.f_s, f_u=out.f_u,
            f_o=out.f_o, f_r=out.f_r, batch=view.batch,
            batch_size=view.num_graphs, epoch=self.current_epoch + 1)

    def training_step(self, view: SSGView, batch_idx: int) -> Tensor:
        video = None
        if self.hparams.stage == 2 and self.hparams.stage2_prompt == 'random':
            # The classifiers are trained under the prompts they are read
            # with at inference: ground-truth-free ones.
            B, C = view.y.shape
            sap = random_prompt(B, C, self.hparams.spec_length,
                                self._step_seed(), self.device)
            spec = None
        else:
            gen = torch.Generator().manual_seed(self._step_seed())
            y = view.y.cpu()
            if self.hparams.specs_per_video == 'all':
                spec = self.sampler.enumerate(y, generator=gen)
                video = spec.video.to(self.device)
            else:
                spec = self.sampler.sample(y, generator=gen)
            spec = spec._replace(**{k: v.to(self.device)
                                    for k, v in spec._asdict().items()
                                    if v is not None})
            sap = spec.sap
        out = self.model(view, sap, self._uap(sap), video=video)
        terms = self.compute_losses(out, spec)
        B = out.view.num_graphs
        for k, v in terms.items():
            self.log(f'train/{k}', v, batch_size=B, prog_bar=k == 'loss')
        for k, v in self.loss_fn.stats.items():
            self.log(f'train/{k}', v, batch_size=B)
        for term in ('dis', 'rec'):
            if term in terms:
                act = self.ad_activity[term]
                act['steps'] += 1
                act['active_steps'] += int(float(terms[term].detach()) > 0)
                act['video_share'] += float(self.loss_fn.stats[
                    f'{term}_active'])
        return terms['loss']

    def eval_forward(self, view: SSGView) -> ProDAOutput:
        r"""Forward pass under the label-free protocol."""
        sap = self.label_free_prompt(view)
        return self.model(view, sap, self._uap(sap))

    def paper_protocol_forward(self, view: SSGView):
        r"""Forward pass under the authors' protocol: the :math:`2L + 2`
        ground-truth-based prompts of every video
        (:data:`~pyg_proda.data.action_spec.PAPER_PROTOCOL_KINDS`, their
        random members and distractors drawn from the video's index), one
        row each; returns the output and the specification rows."""
        index = view.video_index if 'video_index' in view else \
            torch.arange(view.num_graphs)
        spec = self.sampler.enumerate_per_video(
            view.y.cpu(), index.cpu(), self.hparams.seed,
            PAPER_PROTOCOL_KINDS)
        sap = spec.sap.to(self.device)
        out = self.model(view, sap, self._uap(sap),
                         video=spec.video.to(self.device))
        return out, spec

    def _eval_step(self, view: SSGView, batch_idx: int, split: str) -> None:
        out = self.eval_forward(view)
        index = view.video_index if 'video_index' in view else None
        self._update(split, 'a_t', out.a_t.sigmoid(), view.y, index)
        self._update(split, 'a_m', out.a_m.sigmoid(), view.y, index)
        if split == 'test' and 'paper' in self.hparams.test_protocols:
            o, spec = self.paper_protocol_forward(view)
            rows = None
            if index is not None:
                video = spec.video.to(index.device)
                first = torch.searchsorted(video, video, right=False)
                rank = torch.arange(video.numel(), device=video.device) - first
                rows = index[video] * _ROWS + rank
            self._update(split, 'a_t_paper_protocol', o.a_t.sigmoid(),
                         o.view.y, rows)

    def validation_step(self, view: SSGView, batch_idx: int) -> None:
        self._eval_step(view, batch_idx, 'val')

    def on_validation_epoch_end(self) -> None:
        self._log_metrics('val')

    def test_step(self, view: SSGView, batch_idx: int) -> None:
        self._eval_step(view, batch_idx, 'test')

    def on_test_epoch_end(self) -> None:
        self._log_metrics('test')

    def predict_step(self, view: SSGView, batch_idx: int) -> Dict[str, Any]:
        out = self.eval_forward(view)
        return {'video_id': view.video_id, 'a_t': out.a_t.sigmoid(),
                'a_m': out.a_m.sigmoid(), 'frame_weights_t':
                out.frame_weights['t']}

    # --- optimisation ----------------------------------------------------
    def stage2_module(self, init_from: str, **overrides: Any
                      ) -> 'ProDAModule':
        r"""The stage-2 module of this stage-1 run: the same model and
        settings, started from checkpoint :obj:`init_from`, at
        :obj:`stage2_lr`; :obj:`overrides` replace settings (e.g.
        ``stage2_prompt='spec'``)."""
        names = inspect.signature(ProDAModule.__init__).parameters
        hp = {k: v for k, v in self.hparams.items()
              if k in names and k not in ('model', 'model_config')}
        hp.update(stage=2, init_from=init_from, lr=hp['stage2_lr'])
        hp.update(overrides)
        return ProDAModule(model_config=self.hparams.model_config, **hp)


class BagOfFramesModule(_VideoMetrics, WarmupAdamWMixin, L.LightningModule):
    r"""Trains the non-temporal :class:`~pyg_proda.models.BagOfFrames`
    baseline with BCE, AdamW and the same schedule as ProDA.

    Args:
        model (BagOfFrames, optional): The model. (default: :obj:`None`,
            built from :obj:`model_config`)
        model_config (dict, optional): :attr:`BagOfFrames.config`.
        lr, weight_decay, warmup_ratio (float): As
            :class:`ProDAModule`. (default: :obj:`1e-3`, :obj:`1e-3`,
            :obj:`0.1`)
        seed (int): Seed of the per-step randomness. (default: :obj:`0`)
    """
    def __init__(self, model: Optional[BagOfFrames] = None,
                 model_config: Optional[Dict[str, Any]] = None,
                 lr: float = 1e-3, weight_decay: float = 1e-3,
                 warmup_ratio: float = 0.1, seed: int = 0):
        super().__init__()
        self.model = _model_from(model, model_config, BagOfFrames)
        self.save_hyperparameters(ignore=['model'])
        self.hparams['model_config'] = dict(self.model.config)
        self._init_metrics({'val': ['baseline'], 'test': ['baseline']})

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self.hparams.seed * 1_000_003 + self.global_step)

    def forward(self, view: SSGView) -> Tensor:
        return self.model(view)

    def training_step(self, view: SSGView, batch_idx: int) -> Tensor:
        logits = self(view)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, view.y)
        self.log('train/loss', loss, batch_size=view.num_graphs,
                 prog_bar=True)
        return loss

    def _eval_step(self, view: SSGView, split: str) -> None:
        index = view.video_index if 'video_index' in view else None
        self._update(split, 'baseline', self(view).sigmoid(), view.y, index)

    def validation_step(self, view: SSGView, batch_idx: int) -> None:
        self._eval_step(view, 'val')

    def on_validation_epoch_end(self) -> None:
        self._log_metrics('val')

    def test_step(self, view: SSGView, batch_idx: int) -> None:
        self._eval_step(view, 'test')

    def on_test_epoch_end(self) -> None:
        self._log_metrics('test')

