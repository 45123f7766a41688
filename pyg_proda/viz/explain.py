r"""``python -m pyg_proda explain``: figures that explain a trained ProDA
model on one video and one action specification.

    python -m pyg_proda explain --ckpt runs/.../best.ckpt --video 3 \
        --spec "taking a cup" --out figures/
    python -m pyg_proda explain --train-quick --video 3 --spec gt \
        --out figures/

``--spec`` takes class ids or names separated by commas; ``gt`` adds the
video's ground-truth classes. ``--train-quick`` first trains a tiny model
on SyntheticSSG (about a minute on two idle cores) and writes its
checkpoint to ``--quick-dir``.

It writes ``frame_weights.png`` (the specified branch's readout weights
against the ground-truth segments and the localisation threshold, paper
Fig. 3/8), ``subgraph.png`` (the parsed subgraph per frame with the VGPNN
gates as edge widths, Fig. 9) and ``tsne.png`` (t-SNE of the specified
branch's graph vectors of single-action specifications coloured by class,
with intra/inter-class distances, Fig. 4), and prints their paths.
"""
import argparse
import os
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from pyg_proda.data.homogeneous import SSGCollater
from pyg_proda.data.vocab import AG_OBJECT_CLASSES, AG_RELATION_CLASSES
from pyg_proda.metrics import normalize_frame_weights
from pyg_proda.viz.plots import (
    plot_frame_weights,
    plot_parsed_subgraph,
    plot_tsne,
)


def parse_spec(spec: str, class_names: Sequence[str],
               y: Optional[Tensor] = None) -> List[int]:
    r"""Parses a comma-separated list of class ids or class names; ``gt``
    stands for the ground-truth classes of the video (multi-hot :obj:`y`).

    Example:
        >>> parse_spec('1,taking a cup', ['taking a cup', 'putting a cup down'])
        [1, 0]
        >>> parse_spec('gt', ['a', 'b', 'c'], y=torch.tensor([0., 1., 1.]))
        [1, 2]

    Raises:
        ValueError: For an unknown name or an out-of-range id.
    """
    out = []
    lookup = {n.lower(): i for i, n in enumerate(class_names)}
    for part in (p.strip() for p in spec.split(',')):
        if not part:
            continue
        if part.lower() == 'gt':
            if y is None:
                raise ValueError("--spec: 'gt' needs the video's labels")
            out += [c for c in (y.view(-1) > 0).nonzero().view(-1).tolist()
                    if c not in out]
            continue
        if part.lstrip('-').isdigit():
            c = int(part)
            if not 0 <= c < len(class_names):
                raise ValueError(f"--spec: class id {c} out of range "
                                 f"[0, {len(class_names)})")
        elif part.lower() in lookup:
            c = lookup[part.lower()]
        else:
            raise ValueError(f"--spec: unknown class '{part}' (expected an id "
                             f"or one of {list(class_names)})")
        if c not in out:
            out.append(c)
    if not out:
        raise ValueError('--spec: no class given')
    return out


def class_names_of(dataset, num_classes: int) -> List[str]:
    r"""The dataset's action names, or ``c000``, ``c001``, ..."""
    names = getattr(dataset, 'action_names', None)
    if names is not None and len(names) == num_classes:
        return list(names)
    return [f'c{i:03d}' for i in range(num_classes)]


def _pick_frames(num_frames: int, valid: Tensor, max_frames: int) -> List[int]:
    frames = valid.nonzero().view(-1).tolist() or list(range(num_frames))
    if len(frames) <= max_frames:
        return frames
    # Evenly spaced over the valid frames.
    idx = torch.linspace(0, len(frames) - 1, max_frames).round().long()
    return [frames[i] for i in idx.tolist()]


@torch.no_grad()
def graph_features(module, dataset, num_videos: int,
                   batch_size: int = 64) -> Tuple[Tensor, Tensor]:
    r"""The specified branch's graph vectors :math:`g_s` of every plain
    single-action specification (one ground-truth class of a video) of the
    first :obj:`num_videos` videos of :obj:`dataset`.

    Returns:
        Features ``[M, H]`` and the specified class of every row ``[M]``.
    """
    model = module.model
    C = model.num_classes
    pairs = []
    for i in range(min(num_videos, len(dataset))):
        y = dataset[i].y.view(-1)
        pairs += [(i, int(c)) for c in (y > 0).nonzero().view(-1).tolist()]
    feats, labels = [], []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        view = SSGCollater()([dataset[i] for i, _ in chunk])
        view = view.to(module.device)
        cls = torch.tensor([c for _, c in chunk], device=module.device)
        sap = torch.zeros(len(chunk), C, device=module.device)
        sap[torch.arange(len(chunk)), cls] = 1.0
        out = model(view, sap, module._uap(sap))
        feats.append(out.g_s.cpu())
        labels.append(cls.cpu())
    return torch.cat(feats), torch.cat(labels)


