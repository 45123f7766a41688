r"""SportsHHI human-human interaction metrics: interaction mAP and
Recall@K (a re-implementation of the official evaluator's rules, see
evaluation.md §5)."""
from typing import Any, Dict, NamedTuple, Optional, Sequence, Union

import numpy as np
from torch import Tensor

ArrayLike = Union[Tensor, np.ndarray, Sequence]
RECALL_KS = (20, 50, 100, 150)


class Triplets(NamedTuple):
    r"""Interaction triplets of a split, one row per (keyframe, ordered
    person pair, class).

    Attributes:
        frame: Keyframe id of every row ``[P]`` (int).
        box1: Box of person 1, ``xyxy`` ``[P, 4]``.
        box2: Box of person 2, ``xyxy`` ``[P, 4]``.
        cls: Interaction class ``[P]`` (int).
        score: Confidence ``[P]`` (predictions only, :obj:`None` for
            ground truth).
    """
    frame: ArrayLike
    box1: ArrayLike
    box2: ArrayLike
    cls: ArrayLike
    score: Optional[ArrayLike] = None


def _np(x: ArrayLike, dtype) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _arrays(t: Triplets, name: str, need_score: bool):
    frame = _np(t.frame, np.int64).reshape(-1)
    p = frame.shape[0]
    box1 = _np(t.box1, np.float64).reshape(-1, 4)
    box2 = _np(t.box2, np.float64).reshape(-1, 4)
    cls = _np(t.cls, np.int64).reshape(-1)
    if box1.shape[0] != p or box2.shape[0] != p or cls.shape[0] != p:
        raise ValueError(f"{name}: 'frame', 'box1', 'box2' and 'cls' must "
                         f"have the same number of rows")
    score = None
    if need_score:
        if t.score is None:
            raise ValueError(f"{name}: predictions need a 'score'")
        score = _np(t.score, np.float64).reshape(-1)
        if score.shape[0] != p:
            raise ValueError(f"{name}: 'score' must have {p} rows")
    return frame, box1, box2, cls, score


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""IoU between every box of :obj:`a` ``[N, 4]`` and :obj:`b`
    ``[M, 4]`` (``xyxy``, continuous coordinates, no :math:`+1`); 0 for
    degenerate boxes.

    Example:
        >>> box_iou(np.array([[0., 0., 2., 2.]]), np.array([[1., 0., 3., 2.]]))
        array([[0.33333333]])
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * \
        np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * \
        np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def voc_ap(tp: np.ndarray, num_gt: int) -> float:
    r"""VOC-style average precision of score-sorted detections.

    Precision is replaced by its running maximum from the right (monotone
    envelope), then :math:`\mathrm{AP} = \sum \Delta\mathrm{recall} \cdot
    \mathrm{precision}` over the recall steps. NaN when :obj:`num_gt` is 0.

    Args:
        tp (np.ndarray): True-positive flags in descending score order.
        num_gt (int): Number of ground-truth rows.

    Example:
        >>> voc_ap(np.array([True, False, True]), 2)
        0.8333333333333333
    """
    if num_gt <= 0:
        return float('nan')
    tp = np.asarray(tp, dtype=np.float64)
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(1.0 - tp)
    rec = tp_cum / num_gt
    prec = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def _match(pred, gt, iou_threshold: float) -> np.ndarray:
    r"""True-positive flag of every prediction (per keyframe and class,
    predictions by descending score, each takes the free ground-truth
    triplet with the largest :math:`\min(\mathrm{IoU}_1, \mathrm{IoU}_2)`
    among those with both IoUs above the threshold)."""
    p_frame, p_box1, p_box2, p_cls, p_score = pred
    g_frame, g_box1, g_box2, g_cls, _ = gt
    tp = np.zeros(p_frame.shape[0], dtype=bool)
    gt_groups: Dict[Any, list] = {}
    for j, key in enumerate(zip(g_frame.tolist(), g_cls.tolist())):
        gt_groups.setdefault(key, []).append(j)
    pred_groups: Dict[Any, list] = {}
    for i, key in enumerate(zip(p_frame.tolist(), p_cls.tolist())):
        pred_groups.setdefault(key, []).append(i)
    for key, rows in pred_groups.items():
        g_rows = gt_groups.get(key)
        if g_rows is None:
            continue
        rows = np.asarray(rows)
        rows = rows[np.argsort(-p_score[rows], kind='stable')]
        g_rows = np.asarray(g_rows)
        iou1 = box_iou(p_box1[rows], g_box1[g_rows])  # [p, g]
        iou2 = box_iou(p_box2[rows], g_box2[g_rows])
        both = np.minimum(iou1, iou2)
        ok = (iou1 >= iou_threshold) & (iou2 >= iou_threshold)
        used = np.zeros(g_rows.shape[0], dtype=bool)
        for k, row in enumerate(rows):
            cand = ok[k] & ~used
            if cand.any():
                j = int(np.argmax(np.where(cand, both[k], -1.0)))
                used[j] = True
                tp[row] = True
    return tp


