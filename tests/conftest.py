import pytest
import torch

from pyg_proda.datasets import SyntheticSSG


@pytest.fixture(scope='session')
def synthetic_dataset(tmp_path_factory) -> SyntheticSSG:
    r"""A small :class:`SyntheticSSG` train split, processed once per
    session."""
    root = tmp_path_factory.mktemp('synthetic_ssg')
    return SyntheticSSG(str(root), split='train', num_videos=24, log=False)


@pytest.fixture(autouse=True)
def one_torch_thread():
    r"""Every test runs on one intra-op thread: the graphs and models are
    tiny, and on a shared or 2-core machine a second thread mostly waits
    (several threads are far slower there)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
