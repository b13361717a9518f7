"""Ensembles without re-running models: weighted boxes fusion of several COCO detection result files.

The inputs are result files as ``tools/test.py`` writes them (``WORK_DIR/detections.bbox.json``: a
list of ``{image_id, category_id, bbox: [x, y, w, h] in pixels, score}``), one per model, made on the
same images. Each image's boxes of each class are fused by mmdet's ``weighted_boxes_fusion``
(``mmdet.models.utils.wbf``, ZFTurbo's WBF): boxes sorted by weight x score join the first cluster
whose fused box overlaps them with IoU > ``iou_thr``; a cluster's box is the (weight x score)-weighted
mean of its boxes. With ``conf_type='avg'`` and at most one box a model in the cluster, its score is
sum(weight x score) / sum of all models' weights (a box every model found: the weighted mean score; a
box one model found: its score times that model's share of the weights). Boxes of different images or
classes never fuse.

mmdet's function neither clips nor normalises: its IoU and weighted mean do not depend on the unit,
so pixel corners go in and pixel corners come out (converted from and back to COCO's [x, y, w, h]);
no image sizes are needed. (mmdet's ``tools/analysis_tools/fuse_results.py`` passes [x, y, w, h] as
if they were corners, so it cannot fuse these files.) Boxes without area are left out and counted,
as mmdet's function would skip them with a warning each.

Imports numpy and pycocotools; torch and mmdet only when fusing (mmdet's function).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import numpy as np

from custom.engine.config import COCO_MAX_DETS
from custom.evaluation.results_io import (arrays_to_results, class_cat_ids, detections_to_arrays,
                                          id_column, load_ground_truth, load_results, read_results_json)

CONF_TYPES = ('avg', 'max', 'box_and_model_avg', 'absent_model_aware_avg')


class FusionError(ValueError):
    """Result files or settings that cannot be fused; the message names the file or option and the fix."""


@dataclasses.dataclass(frozen=True)
class FusionResult:
    """A fusion's output: the fused detections (column arrays, pixel [x, y, w, h]) and what went in."""

    detections: dict[str, np.ndarray]
    weights: tuple[float, ...]
    input_counts: tuple[int, ...]  # detections read from each input
    zero_area: tuple[int, ...]  # boxes without area left out of each input
    images: int  # images with a detection in any input
    inputs: tuple[str, ...] = ()  # the files read, when fused from files

    @property
    def count(self) -> int:
        """Number of fused detections."""
        return len(self.detections['score'])


def well_formed(entry: Any) -> bool:
    """Whether ``entry`` is one COCO box result: the four keys, a bbox of four numbers and a numeric score."""
    try:
        numbers = [float(v) for v in (*entry['bbox'], entry['score'])]
        return len(numbers) == 5 and entry['image_id'] is not None and entry['category_id'] is not None
    except (KeyError, TypeError, ValueError):
        return False


