"""A vectorised numpy re-implementation of pycocotools' ``COCOeval`` for boxes, same numbers.

``FastCOCOeval`` subclasses ``pycocotools.cocoeval.COCOeval`` and replaces ``evaluate`` and
``accumulate`` (``summarize`` is the original, so the printed table is the same). It
reproduces COCOeval's rules exactly, quirks included:

* detections sorted by score with a stable sort, cut to ``maxDets[-1]`` per (image, class);
* greedy matching per IoU threshold in score order: a detection takes the unmatched
  regular (non-ignored) ground truth with the highest IoU >= threshold, the *last* one on
  ties, and only when none qualifies an ignored one (crowd, or outside the area range);
  crowd boxes can be matched many times and their IoU is intersection / detection area;
* ``ignore`` of a ground truth is its ``iscrowd`` flag, areas come from the annotation's
  ``area`` (detections: ``w * h``), ranges are inclusive at both ends;
* 101-point interpolated precision with ``np.spacing(1)`` in the denominator, ``-1`` where a
  class has no ground truth in a range.

Only (detection, ground truth) pairs of one image and class with IoU >= the lowest threshold
can be matched; the greedy part (:mod:`custom.evaluation.coco_matching`) runs on those alone,
one numpy step per detection rank over all images and classes, so time and memory grow with the
number of such pairs, not with the square of the boxes in the densest image.

As in COCOeval, image ids may be any hashable values (e.g. file-name strings), and
``params.useCats = 0`` is supported: every image is one group of all the evaluated classes
(ground truth and detections listed class by class, COCOeval's order), ``maxDets`` counts per
image, and ``accumulate`` reports one class (``params.catIds`` becomes ``[-1]``, as COCOeval's).
"""
from __future__ import annotations

import contextlib
import datetime
import io
import time
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval, Params

from custom.evaluation.coco_matching import candidate_pairs, greedy_match
from custom.evaluation.matches import DetectionMatches
from custom.evaluation.results_io import arrays_to_results, detections_to_arrays, id_positions, plain_id, quiet_coco


