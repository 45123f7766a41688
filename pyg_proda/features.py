r"""Per-box visual features for :class:`~pyg_proda.datasets.ActionGenome`.

Crops every person and object box of the Action Genome keyframes, runs a
vision backbone on the crops and writes one vector per box in the layout that
``ActionGenome(features=PATH)`` reads (see
:class:`~pyg_proda.io.FeatureFile`): the key
``'<ID>.mp4/<FRAME>.png/<entity>'`` with ``<entity>`` ``person`` or the
object's class name (``'<class>#k'`` for its ``k``-th repeat in the frame),
a float16 or float32 vector ``[D]``, in an HDF5 (``.h5``/``.hdf5``) or
``.npz`` file.

Any :class:`torch.nn.Module` mapping images ``[B, 3, S, S]`` to ``[B, D]``
(or ``[B, D, h, w]``, average-pooled) can be the backbone.
:func:`build_backbone` makes torchvision or open_clip models from a local
weight file; nothing is ever downloaded.

Command line::

    python -m pyg_proda.features --annotations datasets/action_genome/raw/annotations \
        --frames /data/ag/frames --out datasets/ag_resnet50.h5 \
        --backbone torchvision:resnet50 --weights /models/resnet50.pth
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from pyg_proda.io.action_genome import iter_annotated_boxes
from pyg_proda.io.features import FeatureWriter
from pyg_proda.io.pickle import load_pickle_dict

#: Normalisation constants of the supported backbone families.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class _VisualOnly(torch.nn.Module):
    # open_clip models embed images with `encode_image`.
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.encode_image(x)


def build_backbone(name: str, weights: Optional[str] = None,
                   random_init: bool = False) -> Tuple[torch.nn.Module,
                                                       Tuple, Tuple]:
    r"""Builds a feature backbone without downloading anything.

    Args:
        name (str): ``'torchvision:<arch>'`` (e.g. ``'torchvision:resnet50'``;
            the classifier is replaced by an identity) or
            ``'open_clip:<arch>'`` (e.g. ``'open_clip:ViT-B-16'``; the image
            encoder).
        weights (str, optional): Local weight file (a state dict saved with
            :func:`torch.save`). (default: :obj:`None`)
        random_init (bool): Allow random weights when :obj:`weights` is not
            given (for smoke tests only). (default: :obj:`False`)

    Returns:
        ``(model, mean, std)``: the module and its input normalisation.

    Raises:
        ImportError: if the backbone's package is not installed (install the
            ``[features]`` extra).
        FileNotFoundError: if no weight file is given (and not
            :obj:`random_init`) or it does not exist.
        ValueError: for an unknown name.
    """
    family, _, arch = name.partition(':')
    if family not in ('torchvision', 'open_clip') or not arch:
        raise ValueError(f"Backbone '{name}' must be 'torchvision:<arch>' or "
                         f"'open_clip:<arch>'")
    if weights is None and not random_init:
        raise FileNotFoundError(
            f"Backbone '{name}' needs a local weight file (--weights PATH): "
            f"weights are never downloaded. Use --random-init only for smoke "
            f"tests.")
    if weights is not None and not osp.isfile(weights):
        raise FileNotFoundError(f"Weight file '{weights}' does not exist")
    try:
        if family == 'torchvision':
            import torchvision
            if not hasattr(torchvision.models, arch):
                raise ValueError(f"torchvision has no model '{arch}'")
            model = getattr(torchvision.models, arch)(weights=None)
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        else:
            import open_clip
            model = open_clip.create_model(arch, pretrained=None)
            mean, std = CLIP_MEAN, CLIP_STD
    except ImportError as e:
        raise ImportError(
            f"Backbone '{name}' needs the '{family}' package, which cannot be "
            f"imported ({e}); install the extra: pip install "
            f"'pyg_proda[features]'") from None
    if weights is not None:
        state = torch.load(weights, map_location='cpu', weights_only=True)
        if isinstance(state, dict) and 'state_dict' in state:
            state = state['state_dict']
        model.load_state_dict(state)
    if family == 'torchvision':
        for head in ('fc', 'classifier', 'head', 'heads'):
            if hasattr(model, head):
                setattr(model, head, torch.nn.Identity())
                break
    else:
        model = _VisualOnly(model)
    return model.eval(), mean, std


def _crop(image, box: Tuple[float, ...], size: Tuple[float, float],
          image_size: int) -> np.ndarray:
    from PIL import Image
    # Boxes are in pixels of the dumped frame (`bbox_size`); rescale when the
    # image on disk has another resolution.
    sx, sy = image.width / size[0], image.height / size[1]
    x1, y1, x2, y2 = box
    x1, x2 = max(0.0, x1 * sx), min(float(image.width), x2 * sx)
    y1, y2 = max(0.0, y1 * sy), min(float(image.height), y2 * sy)
    if x2 - x1 < 1 or y2 - y1 < 1:  # degenerate box: use a 1-pixel crop
        x2, y2 = min(image.width, x1 + 1), min(image.height, y1 + 1)
        x1, y1 = x2 - 1, y2 - 1
    crop = image.crop((int(x1), int(y1), int(np.ceil(x2)), int(np.ceil(y2))))
    crop = crop.resize((image_size, image_size), Image.BILINEAR)
    return np.asarray(crop, dtype=np.float32) / 255.0  # [S, S, 3]


@torch.inference_mode()
def extract_features(
    annotations: str,
    frames: str,
    out: str,
    backbone: torch.nn.Module,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    image_size: int = 224,
    batch_size: int = 32,
    dtype: str = 'float16',
    include_invisible: bool = False,
    limit: Optional[int] = None,
) -> int:
    r"""Writes one feature vector per annotated box of Action Genome.

    Args:
        annotations (str): The folder with ``object_bbox_and_relationship.pkl``
            and ``person_bbox.pkl`` (pickles: only from your own data root).
        frames (str): The frame folder, holding ``<ID>.mp4/<FRAME>.png``.
        out (str): Output file, ``.h5``/``.hdf5`` or ``.npz``; written to a
            temporary file first and renamed when complete.
        backbone (torch.nn.Module): Maps ``[B, 3, S, S]`` to ``[B, D]`` or
            ``[B, D, h, w]`` (average-pooled); it runs on the device of its
            parameters.
        mean (sequence): Per-channel mean of the input normalisation.
        std (sequence): Per-channel standard deviation.
        image_size (int): Crop size ``S``. (default: :obj:`224`)
        batch_size (int): Crops per forward pass. (default: :obj:`32`)
        dtype (str): ``'float16'`` or ``'float32'``. (default: ``'float16'``)
        include_invisible (bool): Also write zero vectors for invisible
            objects (needed by ``ActionGenome(visible_only=False)``).
            (default: :obj:`False`)
        limit (int, optional): Only the first :obj:`limit` frame keys in
            sorted order. (default: :obj:`None`)

    Returns:
        int: The number of vectors written.

    Raises:
        FileNotFoundError: naming the first missing frame image.
        ValueError: for unreadable pickles or a backbone output that is not
            ``[B, D]``/``[B, D, h, w]``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3),
        ...                           torch.nn.AdaptiveAvgPool2d(1),
        ...                           torch.nn.Flatten())
        >>> extract_features('raw/annotations', 'frames', 'feats.npz',
        ...                  net)  # doctest: +SKIP
    """
    from PIL import Image

    objects = load_pickle_dict(osp.join(annotations,
                                        'object_bbox_and_relationship.pkl'))
    persons = load_pickle_dict(osp.join(annotations, 'person_bbox.pkl'))
    keys = sorted(k for k in objects if k in persons)[:limit]
    param = next(backbone.parameters(), None)
    device = param.device if param is not None else torch.device('cpu')
    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)
    backbone.eval()
    dim: List[int] = []
    pending: List[Tuple[str, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        batch = torch.from_numpy(np.stack([c for _, c in pending]))
        batch = batch.permute(0, 3, 1, 2).to(device)  # [B, 3, S, S]
        feats = backbone((batch - mean_t) / std_t)
        if feats.dim() == 4:
            feats = feats.mean(dim=(2, 3))
        if feats.dim() != 2 or feats.size(0) != batch.size(0):
            raise ValueError(f"The backbone must return [B, D] or [B, D, h, w], "
                             f"got {tuple(feats.shape)}")
        dim[:] = [feats.size(1)]
        for (key, _), vec in zip(pending, feats.float().cpu().numpy()):
            writer.write(key, vec)
        pending.clear()

    with FeatureWriter(out, dtype) as writer:
        current, image = None, None
        invisible: List[str] = []
        for key, name, box, size in iter_annotated_boxes(
                objects, persons, keys, include_invisible):
            if box is None:
                invisible.append(name)
                continue
            if key != current:
                path = osp.join(frames, key)
                if not osp.isfile(path):
                    raise FileNotFoundError(f"Frame image '{path}' (frame key "
                                            f"{key!r}) does not exist")
                with Image.open(path) as img:
                    image = img.convert('RGB')
                current = key
            pending.append((name, _crop(image, box, size, image_size)))
            if len(pending) >= batch_size:
                flush()
        flush()
        if invisible:
            if not dim:
                raise ValueError("No visible box to infer the feature size of "
                                 "the invisible objects' zero vectors")
            zero = np.zeros(dim[0], dtype=np.float32)
            for name in invisible:
                writer.write(name, zero)
    return writer.count


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m pyg_proda.features',
        description='Per-box visual features for ActionGenome(features=PATH).')
    parser.add_argument('--annotations', required=True,
                        help='Action Genome annotation folder (pickles)')
    parser.add_argument('--frames', required=True,
                        help='folder holding <ID>.mp4/<FRAME>.png')
    parser.add_argument('--out', required=True, help='.h5, .hdf5 or .npz')
    parser.add_argument('--backbone', default='torchvision:resnet50',
                        help="'torchvision:<arch>' or 'open_clip:<arch>'")
    parser.add_argument('--weights', help='local weight file (state dict)')
    parser.add_argument('--random-init', action='store_true',
                        help='allow random weights (smoke tests only)')
    parser.add_argument('--image-size', type=int, default=224)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--dtype', choices=('float16', 'float32'),
                        default='float16')
    parser.add_argument('--device', default=None,
                        help="torch device, e.g. 'cuda' (default: cpu)")
    parser.add_argument('--include-invisible', action='store_true')
    parser.add_argument('--limit', type=int, default=None)
    args = parser.parse_args(argv)
    try:
        model, mean, std = build_backbone(args.backbone, args.weights,
                                          args.random_init)
    except (ImportError, FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.device is not None:
        model = model.to(args.device)
    n = extract_features(args.annotations, args.frames, args.out, model, mean,
                         std, args.image_size, args.batch_size, args.dtype,
                         args.include_invisible, args.limit)
    print(f'Wrote {n} vectors to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
