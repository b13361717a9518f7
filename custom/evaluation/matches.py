"""The per-detection verdicts of one COCO box evaluation, as a public typed result.

:class:`DetectionMatches` is what :meth:`custom.evaluation.fast_coco.FastCOCOeval.matches`
returns after ``evaluate()``: for every evaluated detection, at every IoU threshold, whether
it is a true positive, a false positive or ignored (on a crowd box), and which ground-truth box
it matched; for every ground-truth box, whether it is ignored. The F1 operating point, the
confusion matrix, per-image errors and the TP / FP / FN marks on pictures are computed from it.
All arrays describe COCO's area range 'all'.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetectionMatches:
    """Verdicts of ``D`` evaluated detections and ``G`` ground-truth boxes at ``T`` IoU thresholds.

    Detections are sorted by image, class, then score (highest first) and cut to COCOeval's
    ``maxDets[-1]`` per image and class; ground truth by image, class, then file order.
    ``det_img``/``gt_img`` index the evaluated image ids (sorted), ``det_cat``/``gt_cat`` the
    evaluated category ids (sorted, COCOeval's order). Boxes are COCO ``[x, y, w, h]``.
    """

    iou_thrs: np.ndarray   # (T,) float: the IoU thresholds, COCOeval's params.iouThrs
    det_index: np.ndarray  # (D,) int: position of the detection in the input results
    det_img: np.ndarray    # (D,) int
    det_cat: np.ndarray    # (D,) int
    det_score: np.ndarray  # (D,) float
    det_bbox: np.ndarray   # (D, 4) float
    tp: np.ndarray         # (T, D) bool: matched a regular ground-truth box
    fp: np.ndarray         # (T, D) bool: matched nothing; neither tp nor fp: ignored (crowd match)
    det_gt: np.ndarray     # (T, D) int: the matched box as an index into the gt_* arrays, -1: none
    gt_index: np.ndarray   # (G,) int: position of the box in the ground truth's annotation list
    gt_img: np.ndarray     # (G,) int
    gt_cat: np.ndarray     # (G,) int
    gt_bbox: np.ndarray    # (G, 4) float
    gt_crowd: np.ndarray   # (G,) bool: iscrowd (VOC difficult)
    gt_ignore: np.ndarray  # (G,) bool: not counted as a positive (crowd)

    def iou_index(self, iou: float) -> int:
        """Index of IoU threshold ``iou`` in :attr:`iou_thrs`; ``ValueError`` when it was not evaluated."""
        hits = np.flatnonzero(np.isclose(self.iou_thrs, iou))
        if not len(hits):
            raise ValueError(f'IoU {iou} is not one of the evaluated thresholds {list(self.iou_thrs)}')
        return int(hits[0])

    def false_positives(self, t: int, score_thr: float) -> np.ndarray:
        """Input positions of the detections scoring >= ``score_thr`` that are false positives at threshold ``t``."""
        return self.det_index[(self.det_score >= score_thr) & self.fp[t]]

    def matched_annotations(self, t: int, score_thr: float) -> np.ndarray:
        """Annotation-list positions of the ground-truth boxes that a detection scoring >= ``score_thr``
        matches as a true positive at threshold ``t``; every other regular box is missed (FN)."""
        hit = (self.det_score >= score_thr) & self.tp[t]
        return self.gt_index[self.det_gt[t][hit]]
