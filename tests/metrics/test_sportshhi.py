import math

import numpy as np
import pytest
import torch

from pyg_proda.metrics.sportshhi import (
    Triplets,
    box_iou,
    interaction_candidates,
    interaction_map,
    voc_ap,
)

A = [0.0, 0.0, 0.2, 0.4]
B = [0.5, 0.5, 0.7, 0.9]
C = [0.1, 0.1, 0.3, 0.5]
C_SHIFT = [0.1, 0.12, 0.3, 0.52]  # IoU with C = 0.38 / 0.42 ~ 0.905
C_FAR = [0.1, 0.13, 0.3, 0.53]  # IoU with C = 0.37 / 0.43 ~ 0.86
D = [0.6, 0.1, 0.8, 0.5]


def _case(shifted=C_FAR):
    gt = Triplets(frame=[0, 0, 0, 1], box1=[A, B, A, C], box2=[B, A, B, D],
                  cls=[1, 1, 2, 1])
    pred = Triplets(
        frame=[0, 0, 0, 1, 2, 0, 0],
        box1=[A, A, B, shifted, A, A, A],
        box2=[B, B, A, D, B, B, B],
        cls=[1, 1, 1, 1, 1, 2, 3],
        score=[0.9, 0.8, 0.7, 0.95, 0.99, 0.3, 0.5],
    )
    return pred, gt


def test_box_iou():
    iou = box_iou(np.array([C]), np.array([C_SHIFT, C_FAR, C, [0, 0, 0, 0]]))
    assert np.allclose(iou, [[0.38 / 0.42, 0.37 / 0.43, 1.0, 0.0]])


def test_voc_ap_envelope():
    # Precisions 0, 1/2, 1/3, 1/2 at recalls 0, 1/3, 1/3, 2/3 (3 GT rows):
    # envelope 1/2 up to recall 2/3, nothing after -> AP = 1/3.
    assert math.isclose(voc_ap(np.array([0, 1, 0, 1]), 3), 1 / 3)
    assert math.isclose(voc_ap(np.array([1, 1, 0, 1]), 3),
                        1 / 3 + 1 / 3 + 0.75 / 3)
    assert math.isnan(voc_ap(np.array([1]), 0))


def test_interaction_map_hand_made():
    pred, gt = _case()
    out = interaction_map(pred, gt, recall_ks=[1, 2, 5])
    # Class 1 (thr 0.9): p4 FP (IoU 0.86), p1 TP, p2 FP (duplicate),
    # p3 TP; p5 is on a keyframe without ground truth -> AP 1/3.
    assert math.isclose(out['ap'][1], 1 / 3)
    assert math.isclose(out['ap'][2], 1.0)
    assert math.isnan(out['ap'][3])  # predicted but no ground truth
    assert math.isclose(out['mAP'], 2 / 3)
    # K = 1: kept p1 (kf 0) and p4 (kf 1); GT cut to the first row per
    # keyframe -> class 1 has 2 GT rows, 1 hit.
    assert math.isclose(out['recall@1'], 1 / 2)
    assert math.isclose(out['recall@2'], 1 / 3)
    # K = 5: classes 1, 2, 3 predicted: hits 2 + 1 + 0 over 3 + 1 + 0.
    assert math.isclose(out['recall@5'], 3 / 4)

    no_cut = interaction_map(pred, gt, recall_ks=[1], truncate_gt=False)
    assert math.isclose(no_cut['recall@1'], 1 / 3)

    loose = interaction_map(pred, gt, iou_threshold=0.5, recall_ks=[])
    assert math.isclose(loose['ap'][1], 1 / 3 + 1 / 3 + 0.75 / 3)
    near = interaction_map(*_case(C_SHIFT), recall_ks=[])
    assert math.isclose(near['ap'][1], loose['ap'][1])


def test_class_filter_and_tensor_input():
    pred, gt = _case()
    pred = pred._replace(score=torch.tensor(pred.score),
                         cls=torch.tensor(pred.cls))
    out = interaction_map(pred, gt, classes=[2, 3], recall_ks=[5])
    assert sorted(out['ap']) == [2, 3]
    assert math.isclose(out['mAP'], 1.0)
    assert math.isclose(out['recall@5'], 1.0)  # class 2: 1 of 1


def test_best_candidate_is_taken():
    # Two GT rows of one class; the first prediction overlaps both
    # (IoU .952 and .955) and must take the closer, second one, so that the
    # second prediction (IoU .95 with the first GT, .86 with the other)
    # can still match. A first-come match would give one FP.
    def box(h):
        return [0.0, 0.0, 0.2, h]

    gt = Triplets([0, 0], [box(0.40), box(0.44)], [B, B], [1, 1])
    pred = Triplets([0, 0], [box(0.42), box(0.38)], [B, B], [1, 1],
                    [0.9, 0.8])
    out = interaction_map(pred, gt, iou_threshold=0.9, recall_ks=[])
    assert math.isclose(out['ap'][1], 1.0)


def test_candidates_and_errors():
    scores = np.zeros((2, 2, 3))
    scores[0, 0, 1] = 0.5  # self-pair kept
    scores[1, 0, 2] = 0.01
    scores[0, 1, 0] = 0.001  # below 0.002
    boxes = np.array([A, B])
    t = interaction_candidates(7, boxes, scores)
    assert t.frame.tolist() == [7, 7]
    assert t.cls.tolist() == [1, 2]
    assert np.allclose(t.box1, [A, B]) and np.allclose(t.box2, [A, A])
    with pytest.raises(ValueError, match='pair scores'):
        interaction_candidates(0, boxes, np.zeros((2, 3, 1)))
    pred, gt = _case()
    with pytest.raises(ValueError, match="'score'"):
        interaction_map(pred._replace(score=None), gt)
    with pytest.raises(ValueError, match='same number of rows'):
        interaction_map(pred, gt._replace(cls=[1]))