@torch.no_grad()
def explain(module, dataset, video: int, spec: Sequence[int], out_dir: str,
            theta: float = 0.5, layer: int = -1,
            frames: Optional[Sequence[int]] = None, max_panels: int = 8,
            relation_labels: bool = False, tsne_videos: int = 200,
            perplexity: float = 30.0, seed: int = 0,
            dpi: int = 100) -> Dict[str, str]:
    r"""Renders the three explanation figures of :obj:`module` (a
    :class:`~pyg_proda.training.ProDAModule`) for video :obj:`video` of
    :obj:`dataset` prompted with the classes :obj:`spec`.

    Args:
        module (ProDAModule): The trained model.
        dataset (Dataset): A dataset of
            :class:`~pyg_proda.data.VideoSceneGraph` (with ``frame_labels``
            for the ground-truth segments).
        video (int): Index of the video in :obj:`dataset`.
        spec (Sequence[int]): Specified classes (the SAP); the UAP follows
            the model's ``uap`` setting.
        out_dir (str): Output directory (created).
        theta (float, optional): Localisation threshold. (default: :obj:`0.5`)
        layer (int, optional): VGPNN layer whose gates are drawn.
            (default: :obj:`-1`, the last)
        frames (Sequence[int], optional): Frames of the subgraph figure.
            (default: :obj:`None`, up to :obj:`max_panels` evenly spaced)
        max_panels (int, optional): Frames drawn when :obj:`frames` is not
            given. (default: :obj:`8`)
        relation_labels (bool, optional): Write relation names on the
            subgraph's edges. (default: :obj:`False`)
        tsne_videos (int, optional): Videos whose single-action
            specifications feed the t-SNE; :obj:`0` skips it.
            (default: :obj:`200`)
        perplexity (float, optional): t-SNE perplexity. (default: :obj:`30`)
        seed (int, optional): t-SNE seed. (default: :obj:`0`)
        dpi (int, optional): Resolution of the PNGs. (default: :obj:`100`)

    Returns:
        ``{'frame_weights': path, 'subgraph': path, 'tsne': path}`` (no
        ``'tsne'`` when skipped).

    Raises:
        IndexError: If :obj:`video` is out of range.
        ValueError: If :obj:`layer` or a frame is out of range.
    """
    if not -len(dataset) <= video < len(dataset):
        raise IndexError(f"--video {video} out of range for {dataset!r} "
                         f"({len(dataset)} videos)")
    os.makedirs(out_dir, exist_ok=True)
    model = module.model
    was_training = model.training
    model.eval()
    C = model.num_classes
    names = class_names_of(dataset, C)
    data = dataset[video]
    view = SSGCollater()([data]).to(module.device)
    sap = torch.zeros(1, C, device=module.device)
    sap[0, list(spec)] = 1.0
    out = model(view, sap, module._uap(sap))
    vid = getattr(data, 'video_id', f'video {video}')
    spec_names = [names[c] for c in spec]
    paths: Dict[str, str] = {}

    # 1. Frame weights of the specified branch against the ground truth.
    T = int(data.num_frames)
    w = out.frame_weights['s'][0, :T].cpu()
    mask = out.frame_mask[0, :T].cpu()
    if 'frame_labels' in data:
        gt = data.frame_labels[:T, list(spec)].cpu() > 0
    else:
        gt = torch.zeros(T, len(spec), dtype=torch.bool)
    paths['frame_weights'] = os.path.join(out_dir, 'frame_weights.png')
    plot_frame_weights(w, gt, spec_names, frame_mask=mask, theta=theta,
                       title=f'{vid}: SAP = {", ".join(spec_names)}',
                       path=paths['frame_weights'], dpi=dpi)

    # 2. Parsed subgraph: gates of one VGPNN layer of the SAP branch.
    num_layers = len(out.edge_gates)
    if not -num_layers <= layer < num_layers:
        raise ValueError(f"--layer {layer} out of range for a model with "
                         f"{num_layers} VGPNN layers")
    gates = out.edge_gates[layer].cpu()
    w_hat = normalize_frame_weights(w.view(1, -1), mask.view(1, -1))[0]
    if frames is None:
        frames = _pick_frames(T, mask, max_panels)
    for f in frames:
        if not 0 <= f < T:
            raise ValueError(f"--frames: frame {f} out of range [0, {T})")
    obj_names = list(getattr(dataset, 'object_names', AG_OBJECT_CLASSES))
    cls = view.cls.cpu()
    node_names = [obj_names[c] if c < len(obj_names) else f'o{c}'
                  for c in cls.tolist()]
    highlight = None
    if 'action_cls' in data and 'action_track' in data:
        # Objects of the specified actions (SyntheticSSG ground truth).
        tracks = data.action_track[torch.isin(
            data.action_cls, torch.tensor(list(spec)))]
        highlight = (view.node_type.cpu() == 1) & torch.isin(
            view.track.cpu(), tracks.cpu())
    edge_labels = None
    if relation_labels:
        attr = view.edge_attr.cpu()
        rel = list(getattr(dataset, 'relation_names', AG_RELATION_CLASSES))
        edge_labels = ['/'.join(rel[j] if j < len(rel) else f'r{j}'
                                for j in row.nonzero().view(-1).tolist())
                       for row in attr]
    layer_id = layer % num_layers
    paths['subgraph'] = os.path.join(out_dir, 'subgraph.png')
    plot_parsed_subgraph(
        view.edge_index.cpu(), gates, view.edge_frame.cpu(),
        view.frame.cpu(), node_names, view.node_type.cpu() == 0, frames,
        edge_labels=edge_labels, highlight=highlight,
        frame_scores=[float(w_hat[f]) for f in frames],
        title=(f'{vid}: SAP = {", ".join(spec_names)} '
               f'(gates of VGPNN layer {layer_id + 1}/{num_layers}; '
               f'outlined: objects of the specified actions)'),
        path=paths['subgraph'], dpi=dpi)

    # 3. t-SNE of g_s of single-action specifications.
    if tsne_videos > 0:
        feats, labels = graph_features(module, dataset, tsne_videos)
        if feats.size(0) >= 4:
            paths['tsne'] = os.path.join(out_dir, 'tsne.png')
            plot_tsne(feats, labels, names, perplexity=perplexity,
                      seed=seed, path=paths['tsne'], dpi=dpi,
                      title=(f'g_s of {feats.size(0)} single-action SAPs '
                             f'({min(tsne_videos, len(dataset))} videos)'))
        else:
            warnings.warn(f'explain: only {feats.size(0)} single-action '
                          f'specifications, t-SNE skipped')
    model.train(was_training)
    return paths


