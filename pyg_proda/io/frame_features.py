r"""Frame-feature caches of the few-shot datasets
(:class:`~pyg_proda.fewshot.FrameFeatureDataset` reads them).

**Cache format** (version 1), one file per split, HDF5 (``.h5``/``.hdf5``)
or NumPy (``.npz``):

=====================  ==========================================  =========
entry                  content                                     dtype
=====================  ==========================================  =========
``videos/<key>``       frame features ``[T, D]`` of one video,     float16
                       ``<key>`` = ``'<class>/<video>'``
``class_names``        ``[C]`` class names of the split            str
``text_features``      ``[C, D]`` class text features              float16
``meta``               JSON: ``format``, ``version``,              str
                       ``num_frames``, ``dim``, anything else
=====================  ==========================================  =========

A video's label is the index of its ``<class>`` in ``class_names``. Every
file goes through :func:`pyg_proda.io.atomic_path`; ``.npz`` files are read
with ``allow_pickle=False`` and strings are stored as fixed-width unicode,
never pickled.
"""
import json
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from pyg_proda.io.atomic import atomic_path
from pyg_proda.io.features import SUFFIXES

#: Format name and version written into every cache.
CACHE_FORMAT = 'pyg_proda.fewshot.frame_features'
CACHE_VERSION = 1


def _check_suffix(path: str) -> str:
    suffix = osp.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"Feature cache '{path}' must end in .h5, .hdf5 or "
                         f".npz")
    return suffix


def write_feature_cache(path: str, videos: Dict[str, np.ndarray],
                        class_names: Sequence[str],
                        text_features: np.ndarray,
                        meta: Optional[dict] = None) -> None:
    r"""Writes a feature cache atomically (see the module docs).

    Args:
        path (str): Output file (``.h5``, ``.hdf5`` or ``.npz``).
        videos (dict): ``'<class>/<video>'`` to ``[T, D]`` features.
        class_names (list of str): ``[C]``.
        text_features (numpy.ndarray): ``[C, D]``.
        meta (dict, optional): Extra JSON-serialisable metadata.
            (default: :obj:`None`)

    Raises:
        ValueError: for an unknown suffix, a video whose class is not in
            :obj:`class_names`, or features whose frame count or size
            disagree (naming the video).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), 'val.npz')
        >>> write_feature_cache(path, {'a/v0': np.ones((8, 4))}, ['a'],
        ...                     np.ones((1, 4)))
        >>> videos, names, text, meta = read_feature_cache(path)
        >>> list(videos), names, text.shape
        (['a/v0'], ['a'], (1, 4))
    """
    suffix = _check_suffix(path)
    class_names = [str(c) for c in class_names]
    text = np.asarray(text_features, dtype=np.float16)
    if text.ndim != 2 or text.shape[0] != len(class_names):
        raise ValueError(f"{path}: text features {text.shape} do not match "
                         f"{len(class_names)} class names")
    if len(set(class_names)) != len(class_names):
        dup = [c for c, n in Counter(class_names).items() if n > 1]
        raise ValueError(f"{path}: duplicate class names {dup}")
    known = set(class_names)
    shape: Optional[Tuple[int, int]] = None
    arrays = {}
    for key, feat in videos.items():
        cls, sep, vid = key.partition('/')
        if not sep or not vid:
            raise ValueError(f"{path}: video key {key!r} is not "
                             f"'<class>/<video>'")
        if cls not in known:
            raise ValueError(f"{path}: video '{key}' has class '{cls}', "
                             f"which is not among the class names")
        feat = np.asarray(feat, dtype=np.float16)
        if feat.ndim != 2:
            raise ValueError(f"{path}: video '{key}' has features of shape "
                             f"{feat.shape}, expected [T, D]")
        if shape is None:
            shape = feat.shape
        elif feat.shape != shape:
            raise ValueError(f"{path}: video '{key}' has features of shape "
                             f"{feat.shape}, the first video {shape}")
        arrays[key] = feat
    if shape is None:
        raise ValueError(f"{path}: no videos to write")
    if text.shape[1] != shape[1]:
        raise ValueError(f"{path}: text features have size {text.shape[1]}, "
                         f"frame features {shape[1]}")
    info = dict(meta or {})
    info.update(format=CACHE_FORMAT, version=CACHE_VERSION,
                num_frames=int(shape[0]), dim=int(shape[1]))
    meta_json = json.dumps(info, sort_keys=True)
    with atomic_path(path, suffix=suffix) as tmp:
        if suffix == '.npz':
            out = {f'videos/{k}': v for k, v in arrays.items()}
            out['class_names'] = np.array(class_names, dtype=np.str_)
            out['text_features'] = text
            out['meta'] = np.array(meta_json, dtype=np.str_)
            with open(tmp, 'wb') as f:
                np.savez(f, **out)
        else:
            import h5py
            with h5py.File(tmp, 'w') as f:
                group = f.create_group('videos')
                for k, v in arrays.items():
                    group.create_dataset(k, data=v)
                f.create_dataset('class_names', data=np.array(
                    class_names, dtype=object), dtype=h5py.string_dtype())
                f.create_dataset('text_features', data=text)
                f.attrs['meta'] = meta_json


