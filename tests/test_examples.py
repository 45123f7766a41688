import doctest
import importlib
import pkgutil

import pytest
import torch

import pyg_proda.nn
import pyg_proda.profile
import pyg_proda.testing

MODULES = sorted(m.name for pkg in (pyg_proda.nn, pyg_proda.profile,
                                    pyg_proda.testing)
                 for m in pkgutil.walk_packages(pkg.__path__,
                                                prefix=pkg.__name__ + '.'))


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples_run(name):
    # The `Example` sections of the layers, the profilers and the testing
    # helpers are part of their documentation: they must run as written.
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={'torch': torch})
    assert result.failed == 0