def read_detections(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A COCO results JSON as column arrays (``image_id``, ``category_id``, ``bbox`` xywh, ``score``), checked:
    a list of well-formed entries, at least one, integer category ids, finite numbers, no negative sizes
    (:class:`FusionError`, or :class:`custom.evaluation.results_io.ResultsError` for a file that is no such list)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such results file (tools/test.py writes WORK_DIR/detections.bbox.json)')
    results = read_results_json(path)
    if not results:
        raise FusionError(f'{path}: holds no detection, nothing to fuse: leave it out, or re-run tools/test.py '
                          f'(a lower test_cfg score_thr keeps more boxes)')
    bad = next((i for i, r in enumerate(results) if not well_formed(r)), None)
    if bad is not None:
        raise FusionError(f'{path}: entry {bad} is not {{image_id, category_id, bbox: [x, y, w, h], score}}: '
                          f'{str(results[bad])[:200]}')
    arrays = detections_to_arrays(results)
    if arrays['category_id'].dtype.kind != 'i':
        raise FusionError(f'{path}: category ids must be integers (COCO category ids)')
    finite = np.isfinite(arrays['bbox']).all(1) & np.isfinite(arrays['score'])
    negative = (arrays['bbox'][:, 2:] < 0).any(1)
    if not finite.all() or negative.any():
        i = int(np.flatnonzero(~finite | negative)[0])
        raise FusionError(f'{path}: entry {i} has a non-finite number or a negative size: {results[i]} '
                          f'(bbox must be [x, y, w, h] in pixels)')
    return arrays


def check_image_sets(inputs: Sequence[Mapping[str, np.ndarray]], paths: Sequence[str],
                     image_ids: Collection[Any] | None = None, cat_ids: Collection[int] | None = None,
                     ann_file: str = '--ann') -> None:
    """Raise :class:`FusionError` naming the file when an input has detections for images or classes the
    annotation file lacks (``image_ids``, ``cat_ids``), or, without them, shares no image with the first input."""
    first = set(inputs[0]['image_id'].tolist())
    for arrays, path in zip(inputs, paths):
        ids = set(arrays['image_id'].tolist())
        if image_ids is None:
            if not ids & first:
                raise FusionError(f'{path}: shares no image id with {paths[0]} (e.g. {sorted(ids, key=str)[:5]} vs '
                                  f'{sorted(first, key=str)[:5]}): results of another image set or split; fuse '
                                  f'results made on the same images (--ann checks them against the annotation file)')
            continue
        unknown = sorted(ids - set(image_ids), key=str)
        if unknown:
            raise FusionError(f'{path}: detections for {len(unknown)} image ids that {ann_file} does not have '
                              f'(e.g. {unknown[:5]}): results of another image set or split; fuse results made '
                              f'on the images of {ann_file}, or give their annotation file')
        bad_cats = sorted(set(arrays['category_id'].tolist()) - set(cat_ids)) if cat_ids is not None else []
        if bad_cats:
            raise FusionError(f'{path}: category ids {bad_cats[:10]} that {ann_file} does not have '
                              f'(it has {sorted(cat_ids)}): results of another dataset?')


def check_settings(n_inputs: int, weights: Sequence[float] | None, iou_thr: float, skip_box_thr: float,
                   conf_type: str) -> tuple[float, ...]:
    """The model weights (1 each by default), after checking every fusion setting; raises :class:`FusionError`."""
    if n_inputs < 2:
        raise FusionError(f'{n_inputs} results file: fusion needs two or more (one per model)')
    weights = tuple(float(w) for w in weights) if weights else (1.0,) * n_inputs
    if len(weights) != n_inputs:
        raise FusionError(f'--weights: {len(weights)} weights for {n_inputs} results files: give one weight per '
                          f'file, in the same order (or none for equal weights)')
    if not all(math.isfinite(w) and w > 0 for w in weights):
        raise FusionError(f'--weights {list(weights)}: weights must be positive numbers')
    if not 0 < iou_thr < 1:
        raise FusionError(f'--iou-thr {iou_thr}: the IoU that makes boxes one must be between 0 and 1')
    if not 0 <= skip_box_thr < 1:
        raise FusionError(f'--skip-box-thr {skip_box_thr}: a score threshold must be in [0, 1)')
    if conf_type not in CONF_TYPES:
        raise FusionError(f'--conf-type {conf_type!r}: one of {", ".join(CONF_TYPES)}')
    return weights


def fuse_detections(inputs: Sequence[Mapping[str, np.ndarray]], weights: Sequence[float] | None = None,
                    iou_thr: float = 0.55, skip_box_thr: float = 0.0, conf_type: str = 'avg') -> FusionResult:
    """Fuse the detections of several models (column arrays, as :func:`read_detections` gives) image by image
    with mmdet's ``weighted_boxes_fusion``; boxes stay in pixels. ``skip_box_thr`` drops input boxes scoring
    below it; ``conf_type`` is mmdet's (:data:`CONF_TYPES`)."""
    weights = check_settings(len(inputs), weights, iou_thr, skip_box_thr, conf_type)
    from mmdet.models.utils.wbf import weighted_boxes_fusion
    kept, zero_area = [], []
    for arrays in inputs:
        has_area = (arrays['bbox'][:, 2] > 0) & (arrays['bbox'][:, 3] > 0)
        zero_area.append(int((~has_area).sum()))
        xyxy = np.concatenate([arrays['bbox'][:, :2], arrays['bbox'][:, :2] + arrays['bbox'][:, 2:]], axis=1)
        kept.append({'image_id': arrays['image_id'][has_area], 'category_id': arrays['category_id'][has_area],
                     'xyxy': xyxy[has_area], 'score': arrays['score'][has_area]})
    rows: dict[Any, list[list[int]]] = {}  # image id -> per input, the rows of that image
    for m, arrays in enumerate(kept):
        for i, img_id in enumerate(arrays['image_id'].tolist()):
            rows.setdefault(img_id, [[] for _ in kept])[m].append(i)
    out_ids: list[Any] = []
    cats, boxes, scores = [], [], []
    for img_id, per_input in rows.items():
        fused_boxes, fused_scores, fused_labels = weighted_boxes_fusion(
            [k['xyxy'][r] for k, r in zip(kept, per_input)], [k['score'][r] for k, r in zip(kept, per_input)],
            [k['category_id'][r] for k, r in zip(kept, per_input)], weights=list(weights), iou_thr=iou_thr,
            skip_box_thr=skip_box_thr, conf_type=conf_type)
        if not len(fused_scores):
            continue
        corners = fused_boxes.numpy().astype(np.float64).reshape(-1, 4)
        boxes.append(np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1))
        scores.append(fused_scores.numpy().astype(np.float64))
        cats.append(fused_labels.numpy().astype(np.int64))
        out_ids += [img_id] * len(corners)
    fused = {'image_id': id_column(out_ids), 'category_id': np.concatenate(cats) if cats else np.zeros(0, np.int64),
             'bbox': np.concatenate(boxes) if boxes else np.zeros((0, 4)),
             'score': np.concatenate(scores) if scores else np.zeros(0)}
    return FusionResult(detections=fused, weights=weights,
                        input_counts=tuple(len(a['score']) for a in inputs), zero_area=tuple(zero_area),
                        images=len(rows))