def train_quick(out_dir: str, root: str, epochs: int = 6,
                num_videos: int = 300, hidden_channels: int = 32,
                seed: int = 0, data_seed: int = 0,
                progress: bool = True) -> str:
    r"""Trains a tiny ProDA on :class:`~pyg_proda.datasets.SyntheticSSG`
    (generated under ``root/synthetic``) with the package's recipe
    (:func:`~pyg_proda.training.fit_two_stage`, stage 1 only) and returns
    the path of its best checkpoint (``out_dir/quick.ckpt``). The default
    settings take about a minute on two idle CPU cores."""
    import lightning as L

    from pyg_proda.models import ProDA
    from pyg_proda.training import (
        ProDAModule,
        SSGDataModule,
        fit_two_stage,
        make_trainer,
    )
    L.seed_everything(seed, verbose=False)
    dm = SSGDataModule('synthetic', root, batch_size=16, seed=seed,
                       dataset_kwargs=dict(seed=data_seed, num_videos=100,
                                           log=False),
                       train_kwargs=dict(num_videos=num_videos))
    model = ProDA(dm.in_channels, dm.num_classes, dm.edge_dim,
                  max_frames=dm.max_frames, hidden_channels=hidden_channels,
                  heads=2, num_layers=2, num_temporal_layers=1,
                  num_prompts=4)
    path = os.path.join(out_dir, 'quick.ckpt')
    fit_two_stage(ProDAModule(model, lr=3e-3, seed=seed), dm,
                  make_trainer(out_dir, epochs, progress=progress,
                               logger=False, accelerator='auto', devices=1),
                  copy_best_to=path)
    return path


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog='python -m pyg_proda explain',
        description='Frame-weight, parsed-subgraph and t-SNE figures of a '
        'trained ProDA model.')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--ckpt', help='ProDAModule checkpoint')
    src.add_argument('--train-quick', action='store_true',
                     help='train a tiny model on SyntheticSSG first '
                     '(about a minute) and explain it')
    p.add_argument('--dataset', default='synthetic',
                   choices=['synthetic', 'action_genome', 'sportshhi'])
    p.add_argument('--root', default='datasets', help='data root')
    p.add_argument('--split', default='test',
                   choices=['train', 'val', 'test'])
    p.add_argument('--num-videos', type=int, default=None,
                   help='SyntheticSSG videos of the split (default: the '
                   "dataset's)")
    p.add_argument('--video', type=int, required=True,
                   help='index of the video in the split')
    p.add_argument('--spec', required=True,
                   help='specified classes: ids or names, comma-separated; '
                   "'gt' adds the video's ground-truth classes")
    p.add_argument('--out', required=True, help='output directory')
    p.add_argument('--theta', type=float, default=0.5,
                   help='localisation threshold (default: 0.5)')
    p.add_argument('--layer', type=int, default=-1,
                   help='VGPNN layer of the drawn gates (default: -1, last)')
    p.add_argument('--frames', default=None,
                   help='comma-separated frames of the subgraph figure '
                   '(default: up to 8 evenly spaced)')
    p.add_argument('--relations', action='store_true',
                   help='write relation names on the subgraph edges')
    p.add_argument('--tsne-videos', type=int, default=200,
                   help='videos for the t-SNE (0 skips it; default: 200)')
    p.add_argument('--perplexity', type=float, default=30.0)
    p.add_argument('--dpi', type=int, default=100)
    p.add_argument('--seed', type=int, default=0,
                   help='seed of --train-quick and of the t-SNE')
    p.add_argument('--data-seed', type=int, default=0,
                   help='SyntheticSSG seed (default: 0)')
    p.add_argument('--device', default=None,
                   help='torch device (default: cuda if available, else cpu)')
    p.add_argument('--threads', type=int, default=None,
                   help="torch intra-op threads (default: torch's); 1 is "
                   'much faster on a loaded machine')
    p.add_argument('--quick-epochs', type=int, default=6,
                   help='epochs of --train-quick (default: 6)')
    p.add_argument('--quick-videos', type=int, default=300,
                   help='training videos of --train-quick (default: 300)')
    p.add_argument('--quick-hidden', type=int, default=32,
                   help='hidden size of --train-quick (default: 32)')
    p.add_argument('--quick-dir', default=os.path.join('runs', 'explain'),
                   help='where --train-quick writes quick.ckpt '
                   '(default: runs/explain)')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, str]:
    r"""Entry point of ``python -m pyg_proda explain``; returns the paths of
    the written figures."""
    args = parse_args(argv)
    warnings.filterwarnings('ignore', '.*does not have many workers.*')
    warnings.filterwarnings('ignore', '.*no .val_dataloader.*')
    from pyg_proda.training import ProDAModule, SSGDataModule
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.train_quick:
        if args.dataset != 'synthetic':
            raise SystemExit('--train-quick trains on SyntheticSSG; use '
                             '--dataset synthetic')
        t0 = time.time()
        ckpt = train_quick(args.quick_dir, args.root,
                           epochs=args.quick_epochs,
                           num_videos=args.quick_videos,
                           hidden_channels=args.quick_hidden, seed=args.seed,
                           data_seed=args.data_seed)
        print(f'Trained {ckpt} in {time.time() - t0:.0f}s', flush=True)
    else:
        ckpt = args.ckpt
    device = torch.device(args.device or
                          ('cuda' if torch.cuda.is_available() else 'cpu'))
    module = ProDAModule.load_from_checkpoint(ckpt, map_location=device,
                                              weights_only=True)
    kwargs = {}
    if args.dataset == 'synthetic':
        kwargs = dict(seed=args.data_seed, log=False)
        if args.num_videos is not None:
            kwargs['num_videos'] = args.num_videos
    dataset = SSGDataModule(args.dataset, args.root,
                            dataset_kwargs=kwargs).split(args.split)
    names = class_names_of(dataset, module.model.num_classes)
    if not -len(dataset) <= args.video < len(dataset):
        raise SystemExit(f'--video {args.video} out of range ({len(dataset)} '
                         f'videos in the {args.split} split)')
    spec = parse_spec(args.spec, names, y=dataset[args.video].y)
    frames = None
    if args.frames:
        frames = [int(f) for f in args.frames.split(',') if f.strip()]
    paths = explain(module, dataset, args.video, spec, args.out,
                    theta=args.theta, layer=args.layer, frames=frames,
                    relation_labels=args.relations,
                    tsne_videos=args.tsne_videos, perplexity=args.perplexity,
                    seed=args.seed, dpi=args.dpi)
    for key, path in paths.items():
        print(f'{key}: {path}')
    return paths
