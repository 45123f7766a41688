import pytest

from pyg_proda.datasets import SyntheticSSG


@pytest.fixture(scope='session')
def synthetic_dataset(tmp_path_factory) -> SyntheticSSG:
    r"""A small :class:`SyntheticSSG` train split, processed once per
    session."""
    root = tmp_path_factory.mktemp('synthetic_ssg')
    return SyntheticSSG(str(root), split='train', num_videos=24, log=False)
