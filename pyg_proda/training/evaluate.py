r"""The evaluation suite of a trained ProDA model: video mAP of
:math:`a_t` under both protocols and under fixed prompts, :math:`a_m`, the
:math:`a_s` grid by number of labels, whether :math:`a_s` follows its
prompt, localisation from the readout's frame weights and class distances
of the disentangled features.

It reads the loader's :class:`~pyg_proda.data.SSGView` batches as they come
and runs the encoder once per video: the rows of one video under several
prompts share it (``model(view, sap, uap, video=...)``)."""
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch
from torchmetrics.functional.classification import binary_auroc
from tqdm.auto import tqdm

from pyg_proda.data.homogeneous import SSGView
from pyg_proda.metrics import (
    CharadesMAP,
    charades_map,
    class_distances,
    localization_grid,
    spec_grid_map,
    summarize_spec_grid,
)


def dense_frame_labels(view: SSGView, max_frames: int) -> Optional[Tensor]:
    r"""``frame_labels`` of a batch as ``[B, max_frames, C]`` (zeros past
    each video's last frame), or :obj:`None` when the data has none."""
    if 'frame_labels' not in view:
        return None
    B = view.num_graphs
    frame_batch = torch.arange(B, device=view.y.device).repeat_interleave(
        view.num_frames)
    dense, _ = to_dense_batch(view.frame_labels, frame_batch, batch_size=B,
                              max_num_nodes=max_frames)
    return dense


def prompt_following(scores_true: Tensor, scores_wrong: Tensor
                     ) -> Dict[str, float]:
    r"""Whether :math:`\mathbf{a}_s` follows its prompt: for every pair of a
    video and one of its ground-truth classes :math:`c`, the score
    :math:`\sigma(a_s[c])` under the **true** SAP :math:`\{c\}` and under a
    **wrong** SAP :math:`\{d\}` of one absent class. A branch that reads the
    prompt scores :math:`c` high only when :math:`c` is specified; one
    that reads only the video scores it the same either way.

    Returns:
        ``mean_true``, ``mean_wrong`` (mean scores) and ``auroc`` (how well
        the score tells the true from the wrong prompt: 0.5 = blind to the
        prompt, 1 = always higher under the true one).

    Example:
        >>> prompt_following(torch.tensor([.9, .8]), torch.tensor([.1, .85]))
        {'mean_true': 0.85, 'mean_wrong': 0.475, 'auroc': 0.75}
    """
    scores = torch.cat([scores_true, scores_wrong]).float()
    target = torch.cat([torch.ones_like(scores_true),
                        torch.zeros_like(scores_wrong)]).long()
    return {'mean_true': round(float(scores_true.float().mean()), 6),
            'mean_wrong': round(float(scores_wrong.float().mean()), 6),
            'auroc': round(float(binary_auroc(scores, target)), 6)}


