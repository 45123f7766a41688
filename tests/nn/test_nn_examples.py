import doctest
import importlib
import pkgutil

import pytest
import torch

import pyg_proda.nn

MODULES = sorted(m.name for m in pkgutil.iter_modules(
    pyg_proda.nn.__path__, prefix='pyg_proda.nn.'))


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples_run(name):
    # The `Example` sections of the layers are part of their documentation:
    # they must run as written.
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={'torch': torch})
    assert result.failed == 0
