import json

import numpy as np
import pytest
import torch

from pyg_proda.fewshot import (
    FrameFeatureDataset,
    find_cache,
    parse_split_list,
    write_feature_cache,
)
from pyg_proda.io.split_lists import split_classes


def videos(rng, classes=('a', 'b'), per_class=3, T=8, D=4):
    return {f'{c}/v{i}': rng.standard_normal((T, D)) for c in classes
            for i in range(per_class)}


@pytest.mark.parametrize('suffix', ['.h5', '.npz'])
def test_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    vids = videos(rng)
    text = rng.standard_normal((2, 4))
    path = str(tmp_path / f'train{suffix}')
    write_feature_cache(path, vids, ['a', 'b'], text, meta={'backbone': 'x'})
    ds = FrameFeatureDataset(path)
    assert len(ds) == 6 and ds.num_frames == 8 and ds.dim == 4
    assert ds.class_names == ['a', 'b']
    assert ds.meta['backbone'] == 'x' and ds.meta['num_frames'] == 8
    assert ds.features.dtype == torch.float16
    for i, key in enumerate(ds.video_ids):
        item = ds[i]
        assert item['video_id'] == key
        assert item['y'] == ['a', 'b'].index(key.split('/')[0])
        np.testing.assert_allclose(item['x'].numpy(),
                                   vids[key].astype(np.float16), rtol=0)
    np.testing.assert_allclose(ds.text_features.numpy(),
                               text.astype(np.float16))
    assert find_cache(str(tmp_path), 'train') == path
    # Written atomically: no temporary file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'train{suffix}']


def test_split_list_restricts_and_orders(tmp_path):
    rng = np.random.default_rng(1)
    path = str(tmp_path / 'val.npz')
    write_feature_cache(path, videos(rng, ('a', 'b', 'c')), ['a', 'b', 'c'],
                        rng.standard_normal((3, 4)))
    lst = tmp_path / 'val.txt'
    lst.write_text('c/v1\nc/v0\n\na/v2\n')
    ds = FrameFeatureDataset(path, split_list=str(lst))
    assert ds.video_ids == ['c/v1', 'c/v0', 'a/v2']
    assert ds.class_names == ['c', 'a'] and ds.labels.tolist() == [0, 0, 1]
    full = FrameFeatureDataset(path)
    np.testing.assert_array_equal(
        ds.text_features.numpy(), full.text_features[[2, 0]].numpy())


def test_missing_split_entry_names_list_line_and_cache(tmp_path):
    rng = np.random.default_rng(2)
    path = str(tmp_path / 'test.h5')
    write_feature_cache(path, videos(rng), ['a', 'b'],
                        rng.standard_normal((2, 4)))
    lst = tmp_path / 'test.txt'
    lst.write_text('a/v0\nb/v9\n')
    with pytest.raises(ValueError, match=r"test.txt, line 2: video 'b/v9' "
                       r"has no features in '.*test.h5'"):
        FrameFeatureDataset(path, split_list=str(lst))


def test_frame_count_and_dim_disagreements(tmp_path):
    rng = np.random.default_rng(3)
    vids = videos(rng)
    vids['b/v1'] = rng.standard_normal((7, 4))
    with pytest.raises(ValueError, match=r"video 'b/v1' has features of "
                       r"shape \(7, 4\)"):
        write_feature_cache(str(tmp_path / 'x.npz'), vids, ['a', 'b'],
                            rng.standard_normal((2, 4)))
    with pytest.raises(ValueError, match='text features have size 5'):
        write_feature_cache(str(tmp_path / 'x.npz'), videos(rng), ['a', 'b'],
                            rng.standard_normal((2, 5)))
    # A cache written by another tool with a short video: the reader names
    # the file and the record.
    good = videos(rng)
    arrays = {f'videos/{k}': v.astype(np.float16) for k, v in good.items()}
    arrays['videos/a/v1'] = rng.standard_normal((6, 4)).astype(np.float16)
    arrays['class_names'] = np.array(['a', 'b'])
    arrays['text_features'] = rng.standard_normal((2, 4)).astype(np.float16)
    arrays['meta'] = np.array(json.dumps(
        {'format': 'pyg_proda.fewshot.frame_features', 'version': 1,
         'num_frames': 8, 'dim': 4}))
    bad = str(tmp_path / 'bad.npz')
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=r"video 'a/v1' in '.*bad.npz' has "
                       r"features of shape \(6, 4\), expected \(8, 4\)"):
        FrameFeatureDataset(bad)
    with pytest.raises(ValueError, match=r"expected \(16, 4\)"):
        FrameFeatureDataset(str(tmp_path / 'bad.npz'), num_frames=16)


