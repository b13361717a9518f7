"""An exported file against its PyTorch checkpoint on a whole annotated split: box parity image by image
(:func:`custom.deployment.parity.compare`) and the COCO mAP of each backend, scored as ``tools/test.py``
scores a result file."""
from __future__ import annotations

import json
import os.path as osp
import tempfile
from dataclasses import dataclass
from typing import Any

from custom.deployment.parity import Parity, compare
from custom.deployment.runtime import load_onnx_detector
from custom.evaluation.fusion import score_files
from custom.inference.detector import Detections, load_detector
from custom.inference.media import read_image


@dataclass(frozen=True)
class SplitParity:
    """Totals over a split: boxes ``matched`` / ``unmatched`` / ``tied`` (scores above 0.05), the worst
    ``min_iou`` and ``max_score_diff`` of a pair, and each backend's mAP50 and mAP50:95."""
    images: int
    matched: int
    unmatched: int
    tied: int
    min_iou: float
    max_score_diff: float
    map_pytorch: dict[str, float]
    map_onnx: dict[str, float]


def coco_results(detections: Detections, image_id: Any, cat_ids: list[int]) -> list[dict]:
    """``detections`` of one image as COCO result entries (``[x, y, w, h]`` pixels)."""
    return [{'image_id': image_id, 'category_id': cat_ids[int(label)], 'score': float(score),
             'bbox': [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]}
            for (x1, y1, x2, y2), score, label in zip(detections.boxes, detections.scores, detections.labels)]


def check_split(config: str, checkpoint: str, onnx: str, ann_file: str, img_root: str) -> SplitParity:
    """Run both backends on every image of ``ann_file`` (found under ``img_root``) with the model's own
    test score cuts, compare their boxes and score both result sets against ``ann_file``."""
    torch_model = load_detector(config, checkpoint)
    onnx_model = load_onnx_detector(onnx, config=config)
    with open(ann_file) as f:
        gt = json.load(f)
    cat_ids = [c['id'] for c in sorted(gt['categories'], key=lambda c: c['id'])]
    results: dict[str, list] = {'pytorch': [], 'onnx': []}
    parities: list[Parity] = []
    for image in gt['images']:
        pixels = read_image(osp.join(img_root, image['file_name']))
        ref = torch_model.predict([pixels], score_thr=0.0)[0]
        out = onnx_model.predict([pixels], score_thr=0.0)[0]
        parities.append(compare(ref, out))
        results['pytorch'] += coco_results(ref, image['id'], cat_ids)
        results['onnx'] += coco_results(out, image['id'], cat_ids)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, entries in results.items():
            paths.append(osp.join(tmp, f'{name}.json'))
            with open(paths[-1], 'w') as f:
                json.dump(entries, f)
        rows = score_files(ann_file, paths)
    maps = [{k: row[k] for k in ('mAP50', 'mAP50:95')} for row in rows]
    return SplitParity(len(parities), sum(p.matched for p in parities), sum(p.unmatched for p in parities),
                       sum(p.tied for p in parities), min(p.min_iou for p in parities),
                       max(p.max_score_diff for p in parities), maps[0], maps[1])
