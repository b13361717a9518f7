"""Do two backends give the same boxes? Each box above a score on one side matched to a box of the same
class on the other, one to one, greedily by IoU."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from custom.inference.detector import Detections


class Parity(NamedTuple):
    """``matched`` pairs, boxes ``unmatched`` on either side, over the pairs the ``min_iou`` and the
    ``max_score_diff`` (1.0 and 0.0 when none); ``tied``: unmatched boxes of one side with a score equal
    (within ``TIE``) to an unmatched box of the other: equal scores that NMS or the ``max_per_img`` cut ordered
    differently (mmcv's C++ sort is not stable, :mod:`custom.deployment.nms` is), not counted in ``unmatched``."""

    matched: int
    unmatched: int
    min_iou: float
    max_score_diff: float
    tied: int = 0


TIE = 1e-6


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), ``x1, y1, x2, y2``; two equal boxes
    have IoU 1 even when empty (clipping to the image can flatten a box)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    same = np.all(np.abs(a[:, None, :] - b[None, :, :]) <= 1e-4, axis=2) & (union <= 1e-12)
    return np.where(same, 1.0, inter / np.maximum(union, 1e-12))


def compare(reference: Detections, other: Detections, score_min: float = 0.05, score_tol: float = 1e-3,
            iou_min: float = 0.99) -> Parity:
    """Match ``reference``'s boxes scoring above ``score_min`` to ``other``'s; boxes within ``score_tol`` of
    ``score_min`` may lack a partner without counting as unmatched."""
    pairs, ious, diffs, lost = 0, [], [], []
    used = np.zeros(len(other.scores), bool)
    overlaps = iou_matrix(reference.boxes, other.boxes) if len(reference.scores) and len(other.scores) else None
    for i in np.argsort(-reference.scores, kind='stable'):
        if reference.scores[i] <= score_min:
            continue
        best = -1
        if overlaps is not None:
            candidates = np.where(~used & (other.labels == reference.labels[i])
                                  & (np.abs(other.scores - reference.scores[i]) <= score_tol), overlaps[i], -1.0)
            best = int(np.argmax(candidates)) if candidates.size and candidates.max() >= iou_min else -1
        if best >= 0:
            used[best] = True
            pairs += 1
            ious.append(overlaps[i, best])
            diffs.append(abs(other.scores[best] - reference.scores[i]))
        elif reference.scores[i] > score_min + score_tol:
            lost.append(reference.scores[i])
    extra = list(other.scores[~used & (other.scores > score_min + score_tol)])
    tied = 0
    for score in lost[:]:
        twins = [j for j, s in enumerate(extra) if abs(s - score) <= TIE]
        if twins:
            extra.pop(twins[0])
            lost.remove(score)
            tied += 2
    return Parity(pairs, len(lost) + len(extra), float(min(ious, default=1.0)), float(max(diffs, default=0.0)), tied)