def test_bad_files(tmp_path):
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match='must end in .h5, .hdf5 or .npz'):
        write_feature_cache(str(tmp_path / 'x.pt'), videos(rng), ['a', 'b'],
                            rng.standard_normal((2, 4)))
    with pytest.raises(ValueError, match="class 'c', which is not among"):
        write_feature_cache(str(tmp_path / 'x.npz'), videos(rng, ('a', 'c')),
                            ['a', 'b'], rng.standard_normal((2, 4)))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        FrameFeatureDataset(str(tmp_path / 'missing.h5'))
    other = str(tmp_path / 'other.npz')
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="has no 'class_names' entry"):
        FrameFeatureDataset(other)
    with pytest.raises(FileNotFoundError, match="split 'val'"):
        find_cache(str(tmp_path), 'val')
    # A split list naming a class the cache has no text for.
    path = str(tmp_path / 'c.npz')
    write_feature_cache(path, videos(rng), ['a', 'b'],
                        rng.standard_normal((2, 4)))
    lst = tmp_path / 'l.txt'
    lst.write_text('a/v0\nz/v0\n')
    with pytest.raises(ValueError, match="video 'z/v0' has no features"):
        FrameFeatureDataset(path, split_list=str(lst))


def test_from_tensors_checks():
    with pytest.raises(ValueError, match='disagree'):
        FrameFeatureDataset.from_tensors(torch.zeros(3, 8, 4),
                                         torch.zeros(2, dtype=torch.long),
                                         ['a/0', 'a/1'], ['a'],
                                         torch.zeros(1, 4))
    with pytest.raises(ValueError, match='labels outside'):
        FrameFeatureDataset.from_tensors(torch.zeros(1, 8, 4),
                                         torch.tensor([3]), ['a/0'], ['a'],
                                         torch.zeros(1, 4))


def test_split_list_formats(tmp_path):
    trx = tmp_path / 'testlist03.txt'
    trx.write_text('stretching_arm/nfLjZfWpjVg\nhula_hooping/UbTEppjPHyo\n'
                   'stretching_arm/O6v_NghD88o\n')
    e = parse_split_list(str(trx))
    assert [x.key for x in e] == ['stretching_arm/nfLjZfWpjVg',
                                  'hula_hooping/UbTEppjPHyo',
                                  'stretching_arm/O6v_NghD88o']
    assert [x.line for x in e] == [1, 2, 3]
    assert split_classes(e) == ['stretching_arm', 'hula_hooping']
    # HyRSM / MoLo / CLIP-FSAR: <split><k>//<path>, class from the folder.
    hy = tmp_path / 'train_few_shot.txt'
    hy.write_text('train0//videos/brush_hair/April_09_brush_hair_0.avi\n'
                  'train1//train_256/catch/Ball_x_000001_000011.mp4\n')
    assert [x.key for x in parse_split_list(str(hy))] == [
        'brush_hair/April_09_brush_hair_0', 'catch/Ball_x_000001_000011']
    # SSv2 form <split><k>/<id>, names from a list or <split><k>.
    ss = tmp_path / 'ssv2.txt'
    ss.write_text('train0/51958\ntrain1/84891\n')
    assert [x.key for x in parse_split_list(str(ss))] == ['train0/51958',
                                                          'train1/84891']
    named = parse_split_list(str(ss), class_names=['pouring', 'tearing'])
    assert [x.key for x in named] == ['pouring/51958', 'tearing/84891']
    # A TRX list whose class names look like a split prefix stays TRX when
    # asked.
    assert parse_split_list(str(ss), fmt='class/video')[0].key == \
        'train0/51958'


def test_split_list_errors(tmp_path):
    bad = tmp_path / 'bad.txt'
    bad.write_text('a/v0\nnoslash\n')
    with pytest.raises(ValueError, match=r"bad.txt, line 2: expected "
                       r"'<class>/<video>', got 'noslash'"):
        parse_split_list(str(bad))
    dup = tmp_path / 'dup.txt'
    dup.write_text('a/v0\nb/v1\na/v0\n')
    with pytest.raises(ValueError, match=r"dup.txt, line 3: video 'a/v0' "
                       r"already listed on line 1"):
        parse_split_list(str(dup))
    ss = tmp_path / 'ss.txt'
    ss.write_text('test0/1\ntest5/2\n')
    with pytest.raises(ValueError, match=r"line 2: class index 5 outside"):
        parse_split_list(str(ss), class_names=['x', 'y'])
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n\n')
    with pytest.raises(ValueError, match='has no entries'):
        parse_split_list(str(empty))
    with pytest.raises(FileNotFoundError):
        parse_split_list(str(tmp_path / 'nope.txt'))
    with pytest.raises(ValueError, match='Unknown split-list format'):
        parse_split_list(str(bad), fmt='csv')
