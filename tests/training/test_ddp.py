import os

import lightning as L
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pyg_proda.models import PairBaseline, ProDA
from pyg_proda.nn import VGNorm
from pyg_proda.training import ProDAModule, SSGDataModule
from pyg_proda.training.pairs import PairBaselineModule

pytestmark = pytest.mark.skipif(not dist.is_available(),
                                reason='torch.distributed is not available')


def _test(module, dm, tmp_path, devices):
    trainer = L.Trainer(accelerator='cpu', devices=devices,
                        strategy='ddp_spawn' if devices > 1 else 'auto',
                        logger=False, enable_progress_bar=False,
                        enable_model_summary=False,
                        default_root_dir=str(tmp_path))
    out, = trainer.test(module, dm, verbose=False)
    return out


def test_evaluation_counts_every_video_once(tmp_path):
    # 9 test videos on 2 processes: the distributed sampler pads rank 1
    # with a repeated video, which must not enter the mAP.
    dm = SSGDataModule('synthetic', str(tmp_path / 'data'), batch_size=2,
                       dataset_kwargs=dict(num_videos=9, log=False))
    dm.prepare_data()
    torch.manual_seed(0)
    module = ProDAModule(ProDA(dm.in_channels, dm.num_classes, dm.edge_dim,
                               hidden_channels=16, heads=2, num_layers=1,
                               num_temporal_layers=1, dropout=0.0,
                               max_frames=dm.max_frames),
                         test_protocols=('label-free', 'paper'))
    one = _test(module, dm, tmp_path / 'one', 1)
    two = _test(module, dm, tmp_path / 'two', 2)
    for key in ('test/a_t_map', 'test/a_m_map',
                'test/a_t_paper_protocol_map'):
        assert abs(one[key] - two[key]) < 1e-4, (key, one[key], two[key])


def test_pair_evaluation_counts_every_video_once(tmp_path):
    # SportsHHI-shaped: the interaction mAP and Recall@K of 9 videos on 2
    # processes (one video repeated by the sampler) equal one process's.
    dm = SSGDataModule('synthetic_hhi', str(tmp_path / 'data'), batch_size=2,
                       dataset_kwargs=dict(num_videos=9, log=False))
    dm.prepare_data()
    torch.manual_seed(0)
    module = PairBaselineModule(PairBaseline(dm.in_channels, dm.num_classes,
                                             dm.edge_dim, hidden_channels=8,
                                             dropout=0.0),
                                recall_ks=(1, 20))
    one = _test(module, dm, tmp_path / 'one', 1)
    two = _test(module, dm, tmp_path / 'two', 2)
    assert 0 < one['test/pair_map'] < 100
    for key in ('test/pair_map', 'test/recall@1', 'test/recall@20'):
        assert abs(one[key] - two[key]) < 1e-4, (key, one[key], two[key])


def _vgnorm_rank(rank: int, world: int, path: str) -> None:
    dist.init_process_group('gloo', init_method=f'file://{path}/init',
                            rank=rank, world_size=world)
    torch.manual_seed(0)
    x, batch, frame, weight = _vgnorm_inputs()
    mine = batch % world == rank  # videos 0, 2 on rank 0; 1, 3 on rank 1
    norm = VGNorm(6, max_frames=4, sync=True).train()
    xl = x[mine].clone().requires_grad_()
    out = norm(xl, batch[mine] // world, frame[mine], batch_size=2)
    (out * weight[mine]).sum().backward()
    torch.save({'out': out.detach(), 'grad': xl.grad, 'mean':
                norm.running_mean}, os.path.join(path, f'rank{rank}.pt'))
    dist.destroy_process_group()


def _vgnorm_inputs():
    gen = torch.Generator().manual_seed(1)
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3])
    frame = torch.tensor([0, 1, 1, 0, 3, 0, 0, 2, 3, 1, 2])
    x = torch.randn(11, 6, generator=gen) * 3 + 1
    weight = torch.randn(11, 6, generator=gen)
    return x, batch, frame, weight


def test_synchronised_vgnorm_matches_one_process(tmp_path):
    mp.spawn(_vgnorm_rank, args=(2, str(tmp_path)), nprocs=2, join=True)
    x, batch, frame, weight = _vgnorm_inputs()
    norm = VGNorm(6, max_frames=4).train()
    x = x.clone().requires_grad_()
    out = norm(x, batch, frame, batch_size=4)
    (out * weight).sum().backward()
    for rank in (0, 1):
        got = torch.load(os.path.join(tmp_path, f'rank{rank}.pt'),
                         weights_only=True)
        mine = batch % 2 == rank
        torch.testing.assert_close(got['out'], out[mine].detach())
        torch.testing.assert_close(got['grad'], x.grad[mine])
        torch.testing.assert_close(got['mean'], norm.running_mean)