def _select(arrays, mask: np.ndarray):
    return tuple(None if a is None else a[mask] for a in arrays)


def _top_k_per_frame(frame: np.ndarray, order_key: np.ndarray,
                     k: int) -> np.ndarray:
    # Rank of every row inside its keyframe when sorted by order_key.
    order = np.lexsort((order_key, frame))  # by frame, then key ascending
    sorted_frame = frame[order]
    starts = np.r_[0, np.nonzero(np.diff(sorted_frame))[0] + 1]
    counts = np.diff(np.r_[starts, sorted_frame.shape[0]])
    rank = np.arange(order.shape[0]) - np.repeat(starts, counts)
    keep = np.zeros(frame.shape[0], dtype=bool)
    keep[order[rank < k]] = True
    return keep


def interaction_map(pred: Triplets, gt: Triplets,
                    classes: Optional[Sequence[int]] = None,
                    iou_threshold: float = 0.9,
                    recall_ks: Sequence[int] = RECALL_KS,
                    truncate_gt: bool = True) -> Dict[str, Any]:
    r"""SportsHHI interaction mAP and Recall@K.

    Following the official evaluator (evaluation.md §5):

    * only keyframes that have ground truth are evaluated; predictions on
      other keyframes are ignored;
    * matching, per keyframe and class: predictions in descending score
      order; a prediction is a true positive if a not-yet-matched
      ground-truth triplet of its class has :math:`\mathrm{IoU} \geq`
      :obj:`iou_threshold` on **both** boxes (the one with the largest
      :math:`\min(\mathrm{IoU}_1, \mathrm{IoU}_2)` is taken);
    * AP per class: predictions of the class sorted by score over the whole
      split, :func:`voc_ap` with the class's number of ground-truth rows;
    * mAP: mean AP over the classes that received **at least one**
      prediction (classes without ground truth are NaN and left out too);
    * Recall@K: the top :math:`K` predictions of every keyframe (over all
      classes) are kept before matching; Recall@K :math:`= \sum_c TP_c /
      \sum_c \mathrm{num\_gt}_c` over the classes that received
      predictions. With :obj:`truncate_gt=True` the ground truth of every
      keyframe is also cut to its first :math:`K` rows (input order), the
      official code's quirk.

    Args:
        pred (Triplets): Predicted triplets with scores.
        gt (Triplets): Ground-truth triplets.
        classes (Sequence[int], optional): The evaluated classes (SportsHHI:
            the 28 kept ids); rows of other classes are dropped.
            (default: :obj:`None`, every class seen)
        iou_threshold (float, optional): Box IoU threshold (the released
            code uses 0.9; a commented alternative is 0.5).
            (default: :obj:`0.9`)
        recall_ks (Sequence[int], optional): The :math:`K` of Recall@K.
            (default: :obj:`(20, 50, 100, 150)`)
        truncate_gt (bool, optional): Truncate the ground truth for
            Recall@K as the official code does. (default: :obj:`True`)

    Returns:
        A dictionary with :obj:`"mAP"`, :obj:`"ap"` (class id :math:`\to`
        AP, NaN if undefined) and :obj:`"recall@K"` for every :math:`K`
        (fractions).

    Example:
        >>> box = [[0., 0., 1., 1.]]
        >>> gt = Triplets([0], box, box, [3])
        >>> pred = Triplets([0, 0], box * 2, box * 2, [3, 5], [0.9, 0.8])
        >>> out = interaction_map(pred, gt, recall_ks=[1])
        >>> out['mAP'], out['recall@1']
        (1.0, 1.0)

    Raises:
        ValueError: On inconsistent row counts or missing scores.
    """
    p = _arrays(pred, 'interaction_map (pred)', need_score=True)
    g = _arrays(gt, 'interaction_map (gt)', need_score=False)
    if classes is not None:
        cls_set = np.asarray(list(classes), dtype=np.int64)
        p = _select(p, np.isin(p[3], cls_set))
        g = _select(g, np.isin(g[3], cls_set))
    p = _select(p, np.isin(p[0], np.unique(g[0])))
    if classes is None:
        cls_set = np.unique(np.concatenate([p[3], g[3]]))

    tp = _match(p, g, iou_threshold)
    ap: Dict[int, float] = {}
    for c in cls_set.tolist():
        rows = np.nonzero(p[3] == c)[0]
        num_gt = int((g[3] == c).sum())
        if rows.size == 0:
            ap[c] = float('nan')
            continue
        order = rows[np.argsort(-p[4][rows], kind='stable')]
        ap[c] = voc_ap(tp[order], num_gt)
    values = np.array([v for v in ap.values() if not np.isnan(v)])
    out: Dict[str, Any] = {
        'mAP': float(values.mean()) if values.size > 0 else float('nan'),
        'ap': ap,
    }

    for k in recall_ks:
        pk = _select(p, _top_k_per_frame(p[0], -p[4], k))
        gk = g
        if truncate_gt:
            gk = _select(g, _top_k_per_frame(
                g[0], np.arange(g[0].shape[0], dtype=np.float64), k))
        tp_k = _match(pk, gk, iou_threshold)
        hit, total = 0, 0
        for c in np.unique(pk[3]).tolist():
            hit += int(tp_k[pk[3] == c].sum())
            total += int((gk[3] == c).sum())
        out[f'recall@{k}'] = hit / total if total > 0 else float('nan')
    return out


