r"""Readers and writers of the on-disk formats (like
:mod:`torch_geometric.io`): Charades, Action Genome and SportsHHI
annotations, per-box feature files, and atomic writes."""
from pyg_proda.io.atomic import atomic_path, torch_save_atomic, write_json_atomic

__all__ = ['atomic_path', 'torch_save_atomic', 'write_json_atomic']
