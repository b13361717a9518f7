"""mmcv's ``nms`` and ``batched_nms`` in numpy (float32, ``offset=0``).

Boxes are sorted by score (a stable sort: equal scores keep their input order, where mmcv's C++ sort may
order them otherwise), a box is dropped when its IoU with a kept box is strictly above ``iou_threshold``.
``batched_nms`` separates classes as mmcv does (coordinate offsets below ``split_thr`` boxes, one NMS per class
above) and returns the kept indices by descending score.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

SPLIT_THR = 10000


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int = -1) -> np.ndarray:
    """Indices of the boxes (N, 4) kept by greedy NMS, by descending score; stops after ``max_keep`` (when
    positive): the boxes kept first do not depend on the later ones."""
    boxes = boxes.astype(np.float32, copy=False)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind='stable')
    threshold = np.float32(iou_threshold)
    keep = []
    while order.size and len(keep) != max_keep:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        width = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        height = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = width * height
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(iou > threshold)]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                nms_cfg: Mapping[str, Any], max_keep: int = -1) -> np.ndarray:
    """Indices kept by per-class NMS (``nms_cfg``: ``iou_threshold``, optional ``class_agnostic`` and
    ``split_thr``), by descending score; the first ``max_keep`` only when positive."""
    if boxes.shape[0] == 0:
        return np.zeros(0, np.int64)
    iou_threshold = float(nms_cfg['iou_threshold'])
    if nms_cfg.get('class_agnostic'):
        return nms(boxes, scores, iou_threshold, max_keep)
    boxes = boxes.astype(np.float32, copy=False)
    if boxes.shape[0] < int(nms_cfg.get('split_thr', SPLIT_THR)):
        offsets = labels.astype(np.float32) * (boxes.max() + np.float32(1))
        return nms(boxes + offsets[:, None], scores, iou_threshold, max_keep)
    kept = [np.flatnonzero(labels == label)[nms(boxes[labels == label], scores[labels == label], iou_threshold,
                                                max_keep)] for label in np.unique(labels)]
    keep = np.sort(np.concatenate(kept))
    keep = keep[np.argsort(-scores[keep], kind='stable')]
    return keep[:max_keep] if max_keep > 0 else keep