def _segments(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each key 0..n-1 in the sorted ``keys``."""
    return np.searchsorted(keys, np.arange(n), 'left'), np.searchsorted(keys, np.arange(n), 'right')


class FastCOCOeval(COCOeval):
    """Drop-in ``COCOeval(coco_gt, coco_dt, 'bbox')`` for boxes; ``evaluate``/``accumulate`` in numpy.

    ``coco_dt`` may be a ``COCO`` from ``loadRes`` (as for COCOeval), or a list of result dicts
    / dict of arrays, which skips the slow ``loadRes``. Besides ``eval`` and ``stats``, after
    :meth:`evaluate` the verdict of every detection is :meth:`matches`.
    """

    def __init__(self, cocoGt: COCO | None = None, cocoDt: Any = None, iouType: str = 'bbox'):
        if iouType != 'bbox':
            raise NotImplementedError(f'FastCOCOeval evaluates boxes only, not {iouType!r}')
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt if isinstance(cocoDt, COCO) else None
        self._dets = cocoDt
        self.evalImgs = []
        self.eval = {}
        self.params = Params(iouType=iouType)
        self._paramsEval = {}
        self.stats = []
        self.ious = {}
        if cocoGt is not None:
            self.params.imgIds = sorted(cocoGt.getImgIds())
            self.params.catIds = sorted(cocoGt.getCatIds())

    def matches(self) -> DetectionMatches:
        """Per-detection verdicts (area range 'all') of the last :meth:`evaluate`."""
        if not hasattr(self, '_det_tp'):
            raise RuntimeError('FastCOCOeval.matches() needs evaluate() first')
        return DetectionMatches(
            iou_thrs=np.asarray(self.params.iouThrs, dtype=np.float64), det_index=self._det_index,
            det_img=self._det_img, det_cat=self._det_cat, det_score=self._det_score, det_bbox=self._det_bbox,
            tp=self._det_tp[0], fp=self._det_fp[0], det_gt=self._det_gt, gt_index=self._gt_index,
            gt_img=self._gt_img, gt_cat=self._gt_cat, gt_bbox=self._gt_bbox, gt_crowd=self._gt_crowd,
            gt_ignore=self._gt_ignore[0])

    # ----------------------------------------------------------------------------- inputs
    def _gt_arrays(self, img_pos: dict, cat_pos: dict) -> dict[str, np.ndarray]:
        anns = self.cocoGt.dataset.get('annotations', [])
        keep = [i for i, a in enumerate(anns) if a['image_id'] in img_pos and a['category_id'] in cat_pos]
        n = len(keep)
        sel = [anns[i] for i in keep]
        bbox = np.array([a['bbox'] for a in sel], dtype=np.float64).reshape(-1, 4)
        return {'index': np.asarray(keep, dtype=np.int64),
                'img': np.fromiter((img_pos[a['image_id']] for a in sel), np.int64, n),
                'cat': np.fromiter((cat_pos[a['category_id']] for a in sel), np.int64, n),
                'bbox': bbox,
                'area': np.fromiter((a['area'] if 'area' in a else a['bbox'][2] * a['bbox'][3] for a in sel),
                                    np.float64, n),
                'crowd': np.fromiter((bool(a.get('iscrowd', 0)) for a in sel), bool, n),
                'id': np.fromiter((a['id'] for a in sel), np.int64, n)}

    def _det_arrays(self) -> dict[str, np.ndarray]:
        if self.cocoDt is not None:
            anns = self.cocoDt.dataset['annotations']
            arrays = detections_to_arrays(anns)
            arrays['id'] = np.fromiter((a['id'] for a in anns), np.int64, len(anns))
            arrays['area'] = np.fromiter((a['area'] for a in anns), np.float64, len(anns))
        else:
            arrays = detections_to_arrays(self._dets if self._dets is not None else [])
            arrays['id'] = np.arange(1, len(arrays['score']) + 1, dtype=np.int64)  # as loadRes
            arrays['area'] = arrays['bbox'][:, 2] * arrays['bbox'][:, 3]
        return arrays

    # ----------------------------------------------------------------------------- evaluate
    def evaluate(self) -> None:
        tic = time.time()
        p = self.params
        p.imgIds = list(np.unique(p.imgIds))
        p.catIds = list(np.unique(p.catIds))
        p.maxDets = sorted(p.maxDets)
        self.params = p
        img_ids = [plain_id(i) for i in p.imgIds]
        cat_ids = [plain_id(c) for c in p.catIds]
        img_pos = {i: n for n, i in enumerate(img_ids)}
        cat_pos = {c: n for n, c in enumerate(cat_ids)}
        nI, nK = len(img_ids), len(cat_ids) if p.useCats else 1
        thr = np.minimum(np.asarray(p.iouThrs, dtype=np.float64), 1 - 1e-10)
        area_rng = np.asarray(p.areaRng, dtype=np.float64)
        A, T = len(area_rng), len(thr)
        max_det = p.maxDets[-1]

        gt = self._gt_arrays(img_pos, cat_pos)
        dt = self._det_arrays()
        # detections of evaluated images and classes only (as _prepare)
        img_lookup = id_positions(dt['image_id'], img_pos)
        cat_lookup = id_positions(dt['category_id'], cat_pos)
        keep = (img_lookup >= 0) & (cat_lookup >= 0)
        d_index = np.flatnonzero(keep)
        d_img, d_cat = img_lookup[keep], cat_lookup[keep]
        d_key = d_img * nK + (d_cat if p.useCats else 0)  # useCats=0: one group per image
        d_score = dt['score'][keep]
        # by (image, class) then score, stable: the order of _dts after COCOeval's mergesort
        # (useCats=0: COCOeval lists an image's detections class by class before sorting)
        order = np.lexsort((d_cat, -d_score, d_key))
        d_index, d_img, d_cat, d_key, d_score = (a[order] for a in (d_index, d_img, d_cat, d_key, d_score))
        n_keys = nI * nK
        start, end = _segments(d_key, n_keys)
        rank = np.arange(len(d_key)) - start[d_key]
        cut = rank < max_det
        d_index, d_img, d_cat, d_key, d_score, rank = (
            a[cut] for a in (d_index, d_img, d_cat, d_key, d_score, rank))
        d_box = dt['bbox'][d_index]
        d_area = dt['area'][d_index]
        nD = len(d_index)

        # ground truth grouped by (image, class), file order kept inside a group (useCats=0: class, file order)
        g_key = gt['img'] * nK + (gt['cat'] if p.useCats else 0)
        g_order = np.lexsort((gt['cat'], g_key))
        gt = {k: v[g_order] for k, v in gt.items()}
        g_key = g_key[g_order]
        g_area_out = (gt['area'][None, :] < area_rng[:, :1]) | (gt['area'][None, :] > area_rng[:, 1:])
        g_ignore = gt['crowd'][None, :] | g_area_out  # (A, G)
        d_area_out = (d_area[None, :] < area_rng[:, :1]) | (d_area[None, :] > area_rng[:, 1:])  # (A, D)

        # defaults: nothing matched; unmatched detections outside an area range are ignored
        dt_ig = np.broadcast_to(d_area_out[:, None, :], (A, T, nD))
        self._det_tp = np.zeros((A, T, nD), bool)
        self._det_fp = ~dt_ig
        self._det_gt = np.full((T, nD), -1, dtype=np.int64)
        g_start, g_end = _segments(g_key, n_keys)
        c_d, c_g, c_iou = candidate_pairs(d_key, d_box, g_start, g_end, gt['bbox'], gt['crowd'], thr.min())
        if len(c_d):
            dets, sub = greedy_match(c_d, c_g, c_iou, d_key, gt['crowd'], g_ignore, thr)
            g_id = np.append(gt['id'], 0)  # index -1 -> id 0, COCOeval's "no match"
            dtm = g_id[sub]
            g_ig = np.append(g_ignore, np.zeros((A, 1), bool), axis=1)[np.arange(A)[:, None, None], sub]
            ig = ((sub >= 0) & g_ig) | ((dtm == 0) & d_area_out[:, None, dets])
            self._det_tp[:, :, dets] = (dtm != 0) & ~ig
            self._det_fp[:, :, dets] = (dtm == 0) & ~ig
            self._det_gt[:, dets] = sub[0]
        self._det_k = d_cat if p.useCats else np.zeros_like(d_cat)  # the K index of accumulate
        self._gt_k = gt['cat'] if p.useCats else np.zeros_like(gt['cat'])
        self._det_index, self._det_img, self._det_cat, self._det_score, self._det_rank = \
            d_index, d_img, d_cat, d_score, rank
        self._det_key = d_key
        self._gt_index, self._gt_img, self._gt_cat, self._gt_ignore = gt['index'], gt['img'], gt['cat'], g_ignore
        self._gt_bbox, self._gt_crowd = gt['bbox'], gt['crowd']
        self._det_bbox = d_box
        self._paramsEval = p
        self.eval_time = {'evaluate': time.time() - tic}

    # ----------------------------------------------------------------------------- accumulate
    def accumulate(self, p: Params | None = None) -> None:
        tic = time.time()
        if not hasattr(self, '_det_tp'):
            raise RuntimeError('run evaluate() before accumulate()')
        p = self.params if p is None else p
        if p is not self._paramsEval and (list(p.imgIds) != list(self._paramsEval.imgIds)
                                          or list(p.catIds) != list(self._paramsEval.catIds)):
            raise NotImplementedError('FastCOCOeval.accumulate takes the parameters evaluate() used')
        p.catIds = p.catIds if p.useCats else [-1]  # as COCOeval.accumulate
        T, R, K = len(p.iouThrs), len(p.recThrs), len(p.catIds)
        A, M = len(p.areaRng), len(p.maxDets)
        rec_thrs = np.asarray(p.recThrs)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        scores = -np.ones((T, R, K, A, M))
        npig = np.zeros((A, K), dtype=np.int64)
        for a in range(A):
            npig[a] = np.bincount(self._gt_k[~self._gt_ignore[a]], minlength=K)
        # per class, by score (stable: ties keep image order, then rank), as COCOeval's mergesort;
        # one gather into that order, so that a class is a slice
        order = np.lexsort((-self._det_score, self._det_k))
        c_start, c_end = _segments(self._det_k[order], K)
        tp_all = self._det_tp[:, :, order]
        counted_all = tp_all | self._det_fp[:, :, order]  # neither: ignored
        score_all, rank_all = self._det_score[order], self._det_rank[order]
        for k in range(K):
            if not npig[:, k].any():
                continue
            s0, s1 = c_start[k], c_end[k]
            done: dict[int, int] = {}  # number of detections kept -> maxDet index computed with them
            for m, max_det in enumerate(p.maxDets):
                keep = rank_all[s0:s1] < max_det
                nd = int(keep.sum())
                if nd in done:  # the same detections as a smaller maxDet (nested sets): same numbers
                    same = done[nd]
                    precision[:, :, k, :, m] = precision[:, :, k, :, same]
                    recall[:, k, :, m] = recall[:, k, :, same]
                    scores[:, :, k, :, m] = scores[:, :, k, :, same]
                    continue
                done[nd] = m
                sel = slice(s0, s1) if nd == s1 - s0 else s0 + np.flatnonzero(keep)
                # integer counts, exact; the float divisions below are COCOeval's own
                tp_sum = np.cumsum(tp_all[:, :, sel], axis=-1, dtype=np.int32)
                n_sum = np.cumsum(counted_all[:, :, sel], axis=-1, dtype=np.int32)  # = tp + fp
                pr = tp_sum / (n_sum + np.spacing(1))
                pr = np.maximum.accumulate(pr[..., ::-1], axis=-1)[..., ::-1]
                sc = score_all[sel]
                for a in range(A):
                    if npig[a, k] == 0:
                        continue
                    rc = tp_sum[a] / npig[a, k]  # (T, nd)
                    recall[:, k, a, m] = rc[:, -1] if nd else 0
                    for t in range(T):
                        inds = np.searchsorted(rc[t], rec_thrs, side='left')
                        n_ok = np.searchsorted(inds, nd)  # inds is sorted: those < nd come first
                        q = np.zeros(R)
                        ss = np.zeros(R)
                        q[:n_ok] = pr[a, t, inds[:n_ok]]
                        ss[:n_ok] = sc[inds[:n_ok]]
                        precision[t, :, k, a, m] = q
                        scores[t, :, k, a, m] = ss
        self.eval = {'params': p, 'counts': [T, R, K, A, M],
                     'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S'),
                     'precision': precision, 'recall': recall, 'scores': scores}
        self.npig = npig
        self.eval_time['accumulate'] = time.time() - tic

    def summarize(self, verbose: bool = True) -> None:
        """COCOeval's own summary (the 12 numbers in ``stats``); ``verbose=False`` prints nothing."""
        if verbose:
            super().summarize()
        else:
            with contextlib.redirect_stdout(io.StringIO()):
                super().summarize()


def evaluate_bbox(coco_gt: COCO | str | Mapping, dets: Any, img_ids: Iterable[Hashable] | None = None,
                  cat_ids: Iterable[int] | None = None, max_dets: Sequence[int] = (1, 10, 100),
                  iou_thrs: Sequence[float] | None = None, fast: bool = True):
    """Evaluate, accumulate and (silently) summarize; returns the evaluator (``.stats``, ``.eval``).

    ``fast=False`` runs pycocotools' own COCOeval on the same input (through ``loadRes``).
    """
    coco_gt = quiet_coco(coco_gt)
    if fast:
        ev = FastCOCOeval(coco_gt, dets, 'bbox')
    else:
        results = dets if not isinstance(dets, Mapping) else arrays_to_results(dets)
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco_gt.loadRes(list(results)) if len(results) else _empty_results(coco_gt)
        ev = COCOeval(coco_gt, coco_dt, 'bbox')
    if img_ids is not None:
        ev.params.imgIds = list(img_ids)
    if cat_ids is not None:
        ev.params.catIds = list(cat_ids)
    ev.params.maxDets = list(max_dets)
    if iou_thrs is not None:
        ev.params.iouThrs = np.asarray(iou_thrs, dtype=np.float64)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _empty_results(coco_gt: COCO) -> COCO:
    """A results COCO with no detection (pycocotools' loadRes cannot take an empty list)."""
    res = COCO()
    res.dataset = {'images': list(coco_gt.dataset['images']),
                   'categories': list(coco_gt.dataset['categories']), 'annotations': []}
    with contextlib.redirect_stdout(io.StringIO()):
        res.createIndex()
    return res
