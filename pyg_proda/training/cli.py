r"""``python -m pyg_proda fit|validate|test|predict --config ...``: the
LightningCLI entry point (``python -m pyg_proda pairs fit|test ...`` for the
SportsHHI pair task, :class:`~pyg_proda.training.pairs.PairProDAModule`).
``fit`` runs the two-stage recipe
(:func:`~pyg_proda.training.fit_two_stage`) when the model asks for stage-2
epochs, and copies the final checkpoint to ``<default_root_dir>/best.ckpt``
for ``test --ckpt_path``."""
import copy
from typing import Any, List, Optional

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from pyg_proda.training.data import SSGDataModule
from pyg_proda.training.module import ProDAModule
from pyg_proda.training.recipe import default_root, fit_two_stage


class ProDACLI(LightningCLI):
    r"""LightningCLI that reads the data shapes (classes, feature and
    relation sizes, frames) from the data module into the injected model
    (``model.model.init_args``), and whose ``fit`` runs both stages."""
    def add_arguments_to_parser(self, parser) -> None:
        for name in ('num_classes', 'in_channels', 'edge_dim', 'max_frames'):
            parser.link_arguments(f'data.{name}',
                                  f'model.model.init_args.{name}',
                                  apply_on='instantiate')

    def before_fit(self) -> None:
        # Unused copies of the configured callbacks and loggers, for the
        # stage-2 trainer.
        trainer = self._get(self.config_init, 'trainer', default={})
        self._stage2_parts = copy.deepcopy(
            (trainer.get('callbacks'), trainer.get('logger')))

    def _stage2_trainer(self, epochs: int):
        callbacks, logger = copy.deepcopy(self._stage2_parts)
        if callbacks is not None and not isinstance(callbacks, list):
            callbacks = [callbacks]
        for cb in callbacks or []:
            if isinstance(cb, ModelCheckpoint):
                cb.filename = 'stage2-' + (cb.filename or '{epoch}-{step}')
        return self.instantiate_trainer(max_epochs=epochs,
                                        callbacks=callbacks or [],
                                        logger=logger)

    def fit(self, model, datamodule=None, ckpt_path: Optional[str] = None,
            **kwargs: Any) -> None:
        if not (isinstance(model, ProDAModule) and model.hparams.stage == 1
                and model.hparams.stage2_epochs > 0):
            self.trainer.fit(model, datamodule, ckpt_path=ckpt_path, **kwargs)
            return
        best = default_root(self.trainer)
        result = fit_two_stage(model, datamodule, self.trainer,
                               self._stage2_trainer, ckpt_path=ckpt_path,
                               copy_best_to=best)
        if self.trainer.is_global_zero:
            print(f'Stage 1: {result.stage1_ckpt}\nStage 2: '
                  f'{result.stage2_ckpt}\nFinal checkpoint copied to {best}')


def run_cli(args: Optional[List[str]] = None,
            module: type = ProDAModule) -> ProDACLI:
    r"""Runs the CLI over :obj:`module` (:class:`ProDAModule`, or
    :class:`~pyg_proda.training.pairs.PairProDAModule` for ``pairs``)."""
    return ProDACLI(module, SSGDataModule, args=args,
                    save_config_kwargs={'overwrite': True})
