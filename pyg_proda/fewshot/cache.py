r"""``python -m pyg_proda.fewshot.cache``: frame and class-text features of
a few-shot split with a CLIP model, written as a feature cache (see
:mod:`pyg_proda.fewshot.data`).

Frames are read from a frame-folder tree ``<frames>/<class>/<video>/``
(one image per frame, any of ``.jpg``/``.jpeg``/``.png``/``.bmp``, in
natural order of their names); the videos are those of a split list
(:func:`~pyg_proda.fewshot.parse_split_list`). Per video :obj:`num_frames`
frames are taken at the centres of equal segments (with 8 frames on disk,
as the CLIP-SPM data, all of them), resized (shorter side
``image_size · 256 / 224``), centre-cropped to ``image_size`` and
normalised with the CLIP mean and std (a frozen backbone needs the
normalisation it was trained with; the authors fine-tune on unnormalised
pixels, ``--no-normalize`` reproduces that). Class text features are the
authors' 16 templates per class name (underscores read as spaces), raw
text embeddings averaged.

Any object with ``encode_image(images [B, 3, S, S]) -> [B, D]`` and
``encode_text(list of str) -> [B, D]`` is a backbone
(:class:`OpenCLIPBackbone` wraps an open_clip model); open_clip is only
imported by :func:`load_open_clip`, and weights are never downloaded.

Command line::

    python -m pyg_proda.fewshot.cache --frames /data/k100/frames \
        --split-list splits/kinetics_CMN/testlist03.txt --out cache/test.h5 \
        --model ViT-B-16 --weights /models/ViT-B-16.pt
"""
import argparse
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from pyg_proda.fewshot.data import write_feature_cache
from pyg_proda.io.split_lists import parse_split_list, split_classes

#: CLIP's normalisation.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: The 16 class-name templates of CLIP-SPM's code.
CLIP_SPM_TEMPLATES = (
    'a photo of action {}', 'a picture of action {}', 'Human action of {}',
    '{}, an action', '{} this is an action', '{}, a video of action',
    'Playing action of {}', '{}', 'Playing a kind of action, {}',
    'Doing a kind of action, {}', 'Look, the human is {}',
    'Can you recognize the action of {}?', 'Video classification of {}',
    'A video of {}', 'The man is {}', 'The woman is {}')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


def sample_indices(num_available: int, num_frames: int) -> List[int]:
    r"""Frames at the centres of :obj:`num_frames` equal segments,
    :math:`\lfloor (i + \frac{1}{2}) n / T \rfloor` (repeats when fewer
    frames exist).

    Example:
        >>> sample_indices(16, 8), sample_indices(8, 8), sample_indices(3, 4)
        ([1, 3, 5, 7, 9, 11, 13, 15], [0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 1, 2])
    """
    if num_available < 1:
        raise ValueError("No frames to sample from")
    return [int((i + 0.5) * num_available / num_frames)
            for i in range(num_frames)]


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', name)]


def list_frames(folder: str) -> List[str]:
    r"""Image files of a frame folder in natural order (``2.jpg`` before
    ``10.jpg``)."""
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(IMAGE_SUFFIXES)]
    return [osp.join(folder, n) for n in sorted(names, key=_natural_key)]


def preprocess(path: str, image_size: int = 224,
               mean: Optional[Sequence[float]] = CLIP_MEAN,
               std: Optional[Sequence[float]] = CLIP_STD) -> Tensor:
    r"""Reads one frame: shorter side to ``image_size · 256 / 224``, centre
    crop ``image_size``, pixels in ``[0, 1]``, then normalised (unless
    :obj:`mean` is :obj:`None`). Returns ``[3, S, S]``.

    Raises:
        ValueError: naming the file if it cannot be read as an image.
    """
    from PIL import Image
    try:
        with Image.open(path) as im:
            im = im.convert('RGB')
            short = round(image_size * 256 / 224)
            w, h = im.size
            scale = short / min(w, h)
            im = im.resize((max(short, round(w * scale)),
                            max(short, round(h * scale))), Image.BICUBIC)
            w, h = im.size
            left, top = (w - image_size) // 2, (h - image_size) // 2
            im = im.crop((left, top, left + image_size, top + image_size))
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, ValueError) as e:
        raise ValueError(f"Frame '{path}' cannot be read as an image: "
                         f"{e}") from None
    x = torch.from_numpy(arr).permute(2, 0, 1)  # [3, S, S]
    if mean is not None:
        x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(
            std).view(3, 1, 1)
    return x


