import builtins

import numpy as np
import pytest
import torch
from PIL import Image

from pyg_proda.fewshot import FrameFeatureDataset
from pyg_proda.fewshot.cache import (
    CLIP_SPM_TEMPLATES,
    cache_features,
    encode_class_names,
    list_frames,
    load_open_clip,
    main,
    sample_indices,
)


class TinyBackbone(torch.nn.Module):
    r"""A random tiny image/text model: images -> [mean intensity, random
    projection of pooled pixels], text -> hashed character counts."""
    def __init__(self, dim: int = 6):
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(3 * 4 * 4, dim - 1)
        self.text = torch.nn.Linear(26, dim)
        self.texts_seen = []

    def encode_image(self, images):
        pooled = torch.nn.functional.adaptive_avg_pool2d(images, 4)
        first = images[:, 0].mean((1, 2), keepdim=False)[:, None]
        return torch.cat([first, self.proj(pooled.flatten(1))], 1)

    def encode_text(self, texts):
        self.texts_seen.extend(texts)
        counts = torch.zeros(len(texts), 26)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if 'a' <= ch <= 'z':
                    counts[i, ord(ch) - 97] += 1
        return self.text(counts)


def frame_tree(root, videos, frames=12, size=(40, 30)):
    # Frame k of every video is a flat image of gray level 10 * k, so the
    # first feature of the tiny backbone reveals which frame was read.
    for key in videos:
        folder = root / key
        folder.mkdir(parents=True)
        for k in range(frames):
            Image.new('RGB', size, (10 * k, 0, 0)).save(
                folder / f'img_{k + 1}.jpg', quality=100)


def test_sample_indices_and_natural_order(tmp_path):
    assert sample_indices(8, 8) == list(range(8))
    assert sample_indices(12, 8) == [0, 2, 3, 5, 6, 8, 9, 11]
    with pytest.raises(ValueError):
        sample_indices(0, 8)
    for name in ('10.png', '2.png', '1.png', 'notes.txt'):
        (tmp_path / name).write_bytes(b'')
    assert [p.rsplit('/', 1)[1] for p in list_frames(str(tmp_path))] == [
        '1.png', '2.png', '10.png']


@pytest.mark.parametrize('suffix', ['.h5', '.npz'])
def test_cache_round_trip(tmp_path, suffix):
    keys = ['brush_hair/v0', 'brush_hair/v1', 'catch/v0']
    frame_tree(tmp_path / 'frames', keys)
    lst = tmp_path / 'train.txt'
    lst.write_text('\n'.join(keys) + '\n')
    backbone = TinyBackbone()
    out = str(tmp_path / f'train{suffix}')
    n, c = cache_features(str(tmp_path / 'frames'), str(lst), out, backbone,
                          num_frames=8, image_size=16, normalize=False,
                          batch_size=16, progress=False)
    assert (n, c) == (3, 2)
    ds = FrameFeatureDataset(out, split_list=str(lst))
    assert ds.video_ids == keys and ds.class_names == ['brush_hair', 'catch']
    assert ds.labels.tolist() == [0, 0, 1]
    assert ds.features.shape == (3, 8, 6)
    # The 8 evenly spaced frames of 12, in order: gray level 10 * index.
    levels = ds.features[0, :, 0].float() * 255 / 10
    np.testing.assert_allclose(levels.numpy(), sample_indices(12, 8),
                               atol=0.2)
    # Class text: the 16 templates, underscores read as spaces, averaged.
    assert len(backbone.texts_seen) == 16 * 2
    assert 'a photo of action brush hair' in backbone.texts_seen
    ref = encode_class_names(TinyBackbone(), ['brush hair', 'catch'])
    np.testing.assert_allclose(ds.text_features.numpy(),
                               ref.half().float().numpy())
    assert ds.meta['templates'] == len(CLIP_SPM_TEMPLATES)


def test_hyrsm_list_and_normalisation(tmp_path):
    frame_tree(tmp_path / 'frames', ['catch/Ball_0'], frames=8)
    lst = tmp_path / 'test_few_shot.txt'
    lst.write_text('test0//videos/catch/Ball_0.avi\n')
    out = str(tmp_path / 'test.npz')
    cache_features(str(tmp_path / 'frames'), str(lst), out, TinyBackbone(),
                   image_size=16, progress=False)
    ds = FrameFeatureDataset(out)
    # CLIP normalisation of the red channel: (10 k / 255 - mean) / std.
    k = torch.arange(8).float()
    expected = (10 * k / 255 - 0.48145466) / 0.26862954
    np.testing.assert_allclose(ds.features[0, :, 0].float().numpy(),
                               expected.numpy(), atol=0.02)


def test_bad_frames(tmp_path):
    frame_tree(tmp_path / 'frames', ['a/v0'])
    (tmp_path / 'frames' / 'a' / 'empty').mkdir()
    lst = tmp_path / 'l.txt'
    lst.write_text('a/v0\na/v1\n')
    with pytest.raises(ValueError, match=r"l.txt, line 2: no frame folder "
                       r"'.*a/v1' for video 'a/v1'"):
        cache_features(str(tmp_path / 'frames'), str(lst),
                       str(tmp_path / 'o.npz'), TinyBackbone(),
                       progress=False)
    lst.write_text('a/v0\na/empty\n')
    with pytest.raises(ValueError, match=r"line 2: frame folder .* has no "
                       r"images"):
        cache_features(str(tmp_path / 'frames'), str(lst),
                       str(tmp_path / 'o.npz'), TinyBackbone(),
                       progress=False)
    (tmp_path / 'frames' / 'a' / 'v0' / 'img_4.jpg').write_bytes(b'broken')
    lst.write_text('a/v0\n')
    with pytest.raises(ValueError, match=r"img_4.jpg' cannot be read"):
        cache_features(str(tmp_path / 'frames'), str(lst),
                       str(tmp_path / 'o.npz'), TinyBackbone(),
                       image_size=16, progress=False)
    assert not (tmp_path / 'o.npz').exists()


def test_open_clip_missing_or_no_weights(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_open_clip(name, *args, **kwargs):
        if name == 'open_clip':
            raise ImportError("No module named 'open_clip'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_open_clip)
    with pytest.raises(ImportError, match='pip install open_clip_torch'):
        load_open_clip('ViT-B-16', None)
    lst = tmp_path / 'l.txt'
    lst.write_text('a/v0\n')
    with pytest.raises(ImportError, match='pip install open_clip_torch'):
        main(['--frames', str(tmp_path), '--split-list', str(lst), '--out',
              str(tmp_path / 'o.h5')])
    monkeypatch.setattr(builtins, '__import__', real_import)
    try:
        import open_clip  # noqa: F401
    except ImportError:
        return
    with pytest.raises(FileNotFoundError, match='local weight file'):
        load_open_clip('ViT-B-16', None)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_open_clip('ViT-B-16', str(tmp_path / 'none.pt'))
