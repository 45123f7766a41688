r"""The number of ATen operators a step dispatches."""
from typing import Callable


def count_ops(step: Callable[[], None]) -> int:
    r"""Number of ATen operators that one run of :obj:`step` dispatches
    (forward and backward, views included): what a step costs whatever the
    size of its tensors, at a few microseconds of dispatch each.

    Example:
        >>> a = torch.ones(3)
        >>> count_ops(lambda: a.detach() + 1)  # detach, add
        2
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.count += 1
            return func(*args, **(kwargs or {}))

    with Counter() as counter:
        step()
    return counter.count
