"""The confusion matrix of a detector at one score threshold, with a background row and column."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from custom.evaluation.coco_matching import iou_pairs, pairs_with_equal_keys
from custom.evaluation.matches import DetectionMatches


def confusion_matrix(matches: DetectionMatches, keep: np.ndarray, t: int, iou_thr: float, order_k: Sequence[int],
                     n_classes: int) -> np.ndarray:
    """(K+1) x (K+1) counts: rows ground truth, columns prediction, index K = background.

    Detections scoring >= the threshold are first matched to their own class as COCOeval does
    (the diagonal = TP); a detection left over takes the unmatched box of another class it
    overlaps most (IoU >= ``iou_thr``, detections in score order) -> off-diagonal; what is
    still left is background (row K: false detection, column K: missed box). Detections on
    crowd boxes are ignored, as in the metrics.
    """
    K = n_classes
    row_of = np.empty(max(order_k, default=-1) + 1, dtype=np.int64)
    row_of[list(order_k)] = np.arange(K)  # COCOeval's sorted class index -> report order
    m = np.zeros((K + 1, K + 1), dtype=np.int64)
    gt_match = matches.det_gt[t]
    crowd = matches.gt_crowd
    matched = keep & (gt_match >= 0)
    on_crowd = matched.copy()
    on_crowd[matched] = crowd[gt_match[matched]]
    tp = matched & ~on_crowd
    np.add.at(m, (row_of[matches.det_cat[tp]], row_of[matches.det_cat[tp]]), 1)
    gt_free = ~crowd.copy()
    gt_free[gt_match[tp]] = False
    d_left = np.flatnonzero(keep & ~matched)
    # left-over detections vs free boxes of the same image (any class), greedy in score order
    g_free_idx = np.flatnonzero(gt_free)
    if len(d_left) and len(g_free_idx):
        pair_d, pair_g = pairs_with_equal_keys(matches.det_img[d_left], matches.gt_img[g_free_idx])
        if len(pair_d):
            iou = iou_pairs(matches.det_bbox[d_left[pair_d]], matches.gt_bbox[g_free_idx[pair_g]],
                            np.zeros(len(pair_d), bool))
            ok = iou >= iou_thr
            pair_d, pair_g, iou = pair_d[ok], pair_g[ok], iou[ok]
            score = matches.det_score[d_left[pair_d]]
            order = np.lexsort((-iou, pair_d, -score))
            used_d, used_g = set(), set()
            for i in order:
                d, g = int(pair_d[i]), int(pair_g[i])
                if d in used_d or g in used_g:
                    continue
                used_d.add(d)
                used_g.add(g)
                gi = g_free_idx[g]
                m[row_of[matches.gt_cat[gi]], row_of[matches.det_cat[d_left[d]]]] += 1
                gt_free[gi] = False
            d_left = np.delete(d_left, sorted(used_d))
    np.add.at(m, (K, row_of[matches.det_cat[d_left]]), 1)
    np.add.at(m, (row_of[matches.gt_cat[gt_free]], K), 1)
    return m
