r"""Atomic writes: every file pyg_proda writes (processed datasets, feature
files, statistics, caches) goes through :func:`atomic_path`, so an
interrupted run leaves either the old file or the new one, never half of
it."""
import json
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

import torch


@contextmanager
def atomic_path(path: str, suffix: str = '.tmp') -> Iterator[str]:
    r"""Yields a temporary path in the folder of :obj:`path` (created if
    needed). When the block exits normally the temporary file is renamed
    onto :obj:`path` (mode ``0644``); when it raises, the temporary file is
    removed and :obj:`path` is left as it was.

    Args:
        path (str): The final path.
        suffix (str, optional): Suffix of the temporary file, for writers
            that infer the format from the name (e.g. ``'.npz'``).
            (default: :obj:`'.tmp'`)

    Example:
        >>> with atomic_path('/tmp/out.txt') as tmp:
        ...     with open(tmp, 'w') as f:
        ...         _ = f.write('done')
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_json_atomic(obj: Any, path: str) -> None:
    r"""Writes :obj:`obj` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(obj, f, indent=1, sort_keys=True)


def torch_save_atomic(obj: Any, path: str) -> None:
    r""":func:`torch.save` to :obj:`path`, atomically. The object goes
    through a file object, so the temporary name is not recorded inside the
    archive and the output stays byte-reproducible."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        torch.save(obj, f)