def fuse_files(paths: Sequence[str | os.PathLike], out: str | os.PathLike, weights: Sequence[float] | None = None,
               iou_thr: float = 0.55, skip_box_thr: float = 0.0, conf_type: str = 'avg',
               ann_file: str | os.PathLike | None = None) -> FusionResult:
    """Read and check the result files (against ``ann_file``'s images and classes when given), fuse them
    (:func:`fuse_detections`) and write the fused COCO results to ``out``. The inputs are only read; an
    ``out`` that is one of them is refused."""
    paths = [str(p) for p in paths]
    out_path = Path(out)
    for p in paths:
        if out_path.resolve() == Path(p).resolve():
            raise FusionError(f'--out {out}: is one of the inputs; write the fused results to a new file')
    check_settings(len(paths), weights, iou_thr, skip_box_thr, conf_type)
    inputs = [read_detections(p) for p in paths]
    if ann_file is not None:
        coco_gt = load_ground_truth(ann_file)
        check_image_sets(inputs, paths, set(coco_gt.imgs), set(coco_gt.cats), str(ann_file))
    else:
        check_image_sets(inputs, paths)
    result = fuse_detections(inputs, weights, iou_thr, skip_box_thr, conf_type)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(arrays_to_results(result.detections)))
    return dataclasses.replace(result, inputs=tuple(paths))


def score_files(ann_file: str | os.PathLike, paths: Sequence[str | os.PathLike],
                max_dets: Sequence[int] = COCO_MAX_DETS) -> list[dict[str, Any]]:
    """COCO mAP50 and mAP50:95 of each result file against ``ann_file`` over all its classes, computed as
    ``tools/test.py`` and ``analyze_results.py`` do (:func:`custom.evaluation.metrics.evaluate_detections`)."""
    from custom.evaluation.metrics import evaluate_detections
    coco_gt = load_ground_truth(ann_file)
    cat_ids, names = class_cat_ids(coco_gt, None, str(ann_file))
    rows = []
    for path in paths:
        dets = load_results(path, coco_gt, cat_ids, str(ann_file))
        overall = evaluate_detections(coco_gt, dets, names, max_dets=max_dets, ann_file=str(ann_file)
                                      ).summary['overall']
        rows.append({'file': str(path), 'detections': int(len(dets['score'])), 'mAP50': overall['mAP50'],
                     'mAP50:95': overall['mAP50:95']})
    return rows


def format_scores(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`score_files` as an aligned text table (the last row is the fused file)."""
    width = max(len(r['file']) for r in rows)

    def number(v: float | None) -> str:
        return '   n/a' if v is None else f'{v:6.3f}'
    lines = [f'{"results":<{width}}  {"mAP50":>6}  {"mAP50:95":>8}  {"boxes":>7}']
    lines += [f'{r["file"]:<{width}}  {number(r["mAP50"])}  {number(r["mAP50:95"]):>8}  {r["detections"]:>7}'
              for r in rows]
    return '\n'.join(lines)
