import lightning as L
import pytest
import torch

from pyg_proda.data import select_videos
from pyg_proda.models import ProDA
from pyg_proda.training import ProDAModule, SSGDataModule

TINY = dict(hidden_channels=16, heads=2, num_layers=1, num_temporal_layers=1,
            num_prompts=2, dropout=0.0)


@pytest.fixture(scope='module')
def dm(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    dm = SSGDataModule('synthetic', str(root), batch_size=6,
                       dataset_kwargs=dict(num_videos=12, log=False))
    dm.prepare_data()
    return dm


def make(dm, **kwargs):
    model = ProDA(dm.in_channels, dm.num_classes, dm.edge_dim,
                  max_frames=dm.max_frames, **TINY)
    return ProDAModule(model, lr=1e-3, **kwargs)


def spy_forward(module, monkeypatch):
    calls = []
    real = module.model.forward

    def spy(view, sap, uap, video=None):
        calls.append((view, sap.clone(), video))
        return real(view, sap, uap, video)

    monkeypatch.setattr(module.model, 'forward', spy)
    return calls


def test_all_specifications_per_video(dm, monkeypatch):
    module = make(dm, specs_per_video='all')
    module.log = lambda *args, **kwargs: None
    calls = spy_forward(module, monkeypatch)
    view = next(iter(dm.train_dataloader()))
    loss = module.training_step(view, 0)
    assert torch.isfinite(loss)
    (_, sap, video), = calls
    L = (view.y > 0).sum(dim=1)
    # The paper's 2L + 1 specifications of every video, one row each, and
    # the encoder runs once on the B videos.
    assert torch.equal(torch.bincount(video, minlength=view.num_graphs),
                       2 * L + 1)
    assert sap.size(0) == int((2 * L + 1).sum())


def test_paper_protocol_rows_name_ground_truth(dm):
    module = make(dm).eval()
    view = next(iter(dm.test_dataloader()))
    with torch.no_grad():
        out, spec = module.paper_protocol_forward(view)
    L = (view.y > 0).sum(dim=1)
    assert torch.equal(torch.bincount(spec.video, minlength=view.num_graphs),
                       2 * L + 2)
    assert out.a_t.size(0) == spec.video.numel()
    # Every row but the distractor-only ones names ground-truth classes.
    names_gt = (spec.sap * view.y[spec.video]).sum(dim=1) > 0
    assert torch.equal(names_gt, spec.num_specified > 0)


def test_label_free_prompt_holds_no_label(dm):
    module = make(dm)
    view = next(iter(dm.test_dataloader()))
    sap = module.label_free_prompt(view)
    assert (sap.sum(dim=1) == 16).all()
    # Relabelled videos get the same prompts ...
    view2 = view.clone()
    view2.y = 1 - view2.y
    assert torch.equal(module.label_free_prompt(view2), sap)
    # ... and a video gets its prompt in any batch it lands in.
    sub, _ = select_videos(view, torch.tensor([3, 1]))
    assert torch.equal(module.label_free_prompt(sub), sap[[3, 1]])


def test_test_logs_both_protocols(dm, tmp_path):
    module = make(dm, test_protocols=('label-free', 'paper'))
    trainer = L.Trainer(accelerator='cpu', devices=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=str(tmp_path))
    out, = trainer.test(module, dm, verbose=False)
    for key in ('test/a_t_map', 'test/a_m_map',
                'test/a_t_paper_protocol_map'):
        assert 0 <= out[key] <= 100, key


def test_errors(dm):
    with pytest.raises(ValueError, match='specs_per_video'):
        make(dm, specs_per_video=3)
    with pytest.raises(ValueError, match='Unknown protocol'):
        make(dm, test_protocols=('oracle', ))
    with pytest.raises(ValueError, match='model_config'):
        ProDAModule()
