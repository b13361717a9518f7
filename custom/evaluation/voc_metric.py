"""VOC-style average precision at one IoU threshold, with the matching of mmdet's ``eval_map``."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from custom.evaluation.coco_matching import pairs_with_equal_keys
from custom.evaluation.results_io import id_positions


def voc_ap(recall: np.ndarray, precision: np.ndarray, mode: str = 'area') -> float:
    """VOC average precision of one PR curve (detections in score order), as mmdet's ``average_precision``.

    'area': area under the precision envelope at every recall step (VOC 2010+);
    '11points': mean of the best precision at recall >= 0, 0.1, ..., 1 (VOC 2007).
    """
    recall, precision = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    if mode == 'area':
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[0.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        i = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
    if mode == '11points':
        total = 0.0
        for thr in np.arange(0, 1 + 1e-3, 0.1):
            p = precision[recall >= thr]
            total += p.max() if p.size else 0.0
        return float(total / 11)
    raise ValueError(f'VOC AP mode must be "area" or "11points", not {mode!r}')


def _xyxy_iou_pairs(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """IoU of xyxy box pairs as mmdet's ``bbox_overlaps`` (no +1, union floored at eps)."""
    w = np.maximum(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0)
    h = np.maximum(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0)
    overlap = w * h
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - overlap
    return overlap / np.maximum(union, eps)


def voc_eval(coco_gt, dets: Mapping[str, np.ndarray], cat_ids: Sequence[int], iou_thr: float = 0.5
             ) -> dict[str, Any]:
    """VOC-style AP per class at ``iou_thr`` with mmdet ``eval_map``'s matching, both interpolations.

    Every detection is compared with the box of its class and image it overlaps most (regular
    boxes before crowd/difficult ones on ties): IoU >= ``iou_thr`` with a crowd box -> ignored,
    with a regular box not yet taken by a higher-scoring detection -> TP, otherwise FP. All
    detections count (no per-image cap). mAP is the mean over classes that have ground truth.
    Returns ``{'mAP': {'area', '11points'}, 'per_class': [{'area', '11points', 'num_gts',
    'num_dets'}, ...]}`` in ``cat_ids`` order.
    """
    img_pos = {i: n for n, i in enumerate(sorted(coco_gt.imgs))}
    wanted = set(cat_ids)
    anns = [a for a in coco_gt.dataset['annotations'] if a['category_id'] in wanted and a['image_id'] in img_pos]
    g_img = np.fromiter((img_pos[a['image_id']] for a in anns), np.int64, len(anns))
    g_cat = np.fromiter((a['category_id'] for a in anns), np.int64, len(anns))
    g_crowd = np.fromiter((bool(a.get('iscrowd', 0)) for a in anns), bool, len(anns))
    g_box = np.array([a['bbox'] for a in anns], dtype=np.float64).reshape(-1, 4)
    g_box[:, 2:] += g_box[:, :2]
    d_img = id_positions(np.asarray(dets['image_id']), img_pos)
    d_box = np.asarray(dets['bbox'], dtype=np.float64).reshape(-1, 4).copy()
    d_box[:, 2:] += d_box[:, :2]
    eps = np.finfo(np.float32).eps
    per_class = []
    for cat in cat_ids:
        gi = np.flatnonzero(g_cat == cat)
        gi = gi[np.lexsort((g_crowd[gi], g_img[gi]))]  # by image, regular before crowd, file order
        di = np.flatnonzero(dets['category_id'] == cat)
        score = dets['score'][di]
        # per image in score order (stable), as each image's tpfp_default
        di = di[np.lexsort((-score, d_img[di]))]
        n_gts = int((~g_crowd[gi]).sum())
        tp = np.zeros(len(di), bool)
        fp = np.ones(len(di), bool)
        pair_d, pair_g = pairs_with_equal_keys(d_img[di], g_img[gi])
        if len(pair_d):
            iou = _xyxy_iou_pairs(d_box[di[pair_d]], g_box[gi[pair_g]])
            best = np.full(len(di), -np.inf)
            np.maximum.at(best, pair_d, iou)
            is_best = iou == best[pair_d]
            arg = np.full(len(di), np.iinfo(np.int64).max)
            np.minimum.at(arg, pair_d[is_best], pair_g[is_best])  # first box on ties
            hit = best >= iou_thr
            crowd_hit = hit & g_crowd[gi[np.where(hit, arg, 0)]]
            reg = np.flatnonzero(hit & ~crowd_hit)
            _, first = np.unique(arg[reg], return_index=True)  # first detection (score order) on each box
            tp[reg[first]] = True
            fp[crowd_hit] = False  # on a crowd/difficult box: ignored
            fp[reg[first]] = False  # later ones on a taken box stay false positives
        # all images together by score, stable (mmdet: quicksort; same order unless scores tie)
        order = np.argsort(-dets['score'][di], kind='stable')
        tp_c, fp_c = np.cumsum(tp[order]), np.cumsum(fp[order])
        recall = tp_c / max(n_gts, eps)
        precision = tp_c / np.maximum(tp_c + fp_c, eps)
        per_class.append({'area': voc_ap(recall, precision, 'area'), '11points': voc_ap(recall, precision, '11points'),
                          'num_gts': n_gts, 'num_dets': int(len(di))})
    with_gt = [c for c in per_class if c['num_gts'] > 0]
    mean = {mode: float(np.mean([c[mode] for c in with_gt])) if with_gt else 0.0 for mode in ('area', '11points')}
    return {'mAP': mean, 'per_class': per_class}
