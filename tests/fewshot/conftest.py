import pytest

from pyg_proda.fewshot import SyntheticFewShot


@pytest.fixture(scope='session')
def tiny_bench() -> SyntheticFewShot:
    r"""A small synthetic few-shot benchmark (8/4/8 classes, 10 videos
    each, D = 32)."""
    return SyntheticFewShot((8, 4, 8), videos_per_class=10, dim=32, seed=1)
