r"""Lightning modules: two-stage ProDA training and the bag-of-frames
baseline."""
import math
from typing import Any, Dict, Optional

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_proda.data.action_spec import ActionSpecSampler
from pyg_proda.data.homogeneous import to_homogeneous
from pyg_proda.metrics import charades_map
from pyg_proda.models import BagOfFrames, ProDA
from pyg_proda.nn.ad_loss import MarginSchedule, ProDALoss
from pyg_proda.training.schedule import decay_groups, warmup_linear


def random_prompt(num_videos: int, num_classes: int, length: int,
                  seed: int, device: torch.device) -> Tensor:
    r"""A ground-truth-free specification: :obj:`length` classes drawn
    uniformly per video (seeded). Used to read :math:`a_t` at evaluation
    time without revealing any label to the model."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(num_videos, num_classes, generator=gen)
    idx = scores.topk(min(length, num_classes), dim=-1).indices
    sap = torch.zeros(num_videos, num_classes).scatter_(1, idx, 1.0)
    return sap.to(device)


class _EvalMixin:
    r"""Collects sigmoid scores during validation/test and logs the video
    mAP (Charades definition, :func:`pyg_proda.metrics.charades_map`)."""
    def _reset_eval(self) -> None:
        self._scores: Dict[str, list] = {}
        self._labels: list = []

    def _collect(self, scores: Dict[str, Tensor], y: Tensor) -> None:
        for k, v in scores.items():
            self._scores.setdefault(k, []).append(v.detach().float().cpu())
        self._labels.append(y.detach().float().cpu())

    def _log_eval(self, prefix: str) -> None:
        if not self._labels:
            return
        labels = torch.cat(self._labels)
        labels = self._gather(labels)
        for name, parts in self._scores.items():
            scores = self._gather(torch.cat(parts))
            value = float(charades_map(scores, labels)[0]) * 100
            self.log(f'{prefix}/{name}_map', value, prog_bar=True,
                     rank_zero_only=True, sync_dist=False)
        self._reset_eval()

    def _gather(self, t: Tensor) -> Tensor:
        if self._trainer is None or self.trainer.world_size == 1:
            return t
        out = self.all_gather(t.to(self.device))  # [world, n, C]
        return out.reshape(-1, t.size(-1)).cpu()


class ProDAModule(_EvalMixin, L.LightningModule):
    r"""Trains :class:`~pyg_proda.models.ProDA` in two stages.

    **Stage 1** trains everything end to end with BCE on :math:`a_s`,
    :math:`a_u` (over :math:`C + 1` classes) and :math:`a_t`, the
    decorrelation loss between the branches and the reconstruction loss
    (paper Eq. 5-8), one online-sampled action specification per video and
    step (:class:`~pyg_proda.data.ActionSpecSampler`). The :math:`a_m` head
    is a probe on the detached encoder features, trained with BCE but never
    shaping the encoder. **Stage 2** (``stage=2, init_from=CKPT``) loads the
    best stage-1 weights, freezes everything but the :math:`a_t` and
    :math:`a_m` classifiers, re-initialises those and trains them with BCE
    only.

    Every step's randomness (specification sampling, dropout) is derived
    from ``(seed, global_step, rank)``, and shuffling from ``(seed,
    epoch)``, so a run resumed from a checkpoint reproduces an
    uninterrupted one.

    Args:
        in_channels, num_classes, edge_dim: Data shapes (linked from the
            data module by the CLI).
        hidden_channels ... norm: See :class:`~pyg_proda.models.ProDA`.
        stage (int): 1 or 2. (default: :obj:`1`)
        init_from (str, optional): Stage-1 checkpoint for stage 2.
        lr (float): Peak AdamW learning rate. (default: :obj:`2e-4`)
        weight_decay (float): AdamW weight decay (none on 1-D parameters).
            (default: :obj:`1e-3`)
        warmup_ratio (float): Fraction of the steps used for warm-up.
            (default: :obj:`0.1`)
        lambda_s, lambda_u, lambda_t, lambda_m, lambda_dis, lambda_rec
            (float): Loss weights (:math:`\lambda_1..\lambda_4` of the
            paper, plus the probe). (default: :obj:`1.0`)
        use_dis, use_rec (bool): Switch the AD terms. (default: :obj:`True`)
        use_margins (bool): Margins on (scheduled) or off (margin 0).
            (default: :obj:`True`)
        margin_start, margin_end (float): Linear schedule of both margins
            over the epochs; equal values give a fixed margin.
            (default: :obj:`0.7`, :obj:`0.2`, the authors' schedule)
        margin_rec_start, margin_rec_end (float, optional): A separate
            schedule for the reconstruction margin (SportsHHI: 0.3).
        spec_length (int): Length ``K`` of distractor-injected
            specifications. (default: :obj:`16`)
        uap (str): ``'complement'`` (paper) or ``'same'`` (authors' stage-1
            code). (default: :obj:`'complement'`)
        stage2_prompt (str): Prompts of stage 2: ``'random'`` trains the
            classifiers with the ground-truth-free prompts they are read with
            at evaluation (:func:`random_prompt`); ``'spec'`` keeps the
            stage-1 specifications, which name ground-truth actions and let a
            classifier learn to trust the prompt. (default: :obj:`'random'`)
        seed (int): Seed of the per-step randomness. (default: :obj:`0`)
    """
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        edge_dim: int,
        hidden_channels: int = 768,
        heads: int = 12,
        num_encoder_layers: int = 1,
        num_layers: int = 3,
        num_temporal_layers: int = 2,
        num_prompts: int = 10,
        num_node_classes: int = 36,
        max_frames: int = 16,
        dropout: float = 0.1,
        prompt: str = 'dynamic',
        norm: str = 'vgnorm',
        attention_impl: str = 'sdpa',
        detach_probe: bool = True,
        residual: bool = True,
        relative_time: bool = True,
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
        stage2_prompt: str = 'random',
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
        self.save_hyperparameters()
        self.model = ProDA(in_channels, num_classes, edge_dim,
                           hidden_channels=hidden_channels, heads=heads,
                           num_encoder_layers=num_encoder_layers,
                           num_layers=num_layers,
                           num_temporal_layers=num_temporal_layers,
                           num_prompts=num_prompts,
                           num_node_classes=num_node_classes,
                           max_frames=max_frames, dropout=dropout,
                           prompt=prompt, norm=norm,
                           attention_impl=attention_impl,
                           detach_probe=detach_probe, residual=residual,
                           relative_time=relative_time)
        self.sampler = ActionSpecSampler(num_classes, length=spec_length,
                                         uap=uap)
        terms = ['cls_s', 'cls_u', 'cls_t'] if stage == 1 else ['cls_t']
        terms += ['dis'] * (stage == 1 and use_dis)
        terms += ['rec'] * (stage == 1 and use_rec)
        self.loss_fn = ProDALoss(
            lambda_s=lambda_s, lambda_u=lambda_u, lambda_t=lambda_t,
            lambda_dis=lambda_dis, lambda_rec=lambda_rec,
            margin_dis=MarginSchedule(margin_start, margin_end,
                                      enabled=use_margins),
            margin_rec=MarginSchedule(margin_rec_start if margin_rec_start
                                      is not None else margin_start,
                                      margin_rec_end if margin_rec_end
                                      is not None else margin_end,
                                      enabled=use_margins),
            terms=terms)
        if stage == 2:
            self._init_stage2(init_from)
        self._reset_eval()

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
    def _step_seed(self) -> int:
        rank = self.global_rank if self._trainer is not None else 0
        return (self.hparams.seed * 1_000_003 + self.global_step * 101 +
                rank) % (2**63 - 1)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self._step_seed())

    def compute_losses(self, view, spec, out) -> Dict[str, Tensor]:
        r"""The weighted ProDA objective (:class:`~pyg_proda.nn.ProDALoss`)
        plus the BCE of the :math:`a_m` probe."""
        epochs = self.trainer.max_epochs if self._trainer is not None else 1
        for m in (self.loss_fn.margin_dis, self.loss_fn.margin_rec):
            m.total_epochs = max(1, epochs or 1)
        terms = self.loss_fn(
            a_s=out.a_s, y_s=None if spec is None else spec.y_s,
            a_u=out.a_u, y_u=None if spec is None else spec.y_u,
            a_t=out.a_t, y=view.y, f_s=out.f_s, f_u=out.f_u, f_o=out.f_o,
            f_r=out.f_r, batch=view.batch, batch_size=view.num_graphs,
            epoch=self.current_epoch + 1)
        terms['cls_m'] = F.binary_cross_entropy_with_logits(out.a_m, view.y)
        terms['loss'] = terms['loss'] + self.hparams.lambda_m * terms['cls_m']
        return terms

    def training_step(self, batch, batch_idx: int) -> Tensor:
        view = to_homogeneous(batch)
        if self.hparams.stage == 2 and self.hparams.stage2_prompt == 'random':
            # The classifiers are trained under the prompts they are read
            # with at inference: ground-truth-free ones.
            B, C = view.y.shape
            sap = random_prompt(B, C, self.hparams.spec_length,
                                self._step_seed(), self.device)
            uap = 1 - sap if self.hparams.uap == 'complement' else sap
            spec = None
        else:
            gen = torch.Generator().manual_seed(self._step_seed())
            spec = self.sampler.sample(view.y.cpu(), generator=gen)
            spec = spec._replace(**{k: v.to(self.device)
                                    for k, v in spec._asdict().items()
                                    if v is not None})
            sap, uap = spec.sap, spec.uap
        out = self.model(view, sap, uap)
        terms = self.compute_losses(view, spec, out)
        B = view.num_graphs
        for k, v in terms.items():
            self.log(f'train/{k}', v, batch_size=B, prog_bar=k == 'loss')
        return terms['loss']

    def eval_forward(self, batch, batch_idx: int):
        r"""Forward pass with a ground-truth-free prompt
        (:func:`random_prompt`, seeded by the batch index)."""
        view = to_homogeneous(batch)
        B, C = view.y.shape
        sap = random_prompt(B, C, self.hparams.spec_length,
                            self.hparams.seed + batch_idx, self.device)
        uap = 1 - sap if self.hparams.uap == 'complement' else sap
        return view, self.model(view, sap, uap)

    def validation_step(self, batch, batch_idx: int) -> None:
        view, out = self.eval_forward(batch, batch_idx)
        self._collect({'a_t': out.a_t.sigmoid(), 'a_m': out.a_m.sigmoid()},
                      view.y)

    def on_validation_epoch_end(self) -> None:
        self._log_eval('val')

    def test_step(self, batch, batch_idx: int) -> None:
        view, out = self.eval_forward(batch, batch_idx)
        self._collect({'a_t': out.a_t.sigmoid(), 'a_m': out.a_m.sigmoid()},
                      view.y)

    def on_test_epoch_end(self) -> None:
        self._log_eval('test')

    def predict_step(self, batch, batch_idx: int) -> Dict[str, Any]:
        view, out = self.eval_forward(batch, batch_idx)
        return {'video_id': batch.video_id, 'a_t': out.a_t.sigmoid(),
                'a_m': out.a_m.sigmoid(), 'frame_weights_t':
                out.frame_weights['t']}

    # --- optimisation ----------------------------------------------------
    def configure_optimizers(self):
        groups = decay_groups(self.model, self.hparams.weight_decay)
        opt = torch.optim.AdamW(groups, lr=self.hparams.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(math.ceil(self.hparams.warmup_ratio * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_linear(step, total, warmup))
        return {'optimizer': opt,
                'lr_scheduler': {'scheduler': sched, 'interval': 'step'}}


class BagOfFramesModule(_EvalMixin, L.LightningModule):
    r"""Trains the non-temporal :class:`~pyg_proda.models.BagOfFrames`
    baseline with BCE, AdamW and the same schedule as ProDA."""
    def __init__(self, in_channels: int, num_classes: int, edge_dim: int,
                 hidden_channels: int = 128, num_node_classes: int = 36,
                 max_frames: int = 16, dropout: float = 0.1,
                 lr: float = 1e-3, weight_decay: float = 1e-3,
                 warmup_ratio: float = 0.1, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.model = BagOfFrames(in_channels, num_classes, edge_dim,
                                 hidden_channels, num_node_classes, dropout)
        self._reset_eval()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self.hparams.seed * 1_000_003 + self.global_step)

    def forward(self, batch) -> Tensor:
        view = to_homogeneous(batch)
        return self.model(view, self.hparams.max_frames), view.y

    def training_step(self, batch, batch_idx: int) -> Tensor:
        logits, y = self(batch)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        self.log('train/loss', loss, batch_size=y.size(0), prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        logits, y = self(batch)
        self._collect({'baseline': logits.sigmoid()}, y)

    def on_validation_epoch_end(self) -> None:
        self._log_eval('val')

    def test_step(self, batch, batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        self._log_eval('test')

    configure_optimizers = ProDAModule.configure_optimizers