def interaction_candidates(frame: int, boxes: ArrayLike,
                           pair_scores: ArrayLike,
                           score_threshold: float = 0.002) -> Triplets:
    r"""Turns a keyframe's multi-label pair scores into predicted triplets
    as the official pipeline does: every **ordered** pair :math:`(i, j)`
    of boxes, self-pairs included, and every class whose score exceeds
    :obj:`score_threshold` gives one triplet.

    Args:
        frame (int): Keyframe id.
        boxes (Tensor or np.ndarray): Person boxes ``[n, 4]``.
        pair_scores (Tensor or np.ndarray): Scores ``[n, n, C]`` of the
            ordered pair (row = person 1, column = person 2).
        score_threshold (float, optional): Minimum score (exclusive).
            (default: :obj:`0.002`)

    Example:
        >>> scores = np.zeros((2, 2, 3)); scores[0, 1, 2] = 0.7
        >>> t = interaction_candidates(5, np.eye(2, 4), scores)
        >>> t.frame.tolist(), t.cls.tolist(), t.score.tolist()
        ([5], [2], [0.7])
    """
    boxes = _np(boxes, np.float64).reshape(-1, 4)
    scores = _np(pair_scores, np.float64)
    n = boxes.shape[0]
    if scores.ndim != 3 or scores.shape[:2] != (n, n):
        raise ValueError(f"interaction_candidates: expected pair scores "
                         f"[{n}, {n}, C] (got {scores.shape})")
    i, j, c = np.nonzero(scores > score_threshold)
    return Triplets(np.full(i.shape[0], frame, dtype=np.int64), boxes[i],
                    boxes[j], c.astype(np.int64), scores[i, j, c])
