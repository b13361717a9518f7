"""COCO matching on dense images and with useCats=0: hand-made cases and pycocotools itself as the reference."""
from __future__ import annotations

import contextlib
import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from pycocotools.cocoeval import COCOeval

from custom.evaluation.coco_matching import candidate_pairs, greedy_match
from custom.evaluation.fast_coco import FastCOCOeval
from custom.evaluation.results_io import quiet_coco
from test_evaluation import random_case


def run_both(gt: dict, dets: list[dict], max_dets=(100, 300, 1000), use_cats: int = 1):
    """pycocotools' COCOeval and FastCOCOeval on the same input, evaluated, accumulated and summarized."""
    coco = quiet_coco(gt)
    out = []
    with contextlib.redirect_stdout(io.StringIO()):
        for ev in (COCOeval(coco, coco.loadRes([dict(d) for d in dets]), 'bbox'),
                   FastCOCOeval(coco, [dict(d) for d in dets], 'bbox')):
            ev.params.maxDets = list(max_dets)
            ev.params.useCats = use_cats
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            out.append(ev)
    return out


def assert_same(ref: COCOeval, fast: FastCOCOeval) -> None:
    for key in ('precision', 'recall', 'scores'):
        assert fast.eval[key].shape == ref.eval[key].shape, key
        np.testing.assert_allclose(fast.eval[key], ref.eval[key], atol=1e-12, rtol=0, err_msg=key)
    np.testing.assert_allclose(fast.stats, ref.stats, atol=1e-12, rtol=0)


def dense_set(boxes: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """One crowded 300 x 300 image with ``boxes`` boxes (2 classes, all three COCO sizes, some crowd) and
    ~1.5 detections per box, plus ten sparse images: wide and narrow image-class groups together."""
    rng = np.random.default_rng(seed)
    anns, dets = [], []

    def add(img: int, n: int, canvas: float) -> None:
        side = np.exp(rng.uniform(np.log(4), np.log(140), (n, 2)))
        xy = rng.uniform(0, canvas, (n, 2))
        for k in range(n):
            box = [float(v) for v in np.r_[xy[k], side[k]].round(1)]
            cat = int(rng.integers(1, 3))
            anns.append({'id': len(anns) + 1, 'image_id': img, 'category_id': cat, 'bbox': box,
                         'area': box[2] * box[3], 'iscrowd': int(rng.random() < 0.03)})
            for _ in range(int(rng.integers(1, 3))):  # one or two detections compete for each box
                j = rng.normal(0, 0.1, 4)
                bb = [box[0] + j[0] * box[2], box[1] + j[1] * box[3], box[2] * np.exp(j[2]), box[3] * np.exp(j[3])]
                dets.append({'image_id': img, 'category_id': cat if rng.random() > 0.1 else 3 - cat,
                             'bbox': [round(float(v), 1) for v in bb], 'score': float(rng.choice([0.3, 0.5, 0.9]))
                             if rng.random() < 0.2 else round(float(rng.random()), 3)})

    add(1, boxes, 300.0)
    for img in range(2, 12):
        add(img, int(rng.integers(1, 6)), 500.0)
    gt = {'images': [{'id': i, 'file_name': f'{i}.jpg', 'width': 600, 'height': 600} for i in range(1, 12)],
          'categories': [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}], 'annotations': anns}
    return gt, dets


def test_candidate_pairs_keep_the_pairs_of_a_group_above_the_threshold():
    """IoUs by hand: same box 1.0, half the height 0.5, shifted by half the width 1/3; other groups never pair."""
    d_key = np.array([0, 1])
    d_box = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    g_box = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 10]], dtype=float)
    for chunk in (1, 2, 1 << 20):
        d, g, iou = candidate_pairs(d_key, d_box, np.array([0, 3]), np.array([3, 4]), g_box,
                                    np.zeros(4, bool), 0.5, chunk=chunk)
        assert d.tolist() == [0, 0, 1] and g.tolist() == [0, 2, 3]
        np.testing.assert_allclose(iou, [1.0, 0.5, 1.0])


def test_greedy_match_follows_cocoeval_rules():
    """Ties go to the last box, regular boxes before ignored ones, a taken box is gone, a crowd box stays."""
    d_key = np.array([0, 0, 1, 2, 2])  # detections 0, 1 in group 0 (score order), 2 in group 1, 3, 4 in group 2
    g_crowd = np.array([False, False, False, False, True])
    g_ignore = np.array([[False, False, False, True, True]])  # box 3: outside the area range; box 4: crowd
    pairs = [(0, 0, .8), (0, 1, .8), (1, 0, .6), (1, 1, .9), (2, 2, .55), (2, 3, .95), (3, 4, .9), (4, 4, .9)]
    c_d, c_g, c_iou = (np.array(v) for v in zip(*pairs))
    dets, out = greedy_match(c_d, c_g, c_iou, d_key, g_crowd, g_ignore, np.array([0.5, 0.7]))
    assert dets.tolist() == [0, 1, 2, 3, 4]
    assert out[0, 0].tolist() == [1, 0, 2, 4, 4]  # IoU 0.5: box 1 (tie, the last), box 0, the regular box 2
    assert out[0, 1].tolist() == [1, -1, 3, 4, 4]  # IoU 0.7: box 0 too far for 1; 2 takes the ignored box 3


def test_dense_image_equals_pycocotools():
    """500 overlapping boxes in one image beside sparse images: every array and stat as pycocotools."""
    gt, dets = dense_set(500)
    assert len(dets) > 600
    ref, fast = run_both(gt, dets, max_dets=(1, 100, 1000))
    assert_same(ref, fast)
    assert 0.05 < fast.stats[0] < 0.95


def test_use_cats_0_equals_pycocotools_on_a_dense_set():
    gt, dets = dense_set(150, seed=1)
    ref, fast = run_both(gt, dets, max_dets=(1, 10, 100), use_cats=0)
    assert fast.eval['precision'].shape[2] == 1 and fast.params.catIds == [-1]
    assert_same(ref, fast)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_use_cats_0_equals_pycocotools_on_random_cases(case):
    gt, dets, max_dets = case
    if not dets:  # pycocotools' loadRes cannot take an empty list
        return
    ref, fast = run_both(gt, dets, max_dets, use_cats=0)
    assert_same(ref, fast)
