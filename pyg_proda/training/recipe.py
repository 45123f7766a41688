r"""The training recipe of ProDA in one place: stage 1 end to end, then
stage 2 from the best stage-1 checkpoint (paper Sec. 4 and App. D), each
stage a :class:`~lightning.pytorch.Trainer` fit with its own checkpoints.
Used by ``benchmarks/charades.py``, ``benchmarks/ablations.py``,
``python -m pyg_proda explain --train-quick`` and ``python -m pyg_proda
fit``."""
import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

import lightning as L
import yaml

from pyg_proda.io.atomic import atomic_path
from pyg_proda.training.module import ProDAModule

#: The metric both stages select their checkpoint on.
MONITOR = 'val/a_t_map'


def make_trainer(root: str, epochs: int, monitor: Optional[str] = MONITOR,
                 progress: bool = True, val_every: int = 1,
                 filename: str = 'best', logger: bool = True,
                 **kwargs) -> L.Trainer:
    r"""A :class:`~lightning.pytorch.Trainer` with the recipe's settings:
    gradient clipping at 5 (the authors' value), a CSV log under
    :obj:`root`, and (with :obj:`monitor`) a checkpoint of the best epoch
    at ``root/checkpoints/<filename>.ckpt``.

    Args:
        root (str): Folder of the logs and checkpoints.
        epochs (int): Epochs.
        monitor (str, optional): Metric to select the checkpoint on
            (maximised); :obj:`None` saves none. (default: ``val/a_t_map``)
        progress (bool): Show the progress bar. (default: :obj:`True`)
        val_every (int): Validate every this many epochs.
            (default: :obj:`1`)
        filename (str): Checkpoint name. (default: :obj:`'best'`)
        logger (bool): Write the CSV log. (default: :obj:`True`)
        **kwargs (optional): Other :class:`~lightning.pytorch.Trainer`
            arguments (``accelerator``, ``devices``, ``strategy``, ...).
    """
    callbacks = []
    if monitor is not None:
        callbacks.append(L.pytorch.callbacks.ModelCheckpoint(
            dirpath=os.path.join(root, 'checkpoints'), monitor=monitor,
            mode='max', filename=filename))
    kwargs.setdefault('gradient_clip_val', 5.0)
    kwargs.setdefault('log_every_n_steps', 10)
    return L.Trainer(
        max_epochs=epochs, default_root_dir=root,
        logger=L.pytorch.loggers.CSVLogger(root, name='csv') if logger
        else False, callbacks=callbacks,
        enable_checkpointing=monitor is not None,
        enable_progress_bar=progress, enable_model_summary=False,
        num_sanity_val_steps=0, check_val_every_n_epoch=val_every, **kwargs)


@dataclass
class TwoStageResult:
    r"""What :func:`fit_two_stage` returns."""
    module: ProDAModule  # the final model (best epoch of the last stage)
    stage1_ckpt: str
    stage2_ckpt: Optional[str]
    stage1: ProDAModule  # the trained stage-1 module (its AD activity)
    timings_s: Dict[str, float] = field(default_factory=dict)

    @property
    def best_ckpt(self) -> str:
        r"""The checkpoint of :attr:`module`."""
        return self.stage2_ckpt or self.stage1_ckpt


