import doctest
import importlib
import pkgutil

import pytest
import torch

import pyg_proda

MODULES = sorted(m.name for m in pkgutil.walk_packages(
    pyg_proda.__path__, prefix='pyg_proda.') if not m.ispkg)


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples_run(name):
    # The `Example` sections are part of the documentation: they must run
    # as written (examples that need the user's own data are skipped).
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={'torch': torch})
    assert result.failed == 0
