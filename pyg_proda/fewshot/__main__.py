r"""Command line of :mod:`pyg_proda.fewshot`:

* ``python -m pyg_proda.fewshot {fit,validate,test} --config
  configs/fewshot.yaml`` — LightningCLI over :class:`FewShotModule` and a
  data module (:class:`FewShotDataModule` for feature caches and the
  embedded synthetic benchmark, :class:`~pyg_proda.fewshot.ssg.
  SSGFewShotDataModule` for scene graphs);
* ``python -m pyg_proda.fewshot cache ...`` — the feature cache
  (:mod:`pyg_proda.fewshot.cache`).
"""
import sys
from typing import List, Optional

from lightning.pytorch.cli import LightningCLI

from pyg_proda.fewshot.training import FewShotDataModule, FewShotModule


class FewShotCLI(LightningCLI):
    r"""LightningCLI that reads the feature size and frame count from the
    data module into the model."""
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments('data.channels', 'model.channels',
                              apply_on='instantiate')
        parser.link_arguments('data.num_frames', 'model.num_frames',
                              apply_on='instantiate')


def run_cli(args: Optional[List[str]] = None, **kwargs) -> FewShotCLI:
    r"""Runs the LightningCLI (``args`` as on the command line)."""
    kwargs.setdefault('save_config_kwargs', {'overwrite': True})
    return FewShotCLI(FewShotModule, FewShotDataModule,
                      subclass_mode_data=True, args=args, **kwargs)


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == 'cache':
        from pyg_proda.fewshot.cache import main as cache_main
        cache_main(argv[1:])
        return
    run_cli(argv)


if __name__ == '__main__':
    main()