class OpenCLIPBackbone(torch.nn.Module):
    r"""An open_clip model as a cache backbone: :meth:`encode_image` and
    :meth:`encode_text` (tokenising with the model's tokenizer)."""
    def __init__(self, model: torch.nn.Module, tokenizer) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer

    def encode_image(self, images: Tensor) -> Tensor:
        return self.model.encode_image(images)

    def encode_text(self, texts: Sequence[str]) -> Tensor:
        device = next(self.model.parameters()).device
        return self.model.encode_text(self.tokenizer(list(texts)).to(device))


def load_open_clip(model_name: str, weights: Optional[str]
                   ) -> OpenCLIPBackbone:
    r"""An open_clip image/text model from a local weight file.

    Raises:
        ImportError: if open_clip is not installed (with the pip command).
        FileNotFoundError: if no weight file is given or it does not exist
            (nothing is downloaded).
    """
    try:
        import open_clip
    except ImportError as e:
        raise ImportError(
            f"The feature cache needs open_clip, which cannot be imported "
            f"({e}); install it with: pip install open_clip_torch") from None
    if weights is None:
        raise FileNotFoundError(
            f"open_clip model '{model_name}' needs a local weight file "
            f"(--weights PATH); weights are never downloaded")
    if not osp.isfile(weights):
        raise FileNotFoundError(f"Weight file '{weights}' does not exist")
    model = open_clip.create_model(model_name, pretrained=weights)
    return OpenCLIPBackbone(model.eval(), open_clip.get_tokenizer(model_name))


@torch.no_grad()
def encode_class_names(backbone, names: Sequence[str],
                       templates: Sequence[str] = CLIP_SPM_TEMPLATES
                       ) -> Tensor:
    r"""Class text features ``[C, D]``: every template filled with every
    name, raw embeddings averaged over the templates (the authors'
    recipe)."""
    feats = [backbone.encode_text([t.format(n) for n in names]).float()
             for t in templates]
    return torch.stack(feats).mean(0).cpu()


