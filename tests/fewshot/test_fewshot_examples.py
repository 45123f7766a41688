import doctest
import importlib
import pkgutil

import pytest
import torch

import pyg_proda.fewshot

MODULES = sorted(m.name for m in pkgutil.walk_packages(
    pyg_proda.fewshot.__path__, prefix='pyg_proda.fewshot.') if not m.ispkg)


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    # The `Example` sections are documentation: they must run as written
    # (files they write go to a temporary folder).
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={'torch': torch})
    assert result.failed == 0
