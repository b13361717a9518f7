"""Detection metrics from COCO results: reading, computing, printing and saving them.

Everything is computed from one set of detections (a COCO results list, or the ``.pkl`` of
``tools/test.py --out``) against the COCO ground truth, with :class:`custom.fast_coco.FastCOCOeval`
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

No torch import here (a ``.pkl`` results file needs torch to unpickle, and imports it then).
"""
from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from custom.fast_coco import (FastCOCOeval, ResultsError, _iou_pairs, detections_to_arrays, evaluate_bbox,
                              quiet_coco)

SUMMARY_KEYS = (('mAP50:95', 'bbox_mAP'), ('mAP50', 'bbox_mAP_50'), ('mAP75', 'bbox_mAP_75'),
                ('mAP_small', 'bbox_mAP_s'), ('mAP_medium', 'bbox_mAP_m'), ('mAP_large', 'bbox_mAP_l'))
COCO_MAX_DETS = (100, 300, 1000)  # mmdet's CocoMetric (proposal_nums): its logged numbers use these
EVALUATORS = ('fast', 'pycocotools')

__all__ = ['ResultsError', 'DetectionEvaluation', 'load_ground_truth', 'load_results', 'evaluate_detections',
           'best_f1', 'voc_ap', 'voc_eval', 'format_report', 'save_json', 'summarize_coco_metrics',
           'format_summary']


# --------------------------------------------------------------------------- mmdet CocoMetric output
def _strip_prefix(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key.split('/', 1)[-1]: value for key, value in metrics.items()}


def _value(raw: float | None) -> float | None:
    """COCOeval writes -1 where no ground truth exists (e.g. no small boxes): that is no score, not a low one."""
    if raw is None:
        return None
    raw = float(raw)
    return None if raw < 0 or math.isnan(raw) else raw


def summarize_coco_metrics(metrics: Mapping[str, float], classes: Sequence[str]) -> dict:
    """Group CocoMetric output (``coco/bbox_mAP`` ..., ``coco/<class>_precision``) by overall and per class.

    Values COCOeval reports as -1 (nothing to evaluate in that range) become ``None``.
    """
    flat = _strip_prefix(metrics)
    overall = {name: _value(flat[key]) for name, key in SUMMARY_KEYS if key in flat}
    per_class = {c: _value(flat[f'{c}_precision']) for c in classes if f'{c}_precision' in flat}
    return {'overall': overall, 'per_class_AP50:95': per_class, 'raw': dict(metrics)}


def format_summary(summary: Mapping) -> str:
    """A plain-text table of :func:`summarize_coco_metrics` output."""
    lines = ['metric        value', '------------  ------']
    lines += [f'{name:<12}  {_cell(value, 6)}' for name, value in summary['overall'].items()]
    if summary['per_class_AP50:95']:
        lines += ['', 'class         AP50:95', '------------  -------']
        lines += [f'{name:<12}  {_cell(value, 7)}' for name, value in summary['per_class_AP50:95'].items()]
    return '\n'.join(lines)


def _cell(value: float | None, width: int, digits: int = 3) -> str:
    return f'{value:{width}.{digits}f}' if value is not None else 'n/a'.rjust(width)


def save_json(data: Mapping, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False))
    return path


# --------------------------------------------------------------------------- inputs
def load_ground_truth(ann_file: str | os.PathLike):
    """pycocotools ``COCO`` of ``ann_file``; a missing or broken file fails with its name."""
    path = Path(ann_file)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such annotation file (convert the dataset first, or check the '
                                f'data root, e.g. BCCD_ROOT)')
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResultsError(f'{path}: not a COCO JSON file ({exc})') from exc
    if not isinstance(data, dict) or not {'images', 'annotations', 'categories'} <= set(data):
        raise ResultsError(f'{path}: not COCO ground truth (needs images, annotations and categories)')
    return quiet_coco(data)


def class_cat_ids(coco_gt, classes: Sequence[str] | None,
                  ann_file: str = 'ground truth') -> tuple[list[int], list[str]]:
    """Category ids of ``classes`` (by name, in that order) and the names; all categories if None."""
    cats = sorted(coco_gt.dataset['categories'], key=lambda c: c['id'])
    if classes is None:
        return [c['id'] for c in cats], [c['name'] for c in cats]
    by_name = {c['name']: c['id'] for c in cats}
    missing = [c for c in classes if c not in by_name]
    if missing:
        raise ResultsError(f'{ann_file}: no category named {missing} (it has {sorted(by_name)}): the config\'s '
                           f'classes and the annotation file disagree')
    return [by_name[c] for c in classes], list(classes)