@torch.no_grad()
def evaluate_proda(module, loader, seed: int = 0, grid: bool = True,
                   protocols: Sequence[str] = ('label-free', ),
                   max_grid_videos: Optional[int] = None,
                   progress: bool = True) -> Dict[str, object]:
    r"""Runs the evaluation suite of a
    :class:`~pyg_proda.training.ProDAModule` on a loader of
    :class:`~pyg_proda.data.SSGView` batches.

    * ``a_t_map``, ``a_m_map``: video mAP, :math:`a_t` read under the
      label-free protocol (:meth:`ProDAModule.label_free_prompt`);
    * ``a_t_map_paper_protocol`` (with ``'paper'`` in :obj:`protocols`):
      :math:`a_t` over the authors' :math:`2L + 2` ground-truth-based
      prompts per video, one row each;
    * ``a_t_map_prompt``: :math:`a_t` under fixed label-free prompts,
      ``'none'`` (empty SAP, so the UAP names every class) and ``'all'``
      (every class specified), to show how much it depends on the prompt;
    * with :obj:`grid=True`, every specification of
      :meth:`~pyg_proda.data.ActionSpecSampler.enumerate` (up to
      :obj:`max_grid_videos` videos): the :math:`a_s` grid and its summary,
      :func:`prompt_following` (``a_s_prompt``), the localisation grid of
      single-action specifications (plain and distractor-injected) when
      the data has ``frame_labels``, and the class distances of the
      specified branch's graph vectors.

    Returns a dictionary of tensors and summaries (fractions, not percent).
    """
    model = module.model
    was_training = model.training
    model.eval()
    T, C = model.max_frames, model.num_classes
    gen = torch.Generator().manual_seed(seed)
    metrics = {k: CharadesMAP() for k in ('a_t', 'a_m', 'a_t_none',
                                          'a_t_all')}
    paper = CharadesMAP() if 'paper' in protocols else None
    scores_t: List[Tensor] = []
    labels: List[Tensor] = []
    rows: Dict[str, List[Tensor]] = {k: [] for k in (
        'a_s', 'y_s', 'num_labels', 'distractor', 'num_specified', 'weights',
        'mask', 'gt', 'cls', 'g_s', 'true', 'wrong')}
    seen = 0
    for batch_idx, view in enumerate(tqdm(loader, desc='evaluate',
                                          disable=not progress)):
        view = view.to(module.device)
        B = view.num_graphs
        y = view.y.cpu()
        out = module.eval_forward(view)
        metrics['a_t'].update(out.a_t.sigmoid().cpu(), y)
        metrics['a_m'].update(out.a_m.sigmoid().cpu(), y)
        scores_t.append(out.a_t.sigmoid().cpu())
        labels.append(y)
        for name, fill in (('a_t_none', 0.0), ('a_t_all', 1.0)):
            sap = torch.full((B, C), fill, device=module.device)
            o = model(view, sap, module._uap(sap))
            metrics[name].update(o.a_t.sigmoid().cpu(), y)
        if paper is not None:
            o, _ = module.paper_protocol_forward(view)
            paper.update(o.a_t.sigmoid().cpu(), o.view.y.cpu())
        if not grid or (max_grid_videos is not None
                        and seen >= max_grid_videos):
            continue
        seen += B
        spec = module.sampler.enumerate(y, generator=gen)
        # One wrong SAP per video (a single absent class), row v = video v.
        wrong = module.sampler.enumerate(y, ('one_distractor', ),
                                         generator=gen)
        M = spec.video.numel()
        sap = torch.cat([spec.sap, wrong.sap]).to(module.device)
        o = model(view, sap, module._uap(sap), video=torch.cat(
            [spec.video, wrong.video]).to(module.device))
        a_s = o.a_s.sigmoid().cpu()
        for key, value in (('a_s', a_s[:M]), ('y_s', spec.y_s),
                           ('num_labels', spec.num_labels),
                           ('distractor', spec.distractor),
                           ('num_specified', spec.num_specified),
                           ('weights', o.frame_weights['s'][:M].cpu()),
                           ('mask', o.frame_mask[:M].cpu()),
                           ('g_s', o.g_s[:M].cpu())):
            rows[key].append(value)
        # The single specified ground-truth class of a row (when i == 1).
        cls = (spec.y_s[:, :C] > 0).float().argmax(dim=1)
        rows['cls'].append(cls)
        frame_labels = dense_frame_labels(view, T)
        if frame_labels is not None:
            fl = frame_labels.cpu()[spec.video]  # [M, T, C]
            rows['gt'].append(fl[torch.arange(M), :, cls] > 0)
        # a_s[c] for every ground-truth class c of a video: under SAP {c}
        # (plain, i = 1) and under the video's wrong SAP.
        true_rows = (~spec.distractor) & (spec.num_specified == 1)
        c = cls[true_rows]
        rows['true'].append(a_s[:M][true_rows, c])
        rows['wrong'].append(a_s[M:][spec.video[true_rows], c])

    result: Dict[str, object] = {}
    y = torch.cat(labels)
    result['labels'] = y
    result['a_t_scores'] = torch.cat(scores_t)
    result['a_t_ap'] = charades_map(result['a_t_scores'], y)[1]
    for k in ('a_t', 'a_m'):
        result[f'{k}_map'] = float(metrics[k].compute())
    result['a_t_map_prompt'] = {
        'none': float(metrics['a_t_none'].compute()),
        'all': float(metrics['a_t_all'].compute())}
    if paper is not None:
        result['a_t_map_paper_protocol'] = float(paper.compute())
    if grid and rows['a_s']:
        r = {k: torch.cat(v) for k, v in rows.items() if v}
        g = spec_grid_map(r['a_s'], r['y_s'], r['num_labels'],
                          r['distractor'])
        result['a_s_grid'] = g
        result['a_s_summary'] = summarize_spec_grid(g)
        result['a_s_prompt'] = prompt_following(r['true'], r['wrong'])
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
