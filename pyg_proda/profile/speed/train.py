r"""End-to-end training throughput of ProDA."""
import time
from typing import Dict

import torch

from pyg_proda.profile import synchronize


def train_throughput(hidden: int, heads: int, batch_size: int, steps: int,
                     warmup: int, num_videos: int, device: torch.device,
                     root: str) -> Dict:
    r"""Videos per second of :class:`~pyg_proda.training.ProDAModule`
    training steps (forward, losses, backward, AdamW) on
    :class:`~pyg_proda.datasets.SyntheticSSG` (generated under
    :obj:`root`), timed with Lightning after :obj:`warmup` steps."""
    import lightning as L

    from pyg_proda.models import ProDA
    from pyg_proda.training import ProDAModule, SSGDataModule

    data = SSGDataModule('synthetic', root=root, batch_size=batch_size,
                         dataset_kwargs={'num_videos': num_videos,
                                         'log': False})
    module = ProDAModule(ProDA(data.in_channels, data.num_classes,
                               data.edge_dim, hidden_channels=hidden,
                               heads=heads, max_frames=data.max_frames))

    class Clock(L.Callback):
        def __init__(self):
            self.videos, self.start, self.end = 0, None, None

        def on_train_batch_start(self, trainer, pl_module, batch, idx):
            if trainer.global_step == warmup:
                synchronize(device)
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, out, batch, idx):
            if self.start is not None:
                self.videos += int(batch.num_graphs)
                synchronize(device)
                self.end = time.perf_counter()

    clock = Clock()
    trainer = L.Trainer(
        max_steps=warmup + steps, accelerator=device.type, devices=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=0, gradient_clip_val=5.0, callbacks=[clock],
        default_root_dir=root)
    trainer.fit(module, datamodule=data)
    elapsed = clock.end - clock.start
    return {'hidden': hidden, 'batch_size': batch_size, 'steps': steps,
            'videos_per_s': clock.videos / elapsed,
            's_per_step': elapsed / steps}