def load_results(path: str | os.PathLike, coco_gt, cat_ids: Sequence[int],
                 ann_file: str = 'the ground truth') -> dict[str, np.ndarray]:
    """Detections of ``path`` as column arrays (``image_id``, ``category_id``, ``bbox`` xywh, ``score``).

    ``path`` is a COCO results JSON (list of ``{image_id, category_id, bbox, score}``, as
    ``tools/test.py`` writes to ``detections.bbox.json``) or the ``.pkl`` of ``tools/test.py
    --out`` (mmdet's DumpDetResults; labels index ``cat_ids``). Detections for images or
    categories the ground truth lacks fail with a :class:`ResultsError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such results file')
    if path.suffix in ('.pkl', '.pickle'):
        arrays = _load_pkl(path, cat_ids)
    else:
        try:
            results = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ResultsError(f'{path}: not a JSON results file ({exc})') from exc
        if isinstance(results, dict) and 'annotations' in results:
            raise ResultsError(f'{path}: this is a COCO annotation file; give the detections (a list of '
                               f'{{image_id, category_id, bbox, score}}), e.g. WORK_DIR/detections.bbox.json')
        if not isinstance(results, list):
            raise ResultsError(f'{path}: COCO results must be a JSON list of {{image_id, category_id, bbox, score}}')
        try:
            arrays = detections_to_arrays(results)
        except (KeyError, TypeError, ValueError) as exc:
            bad = next((i for i, r in enumerate(results) if not _is_result(r)), None)
            raise ResultsError(f'{path}: entry {bad} is not {{image_id, category_id, bbox: [x, y, w, h], score}}: '
                               f'{str(results[bad])[:200] if bad is not None else exc}') from exc
    _check_results(path, arrays, coco_gt, cat_ids, ann_file)
    return arrays


def _is_result(r: Any) -> bool:
    """Whether ``r`` looks like one COCO box result (numbers where numbers belong)."""
    try:
        [float(v) for v in r['bbox']]
        float(r['score'])
        return len(r['bbox']) == 4 and int(r['image_id']) == r['image_id'] and int(r['category_id']) == r['category_id']
    except (KeyError, TypeError, ValueError):
        return False


def _load_pkl(path: Path, cat_ids: Sequence[int]) -> dict[str, np.ndarray]:
    try:
        with path.open('rb') as f:
            samples = pickle.load(f)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise ResultsError(f'{path}: cannot read the pickle ({type(exc).__name__}: {exc})') from exc
    if not isinstance(samples, list) or (samples and not all(isinstance(s, dict) and 'pred_instances' in s
                                                             for s in samples)):
        raise ResultsError(f'{path}: not a tools/test.py --out dump (a list of dicts with pred_instances)')
    cols: dict[str, list] = {'image_id': [], 'category_id': [], 'bbox': [], 'score': []}
    lut = np.asarray(cat_ids, dtype=np.int64)
    for i, sample in enumerate(samples):
        pred = sample['pred_instances']
        boxes = np.asarray(_numpy(pred['bboxes']), dtype=np.float64).reshape(-1, 4)
        labels = np.asarray(_numpy(pred['labels']), dtype=np.int64).reshape(-1)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(lut)):
            raise ResultsError(f'{path}: sample {i} has class label {int(labels.max())} but the ground truth has '
                               f'{len(lut)} classes: results of another dataset?')
        n = len(labels)
        cols['image_id'].append(np.full(n, int(sample.get('img_id', i)), dtype=np.int64))
        cols['category_id'].append(lut[labels])
        cols['bbox'].append(np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0],
                                      boxes[:, 3] - boxes[:, 1]], axis=1))
        cols['score'].append(np.asarray(_numpy(pred['scores']), dtype=np.float64).reshape(-1))
    if not samples:
        return detections_to_arrays([])
    return detections_to_arrays({k: np.concatenate(v) for k, v in cols.items()})


def _numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)


def _check_results(path: Path, arrays: Mapping[str, np.ndarray], coco_gt, cat_ids: Sequence[int],
                   ann_file: str) -> None:
    known = np.fromiter(coco_gt.imgs.keys(), np.int64, len(coco_gt.imgs))
    unknown = np.setdiff1d(arrays['image_id'], known)
    if len(unknown):
        n = int(np.isin(arrays['image_id'], unknown).sum())
        raise ResultsError(f'{path}: {n} of {len(arrays["image_id"])} detections are for image ids that '
                           f'{ann_file} does not have (e.g. {unknown[:5].tolist()}): results of another dataset '
                           f'or split?')
    bad_cats = np.setdiff1d(arrays['category_id'], np.asarray(cat_ids, dtype=np.int64))
    if len(bad_cats):
        raise ResultsError(f'{path}: detections with category ids {bad_cats[:10].tolist()} that are not among '
                           f'the evaluated classes of {ann_file} (ids {list(cat_ids)})')
    finite = np.isfinite(arrays['bbox']).all(1) & np.isfinite(arrays['score'])
    if not finite.all():
        raise ResultsError(f'{path}: {int((~finite).sum())} detections have non-finite boxes or scores '
                           f'(first at entry {int(np.flatnonzero(~finite)[0])})')
    if (arrays['bbox'][:, 2:] < 0).any():
        i = int(np.flatnonzero((arrays['bbox'][:, 2:] < 0).any(1))[0])
        raise ResultsError(f'{path}: entry {i} has a negative width or height: bbox must be [x, y, w, h]')


# --------------------------------------------------------------------------- metric pieces
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


def _pairs(d_key: np.ndarray, g_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (detection, ground truth) index pair with equal keys; ``g_key`` must be sorted."""
    start = np.searchsorted(g_key, d_key, 'left')
    counts = np.searchsorted(g_key, d_key, 'right') - start
    n = int(counts.sum())
    pair_d = np.repeat(np.arange(len(d_key)), counts)
    pair_g = np.repeat(start, counts) + (np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts))
    return pair_d, pair_g


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
    d_img = np.fromiter((img_pos[int(i)] for i in dets['image_id']), np.int64, len(dets['image_id']))
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
        pair_d, pair_g = _pairs(d_img[di], g_img[gi])
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


