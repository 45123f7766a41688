r""":func:`torch.compile` of a layer for graphs of every size."""
from typing import Callable, Dict

import torch


def compile_options(device: torch.device) -> Dict[str, bool]:
    r"""The inductor options of :func:`compiled`. On CPU: a C++ wrapper,
    so that launching the generated kernels costs no Python per kernel
    (``cpp_wrapper``), and ATen's random numbers for dropout
    (``fallback_random``): inductor's own generated random numbers are
    slower per element on CPU than ``bernoulli_``, and ATen's keep the
    dropout masks of eager mode. None elsewhere.

    Example:
        >>> compile_options(torch.device('cpu'))
        {'cpp_wrapper': True, 'fallback_random': True}
    """
    if device.type == 'cpu':
        return {'cpp_wrapper': True, 'fallback_random': True}
    return {}


def compiled(module: torch.nn.Module, device: torch.device,
             backend: str = 'inductor') -> Callable:
    r""":func:`torch.compile` of :obj:`module` for graphs of every size
    (``dynamic=True``: one compiled graph serves all batch sizes, but for
    a few size classes inductor specialises on), with
    :func:`compile_options` under inductor. A
    :class:`~pyg_proda.nn.VGPNNConv` compiles as a whole when its groups
    are built outside it (:func:`~pyg_proda.nn.vgpnn_groups`): no
    data-dependent shape is left inside the forward pass.

    Args:
        module (torch.nn.Module): The module.
        device (torch.device): Where it runs.
        backend (str, optional): The :func:`torch.compile` backend.
            (default: :obj:`'inductor'`)
    """
    options = compile_options(device) if backend == 'inductor' else None
    return torch.compile(module, dynamic=True, backend=backend,
                         options=options)
