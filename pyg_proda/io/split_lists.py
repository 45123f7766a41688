r"""Few-shot split lists.

Two formats are read:

* ``'class/video'`` — one video per line as ``<class name>/<video id>``
  (TRX and CLIP-SPM lists, e.g. ``splits/kinetics_CMN/testlist03.txt``:
  ``stretching_arm/nfLjZfWpjVg``);
* ``'hyrsm'`` — the HyRSM / MoLo / CLIP-FSAR lists
  (``train_few_shot.txt``, ``test_few_shot.txt``): ``<split><k>//<path>``
  (e.g. ``train0//videos/brush_hair/April_09_..._0.avi``) or, for SSv2,
  ``<split><k>/<video id>`` (``train0/51958``), where ``k`` is the class
  index inside the split. The class name is ``class_names[k]`` when given,
  otherwise the folder above the video file in the path, otherwise
  ``<split><k>``; the video id is the file name without extension.

:func:`parse_split_list` returns one :class:`SplitEntry` per video, whose
:attr:`~SplitEntry.key` ``'<class>/<video>'`` names the video in a feature
cache. Blank lines are skipped; anything else that does not parse, and
duplicate videos, raise a :class:`ValueError` naming the file and line.
"""
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

#: Split-list formats understood by :func:`parse_split_list`.
FORMATS = ('auto', 'class/video', 'hyrsm')

_HYRSM = re.compile(r'^(?P<prefix>[A-Za-z_]+?)(?P<k>\d+)/(?P<rest>.+)$')


@dataclass(frozen=True)
class SplitEntry:
    r"""One video of a split list: its class name, video id and the line
    (1-based) it came from."""
    class_name: str
    video: str
    line: int

    @property
    def key(self) -> str:
        r"""``'<class>/<video>'``, the video's name in a feature cache."""
        return f'{self.class_name}/{self.video}'


def _detect(lines: List[str]) -> str:
    # HyRSM lines all start with <split><digits>/ and use one prefix.
    prefixes = set()
    for text in lines:
        m = _HYRSM.match(text)
        if m is None:
            return 'class/video'
        prefixes.add(m.group('prefix'))
    if len(prefixes) == 1 and prefixes <= {'train', 'val', 'test'}:
        return 'hyrsm'
    return 'class/video'


def parse_split_list(path: str, fmt: str = 'auto',
                     class_names: Optional[Sequence[str]] = None
                     ) -> List[SplitEntry]:
    r"""Reads a few-shot split list.

    Args:
        path (str): The list file.
        fmt (str, optional): ``'class/video'``, ``'hyrsm'`` or ``'auto'``
            (HyRSM when every line starts with one of
            ``train``/``val``/``test`` followed by a class index and
            ``/``). (default: :obj:`'auto'`)
        class_names (list of str, optional): Class names by index ``k`` of
            a HyRSM list. (default: :obj:`None`)

    Returns:
        list of :class:`SplitEntry`, in file order.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for an unknown format, a line that does not parse, a
            class index outside :obj:`class_names`, a duplicate video, or
            an empty list.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), 'test.txt')
        >>> _ = open(path, 'w').write('train3//videos/catch/ball_0.avi\n')
        >>> parse_split_list(path)[0].key
        'catch/ball_0'
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown split-list format '{fmt}' (expected one "
                         f"of {list(FORMATS)})")
    if not osp.isfile(path):
        raise FileNotFoundError(f"Split list '{path}' does not exist")
    with open(path, encoding='utf-8') as f:
        raw = [(i + 1, line.strip()) for i, line in enumerate(f)]
    raw = [(i, line) for i, line in raw if line]
    if not raw:
        raise ValueError(f"Split list '{path}' has no entries")
    if fmt == 'auto':
        fmt = _detect([line for _, line in raw])
    entries: List[SplitEntry] = []
    seen: Dict[str, int] = {}
    for lineno, text in raw:
        if fmt == 'class/video':
            cls, sep, video = text.partition('/')
            if not sep or not cls or not video:
                raise ValueError(f"{path}, line {lineno}: expected "
                                 f"'<class>/<video>', got {text!r}")
        else:
            m = _HYRSM.match(text)
            if m is None:
                raise ValueError(f"{path}, line {lineno}: expected "
                                 f"'<split><k>/<video>' or "
                                 f"'<split><k>//<path>', got {text!r}")
            k, rest = int(m.group('k')), m.group('rest').lstrip('/')
            parts = [p for p in rest.split('/') if p]
            if not parts:
                raise ValueError(f"{path}, line {lineno}: no video in "
                                 f"{text!r}")
            video = osp.splitext(parts[-1])[0] if len(parts) > 1 or \
                '.' in parts[-1] else parts[-1]
            if class_names is not None:
                if not 0 <= k < len(class_names):
                    raise ValueError(f"{path}, line {lineno}: class index "
                                     f"{k} outside the {len(class_names)} "
                                     f"class names given")
                cls = class_names[k]
            elif len(parts) > 1:
                cls = parts[-2]
            else:
                cls = f"{m.group('prefix')}{k}"
        entry = SplitEntry(cls, video, lineno)
        if entry.key in seen:
            raise ValueError(f"{path}, line {lineno}: video '{entry.key}' "
                             f"already listed on line {seen[entry.key]}")
        seen[entry.key] = lineno
        entries.append(entry)
    return entries


def split_classes(entries: Sequence[SplitEntry]) -> List[str]:
    r"""The class names of a split list in order of first appearance.

    Example:
        >>> split_classes([SplitEntry('b', 'x', 1), SplitEntry('a', 'y', 2),
        ...                SplitEntry('b', 'z', 3)])
        ['b', 'a']
    """
    out: Dict[str, None] = {}
    for e in entries:
        out.setdefault(e.class_name, None)
    return list(out)


__all__ = ['FORMATS', 'SplitEntry', 'parse_split_list', 'split_classes']