def fit_two_stage(module: ProDAModule, datamodule: L.LightningDataModule,
                  stage1: L.Trainer,
                  stage2: Optional[Callable[[int], L.Trainer]] = None,
                  ckpt_path: Optional[str] = None,
                  copy_best_to: Optional[str] = None) -> TwoStageResult:
    r"""Runs the two-stage recipe.

    Stage 1 fits :obj:`module` with trainer :obj:`stage1`; its checkpoint
    callback selects the best epoch. With ``module.hparams.stage2_epochs >
    0``, stage 2 starts from that checkpoint
    (:meth:`ProDAModule.stage2_module`), fits for ``stage2_epochs`` with the
    trainer ``stage2(stage2_epochs)``, and the best stage-2 epoch is the
    result.

    Args:
        module (ProDAModule): A stage-1 module.
        datamodule (LightningDataModule): The data.
        stage1 (Trainer): Trainer of stage 1, with a
            :class:`~lightning.pytorch.callbacks.ModelCheckpoint`.
        stage2 (callable, optional): Builds the stage-2 trainer from its
            number of epochs. (default: :obj:`None`, stage 1 only)
        ckpt_path (str, optional): Resume stage 1 from this checkpoint.
        copy_best_to (str, optional): Also copy the final checkpoint
            there.

    Raises:
        ValueError: if a trainer has no checkpoint callback, or stage 1
            never validated (so no epoch could be selected).
    """
    import time
    timings: Dict[str, float] = {}
    t0 = time.time()
    _check(stage1)
    stage1.fit(module, datamodule, ckpt_path=ckpt_path, weights_only=True)
    best1 = stage1.checkpoint_callback.best_model_path
    if not best1:
        raise ValueError('Stage 1 saved no checkpoint: it never validated '
                         '(check check_val_every_n_epoch and max_epochs)')
    timings['stage1_s'] = time.time() - t0
    final, best2 = None, None
    epochs2 = int(module.hparams.stage2_epochs)
    if epochs2 > 0 and stage2 is not None:
        t0 = time.time()
        trainer2 = stage2(epochs2)
        _check(trainer2)
        trainer2.fit(module.stage2_module(best1), datamodule)
        best2 = trainer2.checkpoint_callback.best_model_path
        timings['stage2_s'] = time.time() - t0
    best = best2 or best1
    final = ProDAModule.load_from_checkpoint(best, weights_only=True)
    if copy_best_to is not None and stage1.is_global_zero:
        with atomic_path(copy_best_to) as tmp:
            shutil.copyfile(best, tmp)
    return TwoStageResult(final, best1, best2, module, timings)


def _check(trainer: L.Trainer) -> None:
    if trainer.checkpoint_callback is None:
        raise ValueError('fit_two_stage needs trainers with a ModelCheckpoint '
                         'callback (make_trainer(..., monitor=...))')


def default_root(trainer: L.Trainer) -> str:
    r"""Where :func:`fit_two_stage` copies the final checkpoint for the CLI:
    ``<default_root_dir>/best.ckpt``."""
    return os.path.join(trainer.default_root_dir, 'best.ckpt')


@dataclass
class Recipe:
    r"""The parts of a LightningCLI config file (``configs/*.yaml``) that
    scripts need to train outside the CLI."""
    model: Dict[str, Any]  # ProDA init_args
    module: Dict[str, Any]  # ProDAModule arguments
    trainer: Dict[str, Any]  # max_epochs, check_val_every_n_epoch, ...
    data: Dict[str, Any]  # SSGDataModule arguments
    seed: int = 0


def load_recipe(path: str) -> Recipe:
    r"""Reads the recipe of a ``configs/*.yaml`` file, the one place where
    the settings behind a reported number live (``benchmarks/charades.py``
    trains with them, and so does ``python -m pyg_proda fit --config``).

    Raises:
        ValueError: naming the file when it is not a config of
            :class:`~pyg_proda.training.ProDAModule` with an injected
            :class:`~pyg_proda.models.ProDA`.
    """
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    module = dict(cfg.get('model') or {})
    model = module.pop('model', None)
    if not isinstance(model, dict) or 'ProDA' not in str(
            model.get('class_path', '')):
        raise ValueError(f"'{path}': expected 'model: model: class_path: "
                         f"pyg_proda.models.ProDA' with its init_args")
    trainer = {k: v for k, v in (cfg.get('trainer') or {}).items()
               if k not in ('logger', 'callbacks', 'default_root_dir')}
    return Recipe(model=dict(model.get('init_args') or {}), module=module,
                  trainer=trainer, data=dict(cfg.get('data') or {}),
                  seed=int(cfg.get('seed_everything', 0) or 0))
