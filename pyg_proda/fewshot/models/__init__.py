r"""Few-shot classifiers: :class:`CLIPSPM` and the baselines, built by
name."""
from typing import Any, Tuple

from torch import Tensor
from torch.nn import Module

from pyg_proda.fewshot.models.clip_spm import CLIPSPM, CLIPSPMOutput
from pyg_proda.fewshot.nn.otam import OTAM
from pyg_proda.fewshot.nn.protonet import ProtoNet
from pyg_proda.fewshot.nn.trx import TRX

#: Names accepted by :func:`build_head`.
HEADS = ('protonet', 'otam', 'trx', 'clip_spm')


def build_head(name: str, channels: int, num_frames: int = 8,
               **options: Any) -> Module:
    r"""Builds a few-shot head by name.

    Args:
        name (str): One of :data:`HEADS`.
        channels (int): Feature size :math:`D`.
        num_frames (int, optional): Frames per video (TRX only).
            (default: :obj:`8`)
        **options (optional): Constructor arguments of the head; arguments
            the head does not take are ignored, so one configuration can
            describe every head.

    Raises:
        ValueError: for an unknown name.

    Example:
        >>> build_head('protonet', 16, heads=4)
        ProtoNet(16, project=True)
    """
    import inspect
    classes = {'protonet': ProtoNet, 'otam': OTAM, 'trx': TRX,
               'clip_spm': CLIPSPM}
    if name not in classes:
        raise ValueError(f"Unknown few-shot head '{name}' (expected one of "
                         f"{list(HEADS)})")
    cls = classes[name]
    params = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in options.items() if k in params}
    if 'num_frames' in params:
        kwargs['num_frames'] = num_frames
    return cls(channels, **kwargs)


def head_forward(head: Module, support: Tensor, support_labels: Tensor,
                 query: Tensor, class_text: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Runs any head and returns ``(logits, auxiliary loss)`` (the HSMR
    loss of :class:`CLIPSPM`, 0 otherwise). Query labels are not an
    argument: no head can see them."""
    out = head(support, support_labels, query, class_text)
    if isinstance(out, CLIPSPMOutput):
        return out.logits, out.motion_loss
    return out, out.new_zeros(())


__all__ = ['CLIPSPM', 'CLIPSPMOutput', 'HEADS', 'build_head', 'head_forward']
