import pytest
import torch

from pyg_proda.fewshot import SyntheticFewShot


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    # The few-shot ops are tiny: a second thread only adds synchronisation,
    # which costs 10-20x on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_bench() -> SyntheticFewShot:
    r"""A small synthetic few-shot benchmark (8/4/8 classes, 10 videos
    each, D = 32)."""
    return SyntheticFewShot((8, 4, 8), videos_per_class=10, dim=32, seed=1)
