r"""Command line: ``python -m pyg_proda {fit,validate,test,predict} --config
configs/synthetic.yaml`` (LightningCLI; ``python -m pyg_proda pairs fit
--config configs/sportshhi.yaml`` for SportsHHI's pair task), ``python -m
pyg_proda explain`` (figures) and ``python -m pyg_proda fewshot ...``
(few-shot recognition, :mod:`pyg_proda.fewshot`)."""
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == 'explain':
        from pyg_proda.viz.explain import main as explain_main
        explain_main(argv[1:])
        return
    if argv and argv[0] == 'fewshot':
        from pyg_proda.fewshot.__main__ import main as fewshot_main
        fewshot_main(argv[1:])
        return
    from pyg_proda.training.cli import run_cli
    if argv and argv[0] == 'pairs':
        from pyg_proda.training.pairs import PairProDAModule
        run_cli(argv[1:], PairProDAModule)
        return
    run_cli(argv)


if __name__ == '__main__':
    main()