# --------------------------------------------------------------------------- the whole evaluation
class DetectionEvaluation:
    """Every metric of one set of detections; :attr:`summary` is the JSON-able report.

    Built by :func:`evaluate_detections`. Besides ``summary`` it keeps what the plots and
    pictures need: ``ev`` (the COCO evaluator with per-detection matches), ``classes``,
    ``cat_ids``, ``img_ids``, ``dets`` (input arrays), ``confusion`` ((K+1) x (K+1), rows =
    ground truth, columns = prediction, last = background), ``per_image`` (arrays ``tp``, ``fp``,
    ``fn`` per image of ``img_ids`` at ``score_thr``) and ``score_thr``.
    """

    def __init__(self, **kwargs: Any):
        self.__dict__.update(kwargs)

    def per_image_rows(self) -> list[dict]:
        """One dict per image: id, file name, TP/FP/FN at ``score_thr``, errors (FP+FN) and F1."""
        rows = []
        for n, img_id in enumerate(self.img_ids):
            tp, fp, fn = (int(self.per_image[k][n]) for k in ('tp', 'fp', 'fn'))
            denom = 2 * tp + fp + fn
            rows.append({'image_id': int(img_id), 'file_name': self.coco_gt.imgs[img_id].get('file_name', ''),
                         'tp': tp, 'fp': fp, 'fn': fn, 'errors': fp + fn,
                         'f1': 1.0 if denom == 0 else 2 * tp / denom})
        return rows

    def ranked_images(self, n: int) -> tuple[list[dict], list[dict]]:
        """The ``n`` worst images (most FP+FN, then lowest F1) and the ``n`` best (highest F1, then most TP)."""
        rows = self.per_image_rows()
        worst = sorted(rows, key=lambda r: (-r['errors'], r['f1'], r['image_id']))[:n]
        best = sorted(rows, key=lambda r: (-r['f1'], -r['tp'], r['image_id']))[:n]
        return worst, best


def _iou_index(iou_thrs: np.ndarray, iou: float) -> int:
    hits = np.flatnonzero(np.isclose(iou_thrs, iou))
    if not len(hits):
        raise ValueError(f'IoU {iou} is not one of the evaluated thresholds {list(iou_thrs)}')
    return int(hits[0])


def _mean_ap(p: np.ndarray) -> float | None:
    valid = p[p > -1]
    return float(np.mean(valid)) if valid.size else None


