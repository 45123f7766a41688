r"""Speed and memory of the sparse :class:`~pyg_proda.nn.VGPNNConv` against
the dense padded layout of the authors; the code is
:mod:`pyg_proda.profile.speed`, the methodology and the results are in
``docs/speed.md``.

    python benchmarks/speed.py                      # full run (CPU: ~20 min)
    python benchmarks/speed.py --quick              # under a minute
    python benchmarks/speed.py --workloads sweep --sweep-hidden 16
    python benchmarks/speed.py --workloads sweep --sweep-hidden 256 \
        --sweep-max 3e4                             # at the targets' width
    python benchmarks/speed.py --json results/speed.json --device cuda
    python benchmarks/speed.py --from-json results/speed.json --plot sweep.png
"""
from pyg_proda.profile.speed import main

if __name__ == '__main__':
    main()
