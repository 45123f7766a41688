r"""Learning-rate schedule, optimiser parameter groups and the optimiser
every SSG module of :mod:`pyg_proda.training` uses."""
import math
from typing import Any, Dict, Iterable, List

import torch
from torch import nn


def warmup_linear(step: int, total_steps: int, warmup_steps: int) -> float:
    r"""Multiplier of the base learning rate: linear warm-up over
    :obj:`warmup_steps`, then linear decay to zero at :obj:`total_steps`
    (stepped per batch, as in the authors' code)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    rest = max(1, total_steps - warmup_steps)
    return max(0.0, 1.0 - (step - warmup_steps) / rest)


def decay_groups(module: nn.Module, weight_decay: float,
                 params: Iterable = None) -> List[dict]:
    r"""AdamW groups: no weight decay on biases and other 1-D parameters
    (norm scales, per-frame VGNorm parameters)."""
    trainable = set(id(p) for p in (params if params is not None else
                                    module.parameters()) if p.requires_grad)
    decay, no_decay = [], []
    for p in module.parameters():
        if id(p) not in trainable:
            continue
        (no_decay if p.dim() <= 1 else decay).append(p)
    return [{'params': decay, 'weight_decay': weight_decay},
            {'params': no_decay, 'weight_decay': 0.0}]


class WarmupAdamWMixin:
    r"""``configure_optimizers`` of a LightningModule with a :obj:`model`
    and the hyper-parameters ``lr``, ``weight_decay`` and ``warmup_ratio``:
    AdamW over :func:`decay_groups`, with :func:`warmup_linear` stepped per
    batch over the trainer's estimated steps."""
    def configure_optimizers(self) -> Dict[str, Any]:
        groups = decay_groups(self.model, self.hparams.weight_decay)
        opt = torch.optim.AdamW(groups, lr=self.hparams.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(math.ceil(self.hparams.warmup_ratio * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_linear(step, total, warmup))
        return {'optimizer': opt,
                'lr_scheduler': {'scheduler': sched, 'interval': 'step'}}