@torch.no_grad()
def cache_features(frames_root: str, split_list: str, out: str, backbone,
                   split_format: str = 'auto',
                   class_names: Optional[Sequence[str]] = None,
                   num_frames: int = 8, image_size: int = 224,
                   normalize: bool = True, batch_size: int = 64,
                   templates: Sequence[str] = CLIP_SPM_TEMPLATES,
                   device: Optional[str] = None, progress: bool = True,
                   meta: Optional[Dict] = None) -> Tuple[int, int]:
    r"""Writes the feature cache of one split.

    Args:
        frames_root (str): Root of the frame-folder tree.
        split_list (str): The split list.
        out (str): Output cache (``.h5``, ``.hdf5`` or ``.npz``).
        backbone: Has ``encode_image`` and ``encode_text``.
        split_format (str): See :func:`parse_split_list`.
        class_names (list of str, optional): Names by index of a HyRSM list.
        num_frames (int): Frames per video. (default: :obj:`8`)
        image_size (int): Crop size. (default: :obj:`224`)
        normalize (bool): CLIP normalisation. (default: :obj:`True`)
        batch_size (int): Images per forward pass. (default: :obj:`64`)
        templates (list of str): Text templates.
        device (str, optional): Device of the backbone's inputs.
            (default: the backbone's, else CPU)
        progress (bool): Show a progress bar. (default: :obj:`True`)
        meta (dict, optional): Extra metadata for the cache.

    Returns:
        ``(videos, classes)`` written.

    Raises:
        ValueError: naming the split list, line and folder for a missing or
            empty frame folder, or naming an unreadable frame.
    """
    from tqdm.auto import tqdm
    entries = parse_split_list(split_list, split_format, class_names)
    classes = split_classes(entries)
    if device is None:
        params = list(getattr(backbone, 'parameters', lambda: [])())
        device = params[0].device if params else torch.device('cpu')
    mean, std = (CLIP_MEAN, CLIP_STD) if normalize else (None, None)
    # Check every folder first: a missing one fails before any compute.
    frames: List[List[str]] = []
    for e in entries:
        folder = osp.join(frames_root, e.class_name, e.video)
        if not osp.isdir(folder):
            raise ValueError(f"{split_list}, line {e.line}: no frame folder "
                             f"'{folder}' for video '{e.key}'")
        files = list_frames(folder)
        if not files:
            raise ValueError(f"{split_list}, line {e.line}: frame folder "
                             f"'{folder}' has no images "
                             f"({'/'.join(IMAGE_SUFFIXES)})")
        frames.append([files[i] for i in sample_indices(len(files),
                                                        num_frames)])
    per_chunk = max(1, batch_size // num_frames)
    videos: Dict[str, np.ndarray] = {}
    for start in tqdm(range(0, len(entries), per_chunk), disable=not progress,
                      desc='videos', unit_scale=per_chunk):
        chunk = range(start, min(len(entries), start + per_chunk))
        images = torch.stack([preprocess(f, image_size, mean, std)
                              for i in chunk for f in frames[i]])
        feats = backbone.encode_image(images.to(device)).float().cpu()
        feats = feats.view(len(chunk), num_frames, -1)
        for j, i in enumerate(chunk):
            videos[entries[i].key] = feats[j].numpy()
    text = encode_class_names(backbone, [c.replace('_', ' ')
                                         for c in classes], templates)
    info = dict(meta or {})
    info.update(split_list=osp.abspath(split_list), image_size=image_size,
                normalize=normalize, templates=len(templates))
    write_feature_cache(out, videos, classes, text.numpy(), info)
    return len(videos), len(classes)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(
        prog='python -m pyg_proda.fewshot.cache',
        description='Frame and class-text features of a few-shot split '
                    'with an open_clip model, as a feature cache.')
    p.add_argument('--frames', required=True,
                   help='frame-folder tree <frames>/<class>/<video>/')
    p.add_argument('--split-list', required=True)
    p.add_argument('--out', required=True, help='.h5, .hdf5 or .npz')
    p.add_argument('--model', default='ViT-B-16',
                   help='open_clip architecture (default: ViT-B-16)')
    p.add_argument('--weights', default=None,
                   help='local open_clip weight file (required)')
    p.add_argument('--format', default='auto',
                   choices=['auto', 'class/video', 'hyrsm'])
    p.add_argument('--class-names', default=None,
                   help='file with one class name per line (index k of a '
                   'HyRSM list)')
    p.add_argument('--num-frames', type=int, default=8)
    p.add_argument('--image-size', type=int, default=224)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--no-normalize', action='store_true')
    p.add_argument('--device', default=None)
    args = p.parse_args(argv)
    names = None
    if args.class_names is not None:
        with open(args.class_names, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
    backbone = load_open_clip(args.model, args.weights)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    backbone = backbone.to(device)
    n, c = cache_features(args.frames, args.split_list, args.out, backbone,
                          args.format, names, args.num_frames,
                          args.image_size, not args.no_normalize,
                          args.batch_size, device=device,
                          meta={'backbone': f'open_clip:{args.model}'})
    print(f"Wrote {n} videos of {c} classes to {args.out}")


if __name__ == '__main__':
    main()