def evaluate_detections(coco_gt, dets: Mapping[str, np.ndarray], classes: Sequence[str] | None = None,
                        evaluator: str = 'fast', score_thr: float | None = None, iou_thr: float = 0.5,
                        max_dets: Sequence[int] = COCO_MAX_DETS, ann_file: str = 'ground truth'
                        ) -> DetectionEvaluation:
    """Compute every metric of ``dets`` (arrays from :func:`load_results`) against ``coco_gt``.

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
    order_k = [ev.params.catIds.index(c) for c in cat_ids]  # COCOeval sorts category ids; report in class order
    summary: dict[str, Any] = {'evaluator': evaluator, 'max_dets': list(ev.params.maxDets)}
    coco = ev
    if evaluator == 'pycocotools':
        coco = evaluate_bbox(coco_gt, dets, img_ids=img_ids, cat_ids=cat_ids, max_dets=max_dets, fast=False)
        summary['evaluator_max_abs_diff'] = max(
            float(np.abs(coco.eval[k] - ev.eval[k]).max()) for k in ('precision', 'recall', 'scores'))
    stats = coco.stats
    md = ev.params.maxDets
    summary['overall'] = {name: _value(stats[i]) for i, (name, _) in enumerate(SUMMARY_KEYS)}
    summary['recall'] = {f'AR@{md[0]}': _value(stats[6]), f'AR@{md[1]}': _value(stats[7]),
                         f'AR@{md[2]}': _value(stats[8]), f'AR_small@{md[2]}': _value(stats[9]),
                         f'AR_medium@{md[2]}': _value(stats[10]), f'AR_large@{md[2]}': _value(stats[11])}
    precision = coco.eval['precision']
    t50, t75 = _iou_index(ev.params.iouThrs, 0.5), _iou_index(ev.params.iouThrs, 0.75)
    summary['per_class_AP50:95'] = {n: _mean_ap(precision[:, :, k, 0, -1]) for n, k in zip(names, order_k)}
    summary['per_class_AP50'] = {n: _mean_ap(precision[t50, :, k, 0, -1]) for n, k in zip(names, order_k)}
    summary['per_class_AP75'] = {n: _mean_ap(precision[t75, :, k, 0, -1]) for n, k in zip(names, order_k)}

    # best-F1 operating point, COCO matching at iou_thr, area 'all'
    t = _iou_index(ev.params.iouThrs, iou_thr)
    tp, fp = ev.det_tp[0, t], ev.det_fp[0, t]
    n_pos = np.bincount(ev.gt_cat[~ev.gt_ignore[0]], minlength=len(cat_ids))
    overall = best_f1(ev.det_score, tp, fp, int(n_pos.sum()))
    per_class = {}
    for n, k in zip(names, order_k):
        sel = ev.det_cat == k
        per_class[n] = best_f1(ev.det_score[sel], tp[sel], fp[sel], int(n_pos[k]))
    summary['best_f1'] = {'iou_thr': iou_thr, 'overall': overall, 'per_class': per_class}

    voc = voc_eval(coco_gt, dets, cat_ids, iou_thr)
    summary['voc_mAP50'] = voc['mAP'] if iou_thr == 0.5 else None
    summary['voc'] = {'iou_thr': iou_thr, 'mAP': voc['mAP'],
                      'per_class': {n: {'area': c['area'], '11points': c['11points'], 'num_gts': c['num_gts']}
                                    for n, c in zip(names, voc['per_class'])}}

    if score_thr is None:
        score_thr = overall['score_thr'] if overall['score_thr'] is not None else 0.5
    keep = ev.det_score >= score_thr
    confusion = _confusion_matrix(ev, keep, t, iou_thr, order_k, len(names))
    nI = len(img_ids)
    gt_pos = ~ev.gt_ignore[0]
    per_image = {'tp': np.bincount(ev.det_img[keep & tp], minlength=nI),
                 'fp': np.bincount(ev.det_img[keep & fp], minlength=nI)}
    per_image['fn'] = np.bincount(ev.gt_img[gt_pos], minlength=nI) - per_image['tp']
    summary['score_thr'] = float(score_thr)
    summary['confusion_matrix'] = {'score_thr': float(score_thr), 'iou_thr': iou_thr,
                                   'labels': [*names, 'background'], 'rows': 'ground truth',
                                   'columns': 'prediction', 'matrix': confusion.tolist()}
    summary['counts'] = {'images': nI, 'gt_boxes': int(n_pos.sum()), 'gt_ignored': int((~gt_pos).sum()),
                         'detections': int(len(dets['score'])), 'evaluated_detections': int(len(ev.det_score)),
                         'images_with_detections': int(len(np.unique(dets['image_id'])))}
    return DetectionEvaluation(summary=summary, ev=ev, coco_gt=coco_gt, classes=names, cat_ids=cat_ids,
                               class_index=order_k, img_ids=img_ids, dets=dets, confusion=confusion,
                               per_image=per_image, score_thr=float(score_thr), iou_t=t)


def _confusion_matrix(ev: FastCOCOeval, keep: np.ndarray, t: int, iou_thr: float, order_k: Sequence[int],
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
    gt_match = ev.det_gt[t]
    crowd = ev.gt_crowd
    matched = keep & (gt_match >= 0)
    on_crowd = matched & crowd[np.where(matched, gt_match, 0)]
    tp = matched & ~on_crowd
    np.add.at(m, (row_of[ev.det_cat[tp]], row_of[ev.det_cat[tp]]), 1)
    gt_free = ~crowd.copy()
    gt_free[gt_match[tp]] = False
    d_left = np.flatnonzero(keep & ~matched)
    # left-over detections vs free boxes of the same image (any class), greedy in score order
    g_free_idx = np.flatnonzero(gt_free)
    if len(d_left) and len(g_free_idx):
        pair_d, pair_g = _pairs(ev.det_img[d_left], ev.gt_img[g_free_idx])
        if len(pair_d):
            iou = _iou_pairs(ev.det_bbox[d_left[pair_d]], ev.gt_bbox[g_free_idx[pair_g]],
                             np.zeros(len(pair_d), bool))
            ok = iou >= iou_thr
            pair_d, pair_g, iou = pair_d[ok], pair_g[ok], iou[ok]
            score = ev.det_score[d_left[pair_d]]
            order = np.lexsort((-iou, pair_d, -score))
            used_d, used_g = set(), set()
            for i in order:
                d, g = int(pair_d[i]), int(pair_g[i])
                if d in used_d or g in used_g:
                    continue
                used_d.add(d)
                used_g.add(g)
                gi = g_free_idx[g]
                m[row_of[ev.gt_cat[gi]], row_of[ev.det_cat[d_left[d]]]] += 1
                gt_free[gi] = False
            d_left = np.delete(d_left, sorted(used_d))
    np.add.at(m, (K, row_of[ev.det_cat[d_left]]), 1)
    np.add.at(m, (row_of[ev.gt_cat[gt_free]], K), 1)
    return m


# --------------------------------------------------------------------------- printing
def format_report(summary: Mapping) -> str:
    """Plain-text tables of an :func:`evaluate_detections` summary."""
    lines = ['metric        value', '------------  ------']
    lines += [f'{name:<12}  {_cell(value, 6)}' for name, value in summary['overall'].items()]
    voc = summary.get('voc') or {}
    if voc:
        iou = int(round(voc['iou_thr'] * 100))
        lines.append(f'{f"VOC{iou} area":<12}  {_cell(voc["mAP"]["area"], 6)}')
        lines.append(f'{f"VOC{iou} 11pt":<12}  {_cell(voc["mAP"]["11points"], 6)}')
    f1 = summary.get('best_f1')
    if f1:
        o = f1['overall']
        thr = 'n/a' if o['score_thr'] is None else f'{o["score_thr"]:.3f}'
        lines += ['', f'best F1 over all classes (IoU {f1["iou_thr"]}): score >= {thr}: precision '
                  f'{o["precision"]:.3f}  recall {o["recall"]:.3f}  F1 {o["f1"]:.3f}  '
                  f'(TP {o["tp"]}, FP {o["fp"]}, FN {o["fn"]})']
    names = list(summary['per_class_AP50:95'])
    if names:
        width = max(12, *(len(n) for n in names))
        lines += ['', f'{"class":<{width}}  AP50:95   AP50  VOC-area  VOC-11pt  score_thr      P      R     F1',
                  f'{"-" * width}  -------  -----  --------  --------  ---------  -----  -----  -----']
        for n in names:
            voc_c = (voc.get('per_class') or {}).get(n, {})
            b = (f1 or {}).get('per_class', {}).get(n) or {}
            thr = b.get('score_thr')
            lines.append(f'{n:<{width}}  {_cell(summary["per_class_AP50:95"][n], 7)}  '
                         f'{_cell(summary["per_class_AP50"].get(n), 5)}  {_cell(voc_c.get("area"), 8)}  '
                         f'{_cell(voc_c.get("11points"), 8)}  {_cell(thr, 9)}  {_cell(b.get("precision"), 5)}  '
                         f'{_cell(b.get("recall"), 5)}  {_cell(b.get("f1"), 5)}')
    cm = summary.get('confusion_matrix')
    if cm:
        labels = cm['labels']
        width = max(10, *(len(n) for n in labels))
        lines += ['', f'confusion matrix (IoU {cm["iou_thr"]}, score >= {cm["score_thr"]:.3f}; rows: ground truth, '
                  f'columns: prediction)',
                  ' ' * width + ''.join(f'  {n[:width]:>{width}}' for n in labels)]
        for name, row in zip(labels, cm['matrix']):
            lines.append(f'{name:<{width}}' + ''.join(f'  {v:>{width}d}' for v in row))
    return '\n'.join(lines)
