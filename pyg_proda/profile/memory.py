r"""Peak memory of a step, and the heap setting that keeps freed memory for
the next step on CPU."""
from typing import Callable

import torch


def peak_memory(step: Callable[[], None], device: torch.device) -> int:
    r"""Peak bytes allocated during one run of :obj:`step` and still alive
    at that moment (allocations made before the step are not counted).

    On CPU, the largest sum of the allocation events of
    :mod:`torch.profiler` (``profile_memory=True``); on CUDA,
    :func:`torch.cuda.max_memory_allocated` minus the memory allocated
    before the step.

    Example:
        >>> def step():
        ...     a = torch.ones(1000, 1000)  # 4 MB
        ...     b = a * 2  # 8 MB alive at the peak
        >>> peak_memory(step, torch.device('cpu')) >= 8_000_000
        True
    """
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        step()
    events = [e for e in p.profiler.kineto_results.events()
              if e.name() == '[memory]' and e.device_type().name == 'CPU']
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()
        peak = max(peak, current)
    return peak


def keep_freed_memory() -> bool:
    r"""Makes glibc serve every allocation from its heap and never give
    freed memory back to the OS (``mallopt(M_MMAP_MAX, 0)``,
    ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)``), the way PyTorch's CUDA
    caching allocator keeps freed blocks. Otherwise every tensor above 32 MB
    is a fresh ``mmap`` whose pages fault in on first touch, which doubles
    the cost of memory-bound ops in every step of a large graph for the
    sparse and the dense layer alike. Returns :obj:`False` where not
    available (no glibc)."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        return bool(libc.mallopt(-4, 0)) and bool(libc.mallopt(
            -1, 2**31 - 1))
    except (OSError, AttributeError):
        return False
