r"""``python -m pyg_proda fit|validate|test|predict --config ...``: the
LightningCLI entry point."""
from typing import List, Optional

from lightning.pytorch.cli import LightningCLI

from pyg_proda.training.data import SSGDataModule
from pyg_proda.training.module import ProDAModule


class ProDACLI(LightningCLI):
    r"""LightningCLI that reads the data shapes (classes, feature and
    relation sizes, frames) from the data module into the model."""
    def add_arguments_to_parser(self, parser) -> None:
        for name in ('num_classes', 'in_channels', 'edge_dim', 'max_frames'):
            parser.link_arguments(f'data.{name}', f'model.{name}',
                                  apply_on='instantiate')


def run_cli(args: Optional[List[str]] = None) -> ProDACLI:
    return ProDACLI(ProDAModule, SSGDataModule, args=args,
                    save_config_kwargs={'overwrite': True})
