r"""The evaluation suite of a trained ProDA model: video mAP of
:math:`a_t` and :math:`a_m`, the :math:`a_s` grid by number of labels,
localisation from the readout's frame weights and class distances of the
disentangled features."""
from typing import Dict, Optional

import torch
from torch import Tensor
from torch_geometric.data import Batch
from torch_geometric.utils import to_dense_batch
from tqdm.auto import tqdm

from pyg_proda.data.homogeneous import to_homogeneous
from pyg_proda.metrics import (
    charades_map,
    class_distances,
    localization_grid,
    spec_grid_map,
    summarize_spec_grid,
)


def dense_frame_labels(view, max_frames: int) -> Optional[Tensor]:
    r"""``frame_labels`` of a batch as ``[B, max_frames, C]`` (zeros past
    each video's last frame), or :obj:`None` when the data has none."""
    if 'frame_labels' not in view:
        return None
    B = view.num_frames.numel()
    frame_batch = torch.arange(B, device=view.y.device).repeat_interleave(
        view.num_frames)
    dense, _ = to_dense_batch(view.frame_labels, frame_batch, batch_size=B,
                              max_num_nodes=max_frames)
    return dense


@torch.no_grad()
def evaluate_proda(module, loader, seed: int = 0, grid: bool = True,
                   max_grid_videos: Optional[int] = None,
                   spec_batch_size: int = 128,
                   progress: bool = True) -> Dict[str, object]:
    r"""Runs the evaluation suite of a :class:`ProDAModule` on a loader.

    * ``a_t``/``a_m``: sigmoid scores per video (``a_t`` read with a
      ground-truth-free random prompt) and their Charades mAP;
    * with :obj:`grid=True`, every specification of
      :meth:`~pyg_proda.data.ActionSpecSampler.enumerate` (up to
      :obj:`max_grid_videos` videos): the :math:`a_s` grid, the
      localisation grid of single-action specifications (plain and
      distractor-injected) when the data has ``frame_labels``, and the class
      distances of the specified branch's graph vectors.

    Returns a dictionary of tensors and summaries (fractions, not percent).
    """
    model = module.model
    was_training = model.training
    model.eval()
    T = model.max_frames
    gen = torch.Generator().manual_seed(seed)
    scores: Dict[str, list] = {'a_t': [], 'a_m': []}
    labels = []
    rows: Dict[str, list] = {k: [] for k in (
        'a_s', 'y_s', 'num_labels', 'distractor', 'num_specified', 'weights',
        'mask', 'gt', 'cls', 'g_s')}
    seen = 0
    for batch_idx, batch in enumerate(tqdm(loader, desc='evaluate',
                                           disable=not progress)):
        batch = batch.to(module.device)
        view, out = module.eval_forward(batch, batch_idx)
        scores['a_t'].append(out.a_t.sigmoid().cpu())
        scores['a_m'].append(out.a_m.sigmoid().cpu())
        labels.append(view.y.cpu())
        if not grid or (max_grid_videos is not None
                        and seen >= max_grid_videos):
            continue
        seen += view.num_graphs
        spec = module.sampler.enumerate(view.y.cpu(), generator=gen)
        frame_labels = dense_frame_labels(view, T)
        for start in range(0, spec.video.numel(), spec_batch_size):
            idx = slice(start, start + spec_batch_size)
            videos = spec.video[idx]
            sub = Batch.from_data_list(
                [batch.get_example(int(v)) for v in videos])
            sub_view = to_homogeneous(sub)
            sap = spec.sap[idx].to(module.device)
            uap = spec.uap[idx].to(module.device)
            o = model(sub_view, sap, uap)
            rows['a_s'].append(o.a_s.sigmoid().cpu())
            rows['y_s'].append(spec.y_s[idx])
            rows['num_labels'].append(spec.num_labels[idx])
            rows['distractor'].append(spec.distractor[idx])
            rows['num_specified'].append(spec.num_specified[idx])
            rows['weights'].append(o.frame_weights['s'].cpu())
            rows['mask'].append(o.frame_mask.cpu())
            rows['g_s'].append(o.g_s.cpu())
            # The single specified ground-truth class (when i == 1).
            C = spec.sap.size(1)
            hit = spec.y_s[idx][:, :C] > 0
            rows['cls'].append(hit.float().argmax(dim=1))
            if frame_labels is not None:
                fl = frame_labels.cpu()[videos]  # [m, T, C]
                cls = rows['cls'][-1]
                rows['gt'].append(fl[torch.arange(len(videos)), :, cls] > 0)

    result: Dict[str, object] = {}
    y = torch.cat(labels)
    result['labels'] = y
    for k, v in scores.items():
        s = torch.cat(v)
        m, per_class = charades_map(s, y)
        result[f'{k}_scores'] = s
        result[f'{k}_map'] = float(m)
        result[f'{k}_ap'] = per_class
    if grid and rows['a_s']:
        r = {k: torch.cat(v) for k, v in rows.items() if v}
        g = spec_grid_map(r['a_s'], r['y_s'], r['num_labels'],
                          r['distractor'])
        result['a_s_grid'] = g
        result['a_s_summary'] = summarize_spec_grid(g)
        single = r['num_specified'] == 1
        if 'gt' in r:
            for kind, flag in (('plain', False), ('distractor', True)):
                sel = single & (r['distractor'] == flag)
                result[f'localization_{kind}'] = localization_grid(
                    r['weights'][sel], r['gt'][sel], r['cls'][sel],
                    y.size(1), frame_mask=r['mask'][sel])
        plain = single & ~r['distractor']
        if plain.sum() > 1:
            result['distances'] = class_distances(r['g_s'][plain],
                                                  r['cls'][plain])
            result['grid_features'] = (r['g_s'][plain], r['cls'][plain])
    model.train(was_training)
    return result
