import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    r"""The figures need tiny models only; one intra-op thread keeps them
    fast on a loaded machine (several threads are far slower there)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
