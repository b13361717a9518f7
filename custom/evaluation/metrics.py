"""Detection metrics from one set of COCO results against the COCO ground truth.

Everything is computed from one set of detections (a COCO results list, or the ``.pkl`` of
``tools/test.py --out``) against the COCO ground truth, with :class:`custom.evaluation.fast_coco.FastCOCOeval`
(pycocotools' COCOeval rules, same numbers) or pycocotools itself:

* COCO box AP 50:95 / 50 / 75 / small / medium / large and AR, with mmdet's CocoMetric
  parameters (``maxDets`` = the config's ``proposal_nums``, default 100, 300, 1000), so the
  numbers equal the ``coco/bbox_*`` it logs (there rounded to 3 decimals);
* per class AP50 and AP50:95 (COCOeval's ``precision`` array, as mmdet's classwise table);
* precision, recall and F1 at the score threshold with the best F1 (IoU 0.5, COCO matching),
  over all classes together and per class at each class's own best threshold;
* VOC-style AP at IoU 0.5, all-point ('area') and '11points' interpolation, with the
  matching of mmdet's ``eval_map`` (VOC devkit rules: each detection against its
  highest-IoU box, crowd/difficult boxes ignored);
* a confusion matrix with a background row and column, and per-image TP / FP / FN.

Inputs are read by :mod:`custom.evaluation.results_io`; no torch import here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from custom.engine.config import COCO_MAX_DETS
from custom.evaluation.confusion import confusion_matrix
from custom.evaluation.fast_coco import evaluate_bbox
from custom.evaluation.matches import DetectionMatches
from custom.evaluation.results_io import class_cat_ids, quiet_coco
from custom.evaluation.voc_metric import voc_eval

SUMMARY_KEYS = (('mAP50:95', 'bbox_mAP'), ('mAP50', 'bbox_mAP_50'), ('mAP75', 'bbox_mAP_75'),
                ('mAP_small', 'bbox_mAP_s'), ('mAP_medium', 'bbox_mAP_m'), ('mAP_large', 'bbox_mAP_l'))
EVALUATORS = ('fast', 'pycocotools')


def _value(raw: float | None) -> float | None:
    """COCOeval writes -1 where no ground truth exists (e.g. no small boxes): that is no score, not a low one."""
    if raw is None:
        return None
    raw = float(raw)
    return None if raw < 0 or math.isnan(raw) else raw


def best_f1(scores: np.ndarray, tp: np.ndarray, fp: np.ndarray, n_pos: int) -> dict[str, Any]:
    """Precision, recall and F1 at the score threshold that maximises F1.

    ``tp``/``fp`` flag each detection (a detection that is neither is ignored); keeping the
    detections with score >= threshold, the best threshold is one of the scores (the highest
    one on ties of F1). ``fn`` counts the positives left unmatched.
    """
    keep = tp | fp
    scores, tp = scores[keep], tp[keep]
    order = np.argsort(-scores, kind='stable')
    s, t = scores[order], tp[order].astype(np.int64)
    tp_c = np.cumsum(t)
    fp_c = np.arange(1, len(t) + 1) - tp_c
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)  # cut only between distinct scores
    tp_c, fp_c, s = tp_c[last], fp_c[last], s[last]
    if not len(s) or n_pos == 0 or tp_c[-1] == 0:
        return {'score_thr': None, 'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'tp': 0,
                'fp': int(fp_c[-1]) if len(fp_c) else 0, 'fn': int(n_pos)}
    precision = tp_c / (tp_c + fp_c)
    recall = tp_c / n_pos
    f1 = 2 * tp_c / (2 * tp_c + fp_c + (n_pos - tp_c))  # = 2PR / (P + R)
    i = int(np.argmax(f1))
    return {'score_thr': float(s[i]), 'precision': float(precision[i]), 'recall': float(recall[i]),
            'f1': float(f1[i]), 'tp': int(tp_c[i]), 'fp': int(fp_c[i]), 'fn': int(n_pos - tp_c[i])}


@dataclass
class DetectionEvaluation:
    """Every metric of one set of detections (:attr:`summary`, JSON-able) and what plots and pictures need.

    ``confusion`` is (K+1) x (K+1) (rows ground truth, columns prediction, index K background);
    ``per_image`` holds arrays ``tp``, ``fp``, ``fn`` per image of ``img_ids`` at ``score_thr`` and
    IoU ``iou_thrs[iou_t]``; ``precision`` is COCOeval's (T, R, K, A, M) array, ``class_index[i]``
    the K-index of ``classes[i]``.
    """

    summary: dict[str, Any]
    matches: DetectionMatches
    coco_gt: Any  # pycocotools COCO
    classes: list[str]
    cat_ids: list[int]
    class_index: list[int]
    img_ids: list[int]
    dets: Mapping[str, np.ndarray]
    confusion: np.ndarray
    per_image: dict[str, np.ndarray]
    score_thr: float
    iou_t: int
    precision: np.ndarray
    rec_thrs: np.ndarray
    iou_thrs: np.ndarray

    def per_image_rows(self) -> list[dict]:
        """One dict per image: id, file name, TP/FP/FN at ``score_thr``, errors (FP+FN) and F1."""
        rows = []
        for n, img_id in enumerate(self.img_ids):
            tp, fp, fn = (int(self.per_image[k][n]) for k in ('tp', 'fp', 'fn'))
            denom = 2 * tp + fp + fn
            rows.append({'image_id': img_id, 'file_name': self.coco_gt.imgs[img_id].get('file_name', ''),
                         'tp': tp, 'fp': fp, 'fn': fn, 'errors': fp + fn,
                         'f1': 1.0 if denom == 0 else 2 * tp / denom})
        return rows

    def ranked_images(self, n: int) -> tuple[list[dict], list[dict]]:
        """The ``n`` worst images (most FP+FN, then lowest F1) and the ``n`` best (highest F1, then most TP)."""
        rows = self.per_image_rows()
        worst = sorted(rows, key=lambda r: (-r['errors'], r['f1'], r['image_id']))[:n]
        best = sorted(rows, key=lambda r: (-r['f1'], -r['tp'], r['image_id']))[:n]
        return worst, best


def _mean_ap(p: np.ndarray) -> float | None:
    valid = p[p > -1]
    return float(np.mean(valid)) if valid.size else None


def _coco_numbers(coco: Any, iou_thrs: np.ndarray, names: Sequence[str], order_k: Sequence[int]) -> dict[str, Any]:
    """Overall AP / AR and per-class AP50:95, AP50, AP75 from an evaluated COCOeval."""
    stats, md = coco.stats, coco.params.maxDets
    precision = coco.eval['precision']
    t50, t75 = (int(np.flatnonzero(np.isclose(iou_thrs, v))[0]) for v in (0.5, 0.75))
    return {
        'overall': {name: _value(stats[i]) for i, (name, _) in enumerate(SUMMARY_KEYS)},
        'recall': {f'AR@{md[0]}': _value(stats[6]), f'AR@{md[1]}': _value(stats[7]),
                   f'AR@{md[2]}': _value(stats[8]), f'AR_small@{md[2]}': _value(stats[9]),
                   f'AR_medium@{md[2]}': _value(stats[10]), f'AR_large@{md[2]}': _value(stats[11])},
        'per_class_AP50:95': {n: _mean_ap(precision[:, :, k, 0, -1]) for n, k in zip(names, order_k)},
        'per_class_AP50': {n: _mean_ap(precision[t50, :, k, 0, -1]) for n, k in zip(names, order_k)},
        'per_class_AP75': {n: _mean_ap(precision[t75, :, k, 0, -1]) for n, k in zip(names, order_k)}}


def _best_f1_all(m: DetectionMatches, t: int, iou_thr: float, names: Sequence[str], order_k: Sequence[int]
                 ) -> dict[str, Any]:
    """Best-F1 operating point over all classes and per class (COCO matching at ``iou_thrs[t]``)."""
    tp, fp = m.tp[t], m.fp[t]
    n_pos = np.bincount(m.gt_cat[~m.gt_ignore], minlength=max(order_k, default=-1) + 1)
    per_class = {}
    for n, k in zip(names, order_k):
        sel = m.det_cat == k
        per_class[n] = best_f1(m.det_score[sel], tp[sel], fp[sel], int(n_pos[k]))
    return {'iou_thr': iou_thr, 'overall': best_f1(m.det_score, tp, fp, int(n_pos.sum())), 'per_class': per_class}


def evaluate_detections(coco_gt, dets: Mapping[str, np.ndarray], classes: Sequence[str] | None = None,
                        evaluator: str = 'fast', score_thr: float | None = None, iou_thr: float = 0.5,
                        max_dets: Sequence[int] = COCO_MAX_DETS, ann_file: str = 'ground truth'
                        ) -> DetectionEvaluation:
    """Compute every metric of ``dets`` (arrays from :func:`custom.evaluation.results_io.load_results`).

    ``evaluator='pycocotools'`` takes the AP/AR arrays from pycocotools' COCOeval (slower) and
    records the largest difference to the fast evaluator in ``summary['evaluator_max_abs_diff']``;
    per-detection matches (F1, confusion matrix, per-image errors) always come from the fast one.
    ``score_thr`` (confusion matrix, per-image errors, pictures) defaults to the overall best-F1
    threshold.
    """
    if evaluator not in EVALUATORS:
        raise ValueError(f'evaluator must be one of {EVALUATORS}, not {evaluator!r}')
    coco_gt = quiet_coco(coco_gt)
    cat_ids, names = class_cat_ids(coco_gt, classes, ann_file)
    img_ids = sorted(coco_gt.imgs)
    ev = evaluate_bbox(coco_gt, dets, img_ids=img_ids, cat_ids=cat_ids, max_dets=max_dets)
    matches = ev.matches()
    order_k = [ev.params.catIds.index(c) for c in cat_ids]  # COCOeval sorts category ids; report in class order
    summary: dict[str, Any] = {'evaluator': evaluator, 'max_dets': list(ev.params.maxDets)}
    coco = ev
    if evaluator == 'pycocotools':
        coco = evaluate_bbox(coco_gt, dets, img_ids=img_ids, cat_ids=cat_ids, max_dets=max_dets, fast=False)
        summary['evaluator_max_abs_diff'] = max(
            float(np.abs(coco.eval[k] - ev.eval[k]).max()) for k in ('precision', 'recall', 'scores'))
    summary.update(_coco_numbers(coco, matches.iou_thrs, names, order_k))
    t = matches.iou_index(iou_thr)
    summary['best_f1'] = _best_f1_all(matches, t, iou_thr, names, order_k)
    voc = voc_eval(coco_gt, dets, cat_ids, iou_thr)
    summary['voc_mAP50'] = voc['mAP'] if iou_thr == 0.5 else None
    summary['voc'] = {'iou_thr': iou_thr, 'mAP': voc['mAP'],
                      'per_class': {n: {'area': c['area'], '11points': c['11points'], 'num_gts': c['num_gts']}
                                    for n, c in zip(names, voc['per_class'])}}

    if score_thr is None:
        best = summary['best_f1']['overall']['score_thr']
        score_thr = best if best is not None else 0.5
    keep = matches.det_score >= score_thr
    confusion = confusion_matrix(matches, keep, t, iou_thr, order_k, len(names))
    nI = len(img_ids)
    gt_pos = ~matches.gt_ignore
    per_image = {'tp': np.bincount(matches.det_img[keep & matches.tp[t]], minlength=nI),
                 'fp': np.bincount(matches.det_img[keep & matches.fp[t]], minlength=nI)}
    per_image['fn'] = np.bincount(matches.gt_img[gt_pos], minlength=nI) - per_image['tp']
    summary['score_thr'] = float(score_thr)
    summary['confusion_matrix'] = {'score_thr': float(score_thr), 'iou_thr': iou_thr,
                                   'labels': [*names, 'background'], 'rows': 'ground truth',
                                   'columns': 'prediction', 'matrix': confusion.tolist()}
    summary['counts'] = {'images': nI, 'gt_boxes': int(gt_pos.sum()), 'gt_ignored': int((~gt_pos).sum()),
                         'detections': int(len(dets['score'])), 'evaluated_detections': int(len(matches.det_score)),
                         'images_with_detections': int(len(np.unique(dets['image_id'])))}
    return DetectionEvaluation(summary=summary, matches=matches, coco_gt=coco_gt, classes=names, cat_ids=cat_ids,
                               class_index=order_k, img_ids=img_ids, dets=dets, confusion=confusion,
                               per_image=per_image, score_thr=float(score_thr), iou_t=t,
                               precision=ev.eval['precision'], rec_thrs=np.asarray(ev.params.recThrs),
                               iou_thrs=matches.iou_thrs)
