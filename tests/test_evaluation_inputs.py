"""Evaluator inputs: string image ids, classes without ground truth, repeated annotation ids."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from custom.evaluation.fast_coco import evaluate_bbox
from custom.evaluation.results_io import ResultsError, detections_to_arrays, load_ground_truth, quiet_coco
from test_evaluation import det, evaluate, jittered, tiny_gt


def string_id_set() -> tuple[dict, list[dict]]:
    """Three images named by their file names, two classes, jittered and random detections."""
    boxes = [(1, 1, 10, 10, 40, 30), (1, 2, 60, 20, 30, 50), (2, 1, 5, 80, 90, 60), (2, 2, 100, 100, 20, 20),
             (3, 1, 30, 30, 50, 50), (3, 1, 90, 90, 40, 40), (3, 2, 0, 0, 15, 15)]
    gt = tiny_gt(boxes, n_images=3)
    dets = jittered(gt, seed=3)
    names = {1: 'b/0001.jpg', 2: 'a/0002.jpg', 3: 'c.png'}  # sorted order differs from the numeric one
    for im in gt['images']:
        im['id'] = names[im['id']]
    for a in gt['annotations'] + dets:
        a['image_id'] = names[a['image_id']]
    return gt, dets


def test_string_image_ids_give_pycocotools_numbers():
    gt, dets = string_id_set()
    coco = quiet_coco(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = COCOeval(coco, coco.loadRes([dict(d) for d in dets]), 'bbox')
        ref.evaluate()
        ref.accumulate()
        ref.summarize()
    assert 0.1 < ref.stats[1] < 1.0
    for results in ([dict(d) for d in dets], detections_to_arrays(dets)):  # a results list and column arrays
        fast = evaluate_bbox(gt, results, max_dets=(1, 10, 100))
        for key in ('precision', 'recall', 'scores'):
            np.testing.assert_allclose(fast.eval[key], ref.eval[key], atol=1e-12, rtol=0, err_msg=key)
        np.testing.assert_allclose(fast.stats, ref.stats, atol=1e-12, rtol=0)
    assert detections_to_arrays(dets)['image_id'][0] == dets[0]['image_id']


def test_string_image_ids_through_evaluate_detections():
    gt, dets = string_id_set()
    result = evaluate(gt, dets)
    assert [r['image_id'] for r in result.per_image_rows()] == ['a/0002.jpg', 'b/0001.jpg', 'c.png']
    assert result.summary['counts']['gt_boxes'] == 7
    assert result.summary['overall']['mAP50'] == pytest.approx(evaluate_bbox(gt, dets).stats[1], abs=1e-12)


def test_detections_without_ground_truth_in_the_evaluated_classes_are_background():
    """One detection of class a; the only box is of class b, which is not evaluated: a false detection."""
    gt = tiny_gt([(1, 2, 10, 10, 20, 20)], classes=('a', 'b'))
    result = evaluate(gt, [det(1, 1, (10, 10, 20, 20), 0.9)], classes=['a'], score_thr=0.5)
    assert result.confusion.tolist() == [[0, 0], [1, 0]]  # rows: a, background; columns: a, background
    assert result.summary['overall']['mAP50'] is None  # no ground truth: no AP, not 0
    empty = evaluate(tiny_gt([], classes=('a', 'b')), [det(1, 2, (1, 1, 5, 5), 0.7)], score_thr=0.5)
    assert empty.confusion.tolist() == [[0, 0, 0], [0, 0, 0], [0, 1, 0]]


def test_repeated_annotation_ids_fail_naming_the_file(tmp_path):
    gt = tiny_gt([(1, 1, 10, 10, 20, 20), (1, 2, 50, 50, 20, 20), (1, 1, 90, 90, 20, 20)])
    gt['annotations'][2]['id'] = gt['annotations'][0]['id']
    path = tmp_path / 'instances_val.json'
    path.write_text(json.dumps(gt))
    with pytest.raises(ResultsError, match=r'instances_val\.json: repeated annotation ids \[1\] \(1 in all\)'):
        load_ground_truth(path)
    gt['annotations'][2]['id'] = 3
    path.write_text(json.dumps(gt))
    assert len(load_ground_truth(path).anns) == 3
