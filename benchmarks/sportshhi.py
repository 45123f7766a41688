r"""Train and evaluate ProDA on SportsHHI person-person scene graphs.

    python benchmarks/sportshhi.py --root datasets/sportshhi [--quick]

Same pipeline and outputs as ``benchmarks/charades.py`` (stage 1, stage 2,
the bag-of-frames baseline, ``results.json`` and ``results.md`` in
``--out``), on :class:`~pyg_proda.datasets.SportsHHI` graphs built from the
user's annotation files (see ``datasets/README.md``). SportsHHI cannot be
downloaded here and has no embedded stand-in, so ``--root`` is required.
"""
import os
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import charades  # noqa: E402


def main(argv: Optional[List[str]] = None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--root' not in argv and not any(a.startswith('--root=')
                                        for a in argv):
        sys.exit('benchmarks/sportshhi.py needs --root DIR with the SportsHHI '
                 'annotation files under DIR/raw (see datasets/README.md)')
    if '--out' not in argv:
        argv += ['--out', 'results/sportshhi']
    return charades.main(argv + ['--dataset', 'sportshhi'])


if __name__ == '__main__':
    main()
