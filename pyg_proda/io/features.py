r"""Per-box feature files: one 1-D float vector per annotated box, in HDF5
(``.h5``/``.hdf5``) or NumPy (``.npz``) files. :class:`FeatureFile` reads
them (``np.load(allow_pickle=False)`` or h5py, never unpickling),
:class:`FeatureWriter` writes them atomically."""
import os.path as osp
import zipfile
from contextlib import ExitStack
from typing import Dict, Optional

import numpy as np

from pyg_proda.io.atomic import atomic_path

#: Suffixes of the supported feature files.
SUFFIXES = ('.h5', '.hdf5', '.npz')


class FeatureFile:
    r"""Per-box feature vectors stored in an HDF5 (``.h5``/``.hdf5``) or
    NumPy (``.npz``) file.

    Layout: one 1-D float vector ``[D]`` per entity, under the key
    ``'<ID>.mp4/<FRAME>.png/<entity>'``, where ``<ID>.mp4/<FRAME>.png`` is the
    Action Genome frame key and ``<entity>`` is ``person`` or the object's
    class name as written in ``object_bbox_and_relationship.pkl``
    (``'cup/glass/bottle'``). A class that occurs ``k + 1`` times in one frame
    has its later occurrences under ``'<class>#1'``, ..., ``'<class>#k'``
    (pickle order, counting invisible objects too). Invisible objects need
    an entry only with ``visible_only=False``. In HDF5 the slashes make
    nested groups, so ``f['001YG.mp4/000089.png/person']`` addresses the
    dataset. All vectors
    have the same size ``D``. :class:`FeatureWriter` (used by :mod:`pyg_proda.features`) writes this
    layout.

    Args:
        path (str): The ``.h5``, ``.hdf5`` or ``.npz`` file.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file has another suffix or cannot be opened.

    (See :class:`FeatureWriter` for a round trip.)
    """
    def __init__(self, path: str) -> None:
        self.path = path
        suffix = osp.splitext(path)[1].lower()
        if not osp.isfile(path):
            raise FileNotFoundError(f"Feature file '{path}' does not exist")
        if suffix not in SUFFIXES:
            raise ValueError(f"Feature file '{path}' must end in .h5, .hdf5 "
                             f"or .npz")
        self._h5 = self._npz = None
        try:
            if suffix == '.npz':
                # allow_pickle=False: feature files never need unpickling.
                self._npz = np.load(path, allow_pickle=False)
                self._names = set(self._npz.files)
            else:
                import h5py
                self._h5 = h5py.File(path, 'r')
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"Cannot read feature file '{path}': {e}") from None
        self.dim: Optional[int] = None

    def get(self, key: str) -> np.ndarray:
        r"""Returns the vector of :obj:`key` as float32 ``[D]``.

        Raises:
            ValueError: naming the file and key when the key is missing or
                the vector is not 1-D of the size of the first one read.
        """
        if self._h5 is not None:
            item = self._h5.get(key)
            if item is None or not hasattr(item, 'shape'):
                raise ValueError(f"Feature file '{self.path}' has no entry "
                                 f"'{key}'")
            vec = np.asarray(item[()], dtype=np.float32)
        else:
            if key not in self._names:
                raise ValueError(f"Feature file '{self.path}' has no entry "
                                 f"'{key}'")
            vec = np.asarray(self._npz[key], dtype=np.float32)
        if vec.ndim != 1 or (self.dim is not None and vec.shape[0] != self.dim):
            want = f'[{self.dim}]' if self.dim is not None else '[D]'
            raise ValueError(f"Feature file '{self.path}': entry '{key}' has "
                             f"shape {list(vec.shape)}, expected {want}")
        self.dim = vec.shape[0]
        return vec

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
        if self._npz is not None:
            self._npz.close()


class FeatureWriter:
    r"""Writes a :class:`FeatureFile`: vectors are written to a temporary
    file in the target folder, which replaces :obj:`path` only when the
    ``with`` block completes (an error or interruption leaves no partial
    file behind).

    Args:
        path (str): ``.h5``, ``.hdf5`` or ``.npz`` output.
        dtype (str, optional): Storage type. (default: :obj:`'float16'`)

    Raises:
        ValueError: for another suffix.

    Example:
        >>> with FeatureWriter('/tmp/feats.npz', 'float32') as writer:
        ...     writer.write('001YG.mp4/000089.png/person', np.ones(4))
        >>> FeatureFile('/tmp/feats.npz').get('001YG.mp4/000089.png/person')
        array([1., 1., 1., 1.], dtype=float32)
    """
    def __init__(self, path: str, dtype: str = 'float16') -> None:
        suffix = osp.splitext(path)[1].lower()
        if suffix not in SUFFIXES:
            raise ValueError(f"Output '{path}' must end in .h5, .hdf5 or .npz")
        self.path, self.dtype, self.suffix = path, np.dtype(dtype), suffix
        self.count = 0
        self._stack: Optional[ExitStack] = None

    def __enter__(self) -> 'FeatureWriter':
        self._stack = ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path,
                                                          self.suffix))
        self._arrays: Dict[str, np.ndarray] = {}
        self._h5 = None
        if self.suffix != '.npz':
            import h5py
            self._h5 = h5py.File(self._tmp, 'w')
        return self

    def write(self, key: str, vec: np.ndarray) -> None:
        r"""Stores vector :obj:`vec` ``[D]`` under :obj:`key`."""
        vec = np.asarray(vec).astype(self.dtype)
        if self._h5 is not None:
            self._h5.create_dataset(key, data=vec)
        else:
            self._arrays[key] = vec
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self._h5 is not None:
                self._h5.close()
            elif exc_type is None:
                with open(self._tmp, 'wb') as f:
                    np.savez(f, **self._arrays)
        finally:
            self._stack.__exit__(exc_type, exc, tb)
        return False
