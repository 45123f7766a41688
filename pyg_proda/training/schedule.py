r"""Learning-rate schedule and optimiser parameter groups."""
from typing import Iterable, List

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