def read_feature_cache(path: str) -> Tuple[Dict[str, np.ndarray], List[str],
                                    np.ndarray, dict]:
    r"""Reads a few-shot feature cache written by
    :func:`write_feature_cache` (``.npz`` without pickles, or HDF5).

    Args:
        path (str): The cache file.

    Returns:
        ``(videos, class_names, text_features, meta)``: ``videos`` maps
        ``'class/video'`` to its ``[T, D]`` frame features (fp16 as stored).

    Raises:
        FileNotFoundError: if :obj:`path` does not exist.
        ValueError: for an unknown suffix, a missing entry, an unreadable
            file, or a file that is not a feature cache (naming the file).
    """
    suffix = _check_suffix(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f"Feature cache '{path}' does not exist")
    videos: Dict[str, np.ndarray] = {}
    try:
        if suffix == '.npz':
            with np.load(path, allow_pickle=False) as f:
                names = list(f.keys())
                for need in ('class_names', 'text_features', 'meta'):
                    if need not in names:
                        raise ValueError(f"Feature cache '{path}' has no "
                                         f"'{need}' entry")
                classes = [str(c) for c in f['class_names'].tolist()]
                text = f['text_features']
                meta = json.loads(str(f['meta']))
                for k in names:
                    if k.startswith('videos/'):
                        videos[k[len('videos/'):]] = f[k]
        else:
            import h5py
            with h5py.File(path, 'r') as f:
                for need in ('class_names', 'text_features', 'videos'):
                    if need not in f:
                        raise ValueError(f"Feature cache '{path}' has no "
                                         f"'{need}' entry")
                if 'meta' not in f.attrs:
                    raise ValueError(f"Feature cache '{path}' has no 'meta' "
                                     f"attribute")
                classes = [c.decode() if isinstance(c, bytes) else str(c)
                           for c in f['class_names'][()]]
                text = f['text_features'][()]
                meta = json.loads(f.attrs['meta'])

                def visit(name: str, obj) -> None:
                    if isinstance(obj, h5py.Dataset):
                        videos[name] = obj[()]
                f['videos'].visititems(visit)
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"Feature cache '{path}' cannot be read: {e}") \
            from None
    if meta.get('format') != CACHE_FORMAT:
        raise ValueError(f"'{path}' is not a few-shot feature cache (format "
                         f"{meta.get('format')!r})")
    if int(meta.get('version', -1)) > CACHE_VERSION:
        raise ValueError(f"Feature cache '{path}' has version "
                         f"{meta.get('version')}, newer than "
                         f"{CACHE_VERSION}")
    return videos, classes, np.asarray(text), meta


