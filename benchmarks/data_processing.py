r"""Processing benchmark of :class:`pyg_proda.datasets.ActionGenome` at full
Action Genome scale.

Writes synthetic raw files in the exact on-disk formats (Charades CSVs with
CRLF, the two Action Genome pickles, frame list and class files) with the
size of the real data set (about 9,800 videos, 288k keyframes, ~2 visible
objects and ~7 relation instances per frame), then processes them in a fresh
child process and reports its wall time and peak resident memory.

Usage::

    python benchmarks/data_processing.py            # full scale
    python benchmarks/data_processing.py --quick    # 500 videos
    python benchmarks/data_processing.py --root /tmp/agbench --keep

This is a benchmark, not a test: the target is under 2 minutes and under
4 GB peak RSS on 2 CPU cores.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from pyg_proda.data.vocab import AG_OBJECT_FILE_LINES
from pyg_proda.testing.fixtures import (
    ag_object,
    charades_row,
    write_ag_annotations,
    write_charades_classes,
    write_charades_csv,
)

OBJECT_FILE = AG_OBJECT_FILE_LINES
SCENES = ['Kitchen', 'Bedroom', 'Living room', 'Bathroom', 'Hallway', 'Stairs',
          'Garage', 'Pantry', 'Dining room', 'Entryway', 'Laundry room',
          'Closet / Walk-in closet / Spear closet',
          'Basement (A room below the ground floor)',
          'Home Office / Study (A room in a house used for work)',
          'Recreation room / Man cave', 'Other']
SLASH = {'closetcabinet': 'closet/cabinet', 'cupglassbottle': 'cup/glass/bottle',
         'papernotebook': 'paper/notebook', 'phonecamera': 'phone/camera',
         'sofacouch': 'sofa/couch'}
ATT = ['looking_at', 'not_looking_at', 'unsure']
SPA = ['above', 'beneath', 'in_front_of', 'behind', 'on_the_side_of', 'in']
CON = ['carrying', 'covered_by', 'drinking_from', 'eating',
       'have_it_on_the_back', 'holding', 'leaning_on', 'lying_on',
       'not_contacting', 'other_relationship', 'sitting_on', 'standing_on',
       'touching', 'twisting', 'wearing', 'wiping', 'writing_on']


def generate(root: str, num_videos: int, frames_per_video: float,
             seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    raw = osp.join(root, 'raw')
    os.makedirs(raw, exist_ok=True)
    objects_names = [SLASH.get(n.strip(), n.strip()) for n in OBJECT_FILE[1:]]
    ids = [f'{i:05X}' for i in range(num_videos)]
    is_test = rng.random(num_videos) < 0.19
    rows = {'train': [], 'test': []}
    for i, vid in enumerate(ids):
        length = float(rng.uniform(5, 60))
        acts = []
        for _ in range(int(rng.integers(0, 10))):
            s = float(rng.uniform(0, length))
            acts.append(f'c{int(rng.integers(0, 157)):03d} {s:.2f} '
                        f'{s + float(rng.uniform(1, 15)):.2f}')
        rows['test' if is_test[i] else 'train'].append(charades_row(
            vid, SCENES[int(rng.integers(0, 16))], ';'.join(acts),
            f'{length:.2f}', relevance='',
            script='A person opens a door, then sits.', objects='door;chair',
            descriptions='Someone says "hi"'))
    for split, body in rows.items():
        write_charades_csv(osp.join(raw, f'Charades_v1_{split}.csv'), body)
    write_charades_classes(osp.join(raw, 'Charades_v1_classes.txt'),
                           [f'c{i:03d} Class {i}' for i in range(157)],
                           crlf=False)

    O, P, keys = {}, {}, []
    num_rel = 0
    empty = {'bbox': np.zeros((0, 4), np.float32),
             'bbox_score': np.zeros(0, np.float32), 'bbox_size': (480, 270),
             'bbox_mode': 'xyxy', 'keypoints': np.zeros((0, 17, 3), np.float32),
             'keypoints_logits': np.zeros((0, 17), np.float32)}
    for i, vid in enumerate(ids):
        split = 'test' if is_test[i] else 'train'
        n = max(1, int(rng.poisson(frames_per_video)))
        frames = np.sort(rng.choice(np.arange(1, 40 * n + 1), n, replace=False))
        classes = rng.choice(len(objects_names), 4, replace=False)
        for fr in rng.permutation(frames):
            key = f'{vid}.mp4/{int(fr):06d}.png'
            objs = []
            # 1-3 visible objects (mean 2), sometimes one invisible extra.
            num = int(rng.integers(1, 4))
            hidden = int(rng.random() < 0.3)
            for j, c in enumerate(rng.choice(classes, num + hidden,
                                             replace=False)):
                name = objects_names[int(c)]
                tag = f'{vid}.mp4/{name}/{fr:06d}'
                if j == num:
                    objs.append(ag_object(name, None, visible=False,
                                          split=split, key=tag))
                    continue
                x, y = (float(v) for v in rng.uniform(0, 300, 2))
                # 1 attention + 1.25 spatial + 1.25 contacting: ~7 per frame.
                spa = list(rng.choice(SPA, int(rng.choice([1, 2], p=[.75, .25])),
                                      replace=False))
                con = list(rng.choice(CON, int(rng.choice([1, 2], p=[.75, .25])),
                                      replace=False))
                num_rel += 1 + len(spa) + len(con)
                objs.append(ag_object(
                    name, (x, y, float(rng.uniform(10, 150)),
                           float(rng.uniform(10, 150))),
                    [str(rng.choice(ATT))], [str(s) for s in spa],
                    [str(c) for c in con], split=split, key=tag))
            O[key] = objs
            if rng.random() < 0.08:
                P[key] = dict(empty)
            else:
                x1, y1 = (float(v) for v in rng.uniform(0, 200, 2))
                P[key] = {'bbox': np.array([[x1, y1, x1 + 150, y1 + 60]],
                                           np.float32),
                          'bbox_score': np.array([0.99], np.float32),
                          'bbox_size': (480, 270), 'bbox_mode': 'xyxy',
                          'keypoints': np.zeros((1, 17, 3), np.float32),
                          'keypoints_logits': np.zeros((1, 17), np.float32)}
            keys.append(key)
    write_ag_annotations(raw, O, P, keys, crlf=False,
                         protocol=pickle.HIGHEST_PROTOCOL)
    num_obj = sum(len(v) for v in O.values())
    return {'videos': num_videos, 'keyframes': len(keys),
            'objects_per_frame': num_obj / len(keys),
            'relations_per_frame': num_rel / len(keys)}


def process(root: str) -> None:
    # Runs in a fresh child process so that its peak RSS excludes generation.
    import torch

    from pyg_proda.datasets.action_genome import ActionGenome
    torch.set_num_threads(2)
    t = time.perf_counter()
    train = ActionGenome(root, split='train', force_reload=True)
    seconds = time.perf_counter() - t
    test = ActionGenome(root, split='test')
    frames = int(train._data.num_frames.sum() + test._data.num_frames.sum())
    print(json.dumps({'seconds': seconds, 'train_videos': len(train),
                      'test_videos': len(test), 'kept_frames': frames,
                      'stats': train.process_stats}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--videos', type=int, default=9800)
    parser.add_argument('--frames-per-video', type=float, default=29.5)
    parser.add_argument('--quick', action='store_true', help='500 videos')
    parser.add_argument('--root', help='where to write (default: a temp dir)')
    parser.add_argument('--keep', action='store_true',
                        help='keep the generated files')
    parser.add_argument('--process-only', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.process_only:
        process(args.process_only)
        return
    root = args.root or tempfile.mkdtemp(prefix='agbench_')
    videos = 500 if args.quick else args.videos
    t = time.perf_counter()
    info = generate(root, videos, args.frames_per_video)
    print(f"generated {info['videos']} videos, {info['keyframes']} keyframes, "
          f"{info['objects_per_frame']:.2f} objects and "
          f"{info['relations_per_frame']:.2f} relations per frame in "
          f"{time.perf_counter() - t:.1f} s ({root})")
    try:
        env = dict(os.environ, OMP_NUM_THREADS='2')
        t = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, '--process-only', root],
                             env=env, check=True, capture_output=True,
                             text=True)
        wall = time.perf_counter() - t
        rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"processing: {result['seconds']:.1f} s inside the dataset "
              f"({wall:.1f} s child wall time incl. imports), peak RSS "
              f"{rss_kb / 1024 ** 2:.2f} GB")
        print(f"kept {result['train_videos']} train + {result['test_videos']} "
              f"test videos, {result['kept_frames']} frames; skips: "
              f"{result['stats']}")
    finally:
        if not args.keep and not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
