"""Metrics against pycocotools and mmdet, hand-made cases with known answers, plots, pictures, bad input."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools.cocoeval import COCOeval

from conftest import SAMPLE, run_tool
from custom.evaluation.fast_coco import FastCOCOeval, evaluate_bbox
from custom.evaluation.metrics import best_f1, evaluate_detections
from custom.evaluation.results_io import ResultsError, detections_to_arrays, load_ground_truth, load_results, quiet_coco
from custom.evaluation.voc_metric import voc_ap, voc_eval

CLASSES = ('Platelets', 'RBC', 'WBC')
PALETTE = [(255, 187, 0), (220, 20, 60), (30, 144, 255)]
SAMPLE_CONFIG = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py'


# --------------------------------------------------------------------------- helpers and fixtures
def jittered(gt: dict, seed: int = 0, copies: int = 2, noise: float = 0.08, wrong_class: float = 0.1,
             random_per_image: int = 5) -> list[dict]:
    """Synthetic detections: jittered copies of every box (some with the wrong class) plus random boxes."""
    rng = np.random.default_rng(seed)
    cats = [c['id'] for c in gt['categories']]
    dets = []
    for a in gt['annotations']:
        x, y, w, h = a['bbox']
        for _ in range(copies):
            j = rng.normal(0, noise, 4)
            cat = a['category_id'] if rng.random() > wrong_class else int(rng.choice(cats))
            dets.append({'image_id': a['image_id'], 'category_id': cat, 'score': float(rng.random()),
                         'bbox': [x + j[0] * w, y + j[1] * h, w * np.exp(j[2]), h * np.exp(j[3])]})
    for im in gt['images']:
        for _ in range(random_per_image):
            x, y = rng.uniform(0, 500, 2)
            w, h = rng.uniform(10, 150, 2)
            dets.append({'image_id': im['id'], 'category_id': int(rng.choice(cats)), 'bbox': [x, y, w, h],
                         'score': float(rng.random() * 0.6)})
    return dets


def reference(gt: dict | str, dets: list[dict], max_dets=(100, 300, 1000)) -> COCOeval:
    """pycocotools itself, with mmdet CocoMetric's parameters."""
    coco = quiet_coco(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes([dict(d) for d in dets]), 'bbox')
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    """The shipped BCCD sample as COCO (test split: 12 images) and jittered detections of it."""
    from custom.datasets.coco_writer import write_coco_splits
    root = tmp_path_factory.mktemp('data') / 'bccd_sample'
    write_coco_splits(SAMPLE, root)
    ann = root / 'annotations' / 'test.json'
    gt = json.loads(ann.read_text())
    dets = jittered(gt)
    results = root / 'detections.bbox.json'
    results.write_text(json.dumps(dets))
    return {'root': root, 'ann': ann, 'gt': gt, 'dets': dets, 'results': results, 'images': root / 'images'}


def tiny_gt(boxes: list[tuple], n_images: int = 1, classes=('a', 'b'), crowd: tuple = ()) -> dict:
    """COCO dict; each box is (image_id, category_id, x, y, w, h)."""
    images = [{'id': i + 1, 'file_name': f'{i + 1}.jpg', 'width': 200, 'height': 200} for i in range(n_images)]
    return {'images': images,
            'categories': [{'id': i + 1, 'name': n} for i, n in enumerate(classes)],
            'annotations': [{'id': k + 1, 'image_id': b[0], 'category_id': b[1], 'bbox': list(b[2:]),
                             'area': b[4] * b[5], 'iscrowd': int(k in crowd)} for k, b in enumerate(boxes)]}


def det(image_id, cat, bbox, score):
    return {'image_id': image_id, 'category_id': cat, 'bbox': list(bbox), 'score': score}


def evaluate(gt: dict, dets: list[dict], **kwargs):
    coco = quiet_coco(gt)
    return evaluate_detections(coco, detections_to_arrays(dets), **kwargs)


# --------------------------------------------------------------------------- equal to pycocotools
def test_real_detections_equal_pycocotools(sample):
    """BCCD sample with jittered detections: every array, the 12 stats and per-class AP as pycocotools."""
    ref = reference(str(sample['ann']), sample['dets'])
    fast = evaluate_bbox(str(sample['ann']), sample['dets'], max_dets=(100, 300, 1000))
    for key in ('precision', 'recall', 'scores'):
        np.testing.assert_allclose(fast.eval[key], ref.eval[key], atol=1e-12, rtol=0)
    np.testing.assert_allclose(fast.stats, ref.stats, atol=1e-12, rtol=0)
    coco = quiet_coco(str(sample['ann']))  # also from a loadRes COCO, as COCOeval is called
    with contextlib.redirect_stdout(io.StringIO()):
        drop_in = FastCOCOeval(coco, coco.loadRes([dict(d) for d in sample['dets']]), 'bbox')
        drop_in.params.maxDets = [100, 300, 1000]
        drop_in.evaluate()
        drop_in.accumulate()
        drop_in.summarize()
    np.testing.assert_allclose(drop_in.eval['precision'], ref.eval['precision'], atol=1e-12, rtol=0)

    result = evaluate_detections(load_ground_truth(sample['ann']), detections_to_arrays(sample['dets']),
                                 CLASSES, evaluator='pycocotools')
    s = result.summary
    assert s['evaluator_max_abs_diff'] <= 1e-12
    assert s['overall']['mAP50:95'] == pytest.approx(ref.stats[0], abs=1e-12)
    assert s['overall']['mAP50'] == pytest.approx(ref.stats[1], abs=1e-12)
    assert s['overall']['mAP_small'] is None  # no box under 32x32 in the sample: n/a, not -1
    for k, name in enumerate(CLASSES):  # categories 1..3 are the classes in order
        p = ref.eval['precision'][:, :, k, 0, -1]
        assert s['per_class_AP50:95'][name] == pytest.approx(p[p > -1].mean(), abs=1e-12)
        assert s['per_class_AP50'][name] == pytest.approx(p[0][p[0] > -1].mean(), abs=1e-12)
    assert 0.3 < s['overall']['mAP50'] < 1.0  # jittered boxes: far from perfect, far from zero


def test_mmdet_parameters_are_the_default(sample):
    """maxDets (100, 300, 1000) as CocoMetric: mAP50:95 at 100 detections, mAP50 at 1000 (COCOeval's summarize)."""
    s = evaluate(sample['gt'], sample['dets'], classes=CLASSES).summary
    assert s['max_dets'] == [100, 300, 1000]
    assert set(s['recall']) >= {'AR@100', 'AR@300', 'AR@1000'}


@st.composite
def random_case(draw):
    n_img = draw(st.integers(1, 4))
    n_cat = draw(st.integers(1, 3))
    coord = st.floats(0, 100, allow_nan=False, width=32)
    size = st.floats(1, 60, allow_nan=False, width=32)
    boxes, dets = [], []
    for img in range(1, n_img + 1):
        for _ in range(draw(st.integers(0, 5))):
            boxes.append((img, draw(st.integers(1, n_cat)), draw(coord), draw(coord), draw(size), draw(size)))
        for _ in range(draw(st.integers(0, 12))):
            if boxes and draw(st.booleans()):  # near a ground-truth box of any image/class
                b = draw(st.sampled_from(boxes))
                d = draw(st.tuples(*[st.floats(-8, 8, allow_nan=False, width=32)] * 4))
                bbox = (b[2] + d[0], b[3] + d[1], max(0.5, b[4] + d[2]), max(0.5, b[5] + d[3]))
            else:
                bbox = (draw(coord), draw(coord), draw(size), draw(size))
            score = draw(st.sampled_from([0.1, 0.5, 0.9])) if draw(st.booleans()) else draw(st.floats(0, 1))
            dets.append(det(img, draw(st.integers(1, n_cat)), bbox, score))
    crowd = tuple(i for i in range(len(boxes)) if draw(st.integers(0, 9)) == 0)
    gt = tiny_gt(boxes, n_img, classes=[f'c{i}' for i in range(1, n_cat + 1)], crowd=crowd)
    for a in gt['annotations']:  # annotation areas need not be w*h (area ranges use them)
        a['area'] *= draw(st.sampled_from([1.0, 0.5, 3.0, 100.0]))
    max_dets = draw(st.sampled_from([(1, 10, 100), (1, 2, 3), (100, 300, 1000)]))
    return gt, dets, max_dets


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_fast_evaluator_equals_cocoeval_on_random_cases(case):
    gt, dets, max_dets = case
    if not dets:  # pycocotools' loadRes cannot take an empty list
        return
    ref = reference(gt, dets, max_dets)
    fast = FastCOCOeval(quiet_coco(gt), [dict(d) for d in dets], 'bbox')
    fast.params.maxDets = list(max_dets)
    fast.evaluate()
    fast.accumulate()
    fast.summarize(verbose=False)
    for key in ('precision', 'recall', 'scores'):
        np.testing.assert_allclose(fast.eval[key], ref.eval[key], atol=1e-4, rtol=0, err_msg=key)
    np.testing.assert_allclose(fast.stats, ref.stats, atol=1e-4, rtol=0)


def test_voc_equals_mmdet_eval_map(sample):
    """VOC-style AP ('area' and '11points') as mmdet's eval_map, crowd boxes as its ignored boxes."""
    from mmdet.evaluation.functional import eval_map
    gt = json.loads(json.dumps(sample['gt']))
    for a in gt['annotations'][::9]:
        a['iscrowd'] = 1
    coco = quiet_coco(gt)
    arrays = detections_to_arrays(sample['dets'])
    mine = voc_eval(coco, arrays, [1, 2, 3])
    det_results, annotations = [], []
    for img in sorted(coco.imgs):
        per_class = []
        for cat in (1, 2, 3):
            sel = (arrays['image_id'] == img) & (arrays['category_id'] == cat)
            b = arrays['bbox'][sel].copy()
            b[:, 2:] += b[:, :2]
            per_class.append(np.hstack([b, arrays['score'][sel, None]]).astype(np.float32))
        det_results.append(per_class)
        ann = {}
        for key, crowd in (('', False), ('_ignore', True)):
            chosen = [a for a in coco.imgToAnns.get(img, []) if bool(a['iscrowd']) == crowd]
            b = np.array([a['bbox'] for a in chosen], dtype=np.float32).reshape(-1, 4)
            b[:, 2:] += b[:, :2]
            ann[f'bboxes{key}'] = b
            ann[f'labels{key}'] = np.array([a['category_id'] - 1 for a in chosen], dtype=np.int64)
        annotations.append(ann)
    for mode in ('area', '11points'):
        mean, per_class = eval_map(det_results, annotations, iou_thr=0.5, eval_mode=mode, logger='silent', nproc=1)
        assert mine['mAP'][mode] == pytest.approx(mean, abs=1e-5)
        for theirs, ours in zip(per_class, mine['per_class']):
            assert ours[mode] == pytest.approx(float(theirs['ap']), abs=1e-5)
            assert ours['num_gts'] == theirs['num_gts']


# --------------------------------------------------------------------------- known answers
def test_perfect_detections_score_one():
    gt = tiny_gt([(1, 1, 10, 10, 50, 40), (1, 2, 100, 100, 60, 60), (2, 1, 20, 30, 40, 40)], n_images=2)
    dets = [det(a['image_id'], a['category_id'], a['bbox'], 0.9) for a in gt['annotations']]
    s = evaluate(gt, dets).summary
    assert s['overall']['mAP50:95'] == pytest.approx(1.0)
    assert s['overall']['mAP50'] == pytest.approx(1.0)
    assert s['per_class_AP50'] == {'a': pytest.approx(1.0), 'b': pytest.approx(1.0)}
    assert s['voc_mAP50'] == {'area': pytest.approx(1.0), '11points': pytest.approx(1.0)}
    f1 = s['best_f1']['overall']
    assert (f1['precision'], f1['recall'], f1['f1'], f1['tp'], f1['fp'], f1['fn']) == (1.0, 1.0, 1.0, 3, 0, 0)
    assert s['confusion_matrix']['matrix'] == [[2, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_no_detections_score_zero():
    gt = tiny_gt([(1, 1, 10, 10, 50, 40), (1, 2, 100, 100, 60, 60)])
    s = evaluate(gt, []).summary
    assert s['overall']['mAP50:95'] == 0.0 and s['overall']['mAP50'] == 0.0
    assert s['voc_mAP50'] == {'area': 0.0, '11points': 0.0}
    assert s['best_f1']['overall'] == {'score_thr': None, 'precision': 0.0, 'recall': 0.0, 'f1': 0.0,
                                       'tp': 0, 'fp': 0, 'fn': 2}
    assert s['confusion_matrix']['matrix'] == [[0, 0, 1], [0, 0, 1], [0, 0, 0]]  # both missed: background column


@pytest.mark.parametrize('fp_score, ap', [(0.9, 2 / 3), (0.6, 1.0)])
def test_one_false_positive_ranks_by_its_score(fp_score, ap):
    """Two boxes found at 0.8 and 0.7; a false detection above them costs precision, below them nothing."""
    gt = tiny_gt([(1, 1, 10, 10, 40, 40), (1, 1, 100, 100, 40, 40)])
    dets = [det(1, 1, (10, 10, 40, 40), 0.8), det(1, 1, (100, 100, 40, 40), 0.7),
            det(1, 1, (150, 10, 30, 30), fp_score)]
    s = evaluate(gt, dets).summary
    assert s['per_class_AP50']['a'] == pytest.approx(ap)
    assert s['voc']['per_class']['a']['area'] == pytest.approx(ap)
    assert s['voc']['per_class']['a']['11points'] == pytest.approx(ap)
    best = s['best_f1']['per_class']['a']
    assert (best['score_thr'], best['tp'], best['recall']) == (0.7, 2, 1.0)
    assert best['precision'] == pytest.approx(2 / 3 if fp_score > 0.7 else 1.0)
    assert s['per_class_AP50']['b'] is None  # no ground truth of class b: n/a


def test_voc_11_points_and_area_on_a_known_curve():
    # precision 1 up to recall 0.5, then 0.5 up to recall 1
    recall, precision = np.array([0.25, 0.5, 0.75, 1.0]), np.array([1.0, 1.0, 0.6, 0.5])
    assert voc_ap(recall, precision, 'area') == pytest.approx(0.5 * 1.0 + 0.25 * 0.6 + 0.25 * 0.5)
    # recall >= 0, .1, ... .5: 1.0 (6 points); >= .6, .7: 0.6; >= .8, .9, 1.0: 0.5
    assert voc_ap(recall, precision, '11points') == pytest.approx((6 * 1.0 + 2 * 0.6 + 3 * 0.5) / 11)
    from mmdet.evaluation.functional import average_precision
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = np.sort(rng.random(15))
        p = rng.random(15)
        for mode in ('area', '11points'):
            assert voc_ap(r, p, mode) == pytest.approx(float(average_precision(r, p, mode)), abs=1e-6)
    with pytest.raises(ValueError, match='area'):
        voc_ap(recall, precision, 'bogus')


def test_best_f1_cuts_only_between_distinct_scores():
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    tp = np.array([True, True, False, True])
    r = best_f1(scores, tp, ~tp, n_pos=4)
    # cut after 0.9: P 1, R .25, F1 .4; after both 0.5s: P 2/3, R .5, F1 .571; after 0.1: P .75, R .75, F1 .75
    assert (r['score_thr'], r['tp'], r['fp'], r['fn']) == (0.1, 3, 1, 1)
    assert r['f1'] == pytest.approx(0.75)


def test_confusion_matrix_counts_class_confusions_and_background():
    gt = tiny_gt([(1, 1, 10, 10, 40, 40), (1, 2, 100, 100, 40, 40), (1, 2, 10, 120, 40, 40)])
    dets = [det(1, 1, (10, 10, 40, 40), 0.9),     # a on a: TP
            det(1, 1, (100, 100, 40, 40), 0.8),   # a on b: confusion
            det(1, 2, (150, 10, 30, 30), 0.7),    # b on nothing: background FP
            det(1, 2, (10, 120, 40, 40), 0.2)]    # below the threshold: b missed
    s = evaluate(gt, dets, score_thr=0.5).summary
    cm = s['confusion_matrix']
    assert cm['labels'] == ['a', 'b', 'background']
    assert cm['matrix'] == [[1, 0, 0], [1, 0, 1], [0, 1, 0]]


def test_matches_give_each_detection_its_verdict():
    # annotations (list positions): 0 a on image 1, 1 a on image 1, 2 b on image 2 (crowd / VOC difficult)
    gt = tiny_gt([(1, 1, 10, 10, 40, 40), (1, 1, 100, 100, 40, 40), (2, 2, 10, 10, 40, 40)], n_images=2,
                 crowd=(2,))
    dets = [det(1, 1, (100, 100, 40, 40), 0.6),  # 0: exactly on box 1
            det(1, 1, (150, 10, 30, 30), 0.9),   # 1: on nothing
            det(2, 2, (10, 10, 40, 40), 0.7),    # 2: on the crowd box: ignored, neither TP nor FP
            det(1, 1, (12, 12, 40, 40), 0.3)]    # 3: IoU 38*38 / (2*1600 - 38*38) = 0.822 with box 0
    ev = FastCOCOeval(quiet_coco(gt), dets)
    with pytest.raises(RuntimeError, match='evaluate'):
        ev.matches()
    m = evaluate(gt, dets, score_thr=0.5).matches
    t50, t85 = m.iou_index(0.5), m.iou_index(0.85)
    assert (t50, m.iou_index(0.55)) == (0, 1)
    with pytest.raises(ValueError, match='0.52'):
        m.iou_index(0.52)
    verdict = {int(i): (bool(m.tp[t50, n]), bool(m.fp[t50, n])) for n, i in enumerate(m.det_index)}
    assert verdict == {0: (True, False), 1: (False, True), 2: (False, False), 3: (True, False)}
    at85 = {int(i): (bool(m.tp[t85, n]), bool(m.fp[t85, n])) for n, i in enumerate(m.det_index)}
    assert at85[3] == (False, True) and at85[0] == (True, False)
    assert {int(i): bool(g) for i, g in zip(m.gt_index, m.gt_ignore)} == {0: False, 1: False, 2: True}
    assert m.false_positives(t50, 0.5).tolist() == [1]
    assert m.matched_annotations(t50, 0.5).tolist() == [1]  # box 0 is found only by the 0.3 detection
    assert sorted(m.matched_annotations(t50, 0.0).tolist()) == [0, 1]
    assert sorted(m.false_positives(t85, 0.0).tolist()) == [1, 3]


# --------------------------------------------------------------------------- outputs of a whole run
@pytest.fixture(scope='module')
def analysis(sample, tmp_path_factory):
    from custom.evaluation.analysis import run_analysis
    work = tmp_path_factory.mktemp('analysis')
    train = work / 'train'
    run = train / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    lines = [json.dumps({'lr': 0.01, 'loss': 2.0 - 0.1 * i, 'loss_cls': 1.0 - 0.05 * i, 'epoch': 1 + i // 4,
                         'iter': i + 1, 'step': i + 1}) for i in range(8)]
    lines += [json.dumps({'coco/bbox_mAP': 0.1 * e, 'coco/bbox_mAP_50': 0.2 * e, 'coco/bbox_mAP_75': 0.05 * e,
                          'step': e}) for e in (1, 2)]
    (run / 'scalars.json').write_text('\n'.join(lines) + '\n')
    summary = run_analysis(str(sample['ann']), sample['results'], work, classes=CLASSES, palette=PALETTE,
                           img_root=str(sample['images']), num_ranked=3, num_predictions=4, train_dir=str(train),
                           progress=False, verbose=False)
    return work, summary


def _png_size(path):
    with Image.open(path) as img:
        return img.size


def test_run_writes_metrics_plots_and_pictures(analysis, sample):
    from custom.visualization.boxes import GAP, HEADER_PX
    from custom.visualization.eval_plots import ap_bar_px, confusion_px, pr_px
    work, summary = analysis
    saved = json.loads((work / 'metrics_test.json').read_text())
    assert saved['overall'] == summary['overall']
    for key in ('overall', 'per_class_AP50', 'per_class_AP50:95', 'best_f1', 'voc_mAP50', 'confusion_matrix',
                'worst_images', 'best_images', 'files'):
        assert key in saved, key
    assert saved['counts']['images'] == 12 and saved['counts']['detections'] == len(sample['dets'])
    plots = work / 'plots'
    assert _png_size(plots / 'confusion_matrix.png') == confusion_px(3)
    assert _png_size(plots / 'pr_curves.png') == pr_px(3)
    assert _png_size(plots / 'ap_per_class.png') == ap_bar_px(3)
    assert (plots / 'training_curves.png').stat().st_size > 10_000
    for png in plots.glob('*.png'):  # not blank: many distinct colours
        with Image.open(png) as img:
            assert len(img.convert('RGB').getcolors(1 << 24)) > 20, png
    predictions = sorted((work / 'images' / 'predictions').glob('*.jpg'))
    assert len(predictions) == 4
    source = sample['images'] / 'JPEGImages' / predictions[0].name
    with Image.open(source) as src, Image.open(predictions[0]) as drawn:
        assert drawn.size == src.size
        assert np.abs(np.asarray(drawn, dtype=int) - np.asarray(src.convert('RGB'), dtype=int)).max() > 100  # boxes
    for kind in ('worst', 'best'):
        pictures = sorted((work / 'images' / kind).glob('*.jpg'))
        assert len(pictures) == 3
        assert _png_size(pictures[0]) == (2 * 640 + GAP, 480 + HEADER_PX)
    with open(work / 'per_image.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert sum(int(r['tp']) for r in rows) == summary['confusion_matrix']['matrix'][0][0] + \
        summary['confusion_matrix']['matrix'][1][1] + summary['confusion_matrix']['matrix'][2][2]


def test_counts_agree_across_outputs(analysis):
    """At the best-F1 threshold: TP = trace, FN = ground truth - TP, FP = kept detections - TP."""
    _, s = analysis
    m = np.array(s['confusion_matrix']['matrix'])
    best = s['best_f1']['overall']
    assert s['score_thr'] == best['score_thr']
    assert np.trace(m) == best['tp']
    assert m[:-1].sum() - np.trace(m) == best['fn']  # each box: found, confused or missed
    assert m[:, :-1].sum() - np.trace(m) == best['fp']
    worst, best_rows = s['worst_images'], s['best_images']
    assert worst[0]['errors'] >= worst[-1]['errors'] and best_rows[0]['f1'] >= best_rows[-1]['f1']
    assert worst[0]['errors'] >= max(r['errors'] for r in best_rows)


# --------------------------------------------------------------------------- inputs and bad input
def test_pkl_from_test_out_gives_the_same_metrics(sample, tmp_path):
    """tools/test.py --out writes mmdet's DumpDetResults pickle: labels index the classes, boxes are xyxy."""
    import torch
    coco = load_ground_truth(sample['ann'])
    samples = []
    for img_id in sorted(coco.imgs):
        mine = [d for d in sample['dets'] if d['image_id'] == img_id]
        xyxy = [[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (d['bbox'] for d in mine)]
        samples.append({'img_id': img_id, 'pred_instances': {
            'bboxes': torch.tensor(xyxy, dtype=torch.float64).reshape(-1, 4),
            'scores': torch.tensor([d['score'] for d in mine], dtype=torch.float64),
            'labels': torch.tensor([d['category_id'] - 1 for d in mine], dtype=torch.int64)}})
    path = tmp_path / 'results.pkl'
    path.write_bytes(pickle.dumps(samples))
    from_pkl = evaluate_detections(coco, load_results(path, coco, [1, 2, 3]), CLASSES).summary
    from_json = evaluate_detections(coco, load_results(sample['results'], coco, [1, 2, 3]), CLASSES).summary
    for key in ('overall', 'per_class_AP50', 'voc_mAP50'):
        for name, value in from_json[key].items():
            assert from_pkl[key][name] == pytest.approx(value, abs=1e-9), (key, name)


def test_results_of_another_dataset_fail_naming_the_file(sample, tmp_path):
    coco = load_ground_truth(sample['ann'])
    other = tmp_path / 'other_dataset.bbox.json'
    other.write_text(json.dumps([det(999999, 1, (1, 2, 3, 4), 0.5)] + sample['dets'][:3]))
    with pytest.raises(ResultsError, match=r'other_dataset\.bbox\.json.*999999'):
        load_results(other, coco, [1, 2, 3], str(sample['ann']))
    wrong_cat = tmp_path / 'wrong_classes.json'
    wrong_cat.write_text(json.dumps([det(sample['gt']['images'][0]['id'], 7, (1, 2, 3, 4), 0.5)]))
    with pytest.raises(ResultsError, match=r'wrong_classes\.json.*category ids \[7\]'):
        load_results(wrong_cat, coco, [1, 2, 3])
    not_results = tmp_path / 'annotations.json'
    not_results.write_text(sample['ann'].read_text())
    with pytest.raises(ResultsError, match=r'annotations\.json: this is a COCO annotation file'):
        load_results(not_results, coco, [1, 2, 3])
    broken = tmp_path / 'broken.json'
    broken.write_text(json.dumps([{'image_id': 1, 'bbox': [1, 2, 3, 4]}]))
    with pytest.raises(ResultsError, match=r'broken\.json: entry 0'):
        load_results(broken, coco, [1, 2, 3])
    with pytest.raises(FileNotFoundError, match='missing.json'):
        load_results(tmp_path / 'missing.json', coco, [1, 2, 3])
    with pytest.raises(ResultsError, match=r"test\.json: no category named \['Cat'\]"):
        evaluate_detections(coco, detections_to_arrays(sample['dets']), ('Cat', 'RBC'), ann_file=str(sample['ann']))


def test_analyze_results_cli_recomputes_without_inference(sample, tmp_path):
    env = {'BCCD_ROOT': f'{sample["root"]}/'}
    out = tmp_path / 'out'
    result = run_tool('tools/analysis_tools/analyze_results.py', SAMPLE_CONFIG, str(sample['results']),
                      '--work-dir', str(out), '--num-pred-images', '2', '--num-ranked', '1', env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'mAP50 ' in result.stdout and 'confusion matrix' in result.stdout and 'WBC' in result.stdout
    metrics = json.loads((out / 'metrics_analysis.json').read_text())
    direct = evaluate(sample['gt'], sample['dets'], classes=CLASSES).summary
    assert metrics['overall'] == direct['overall']
    assert len(list((out / 'images' / 'predictions').glob('*.jpg'))) == 2
    # the results of another dataset: exit 1, the message names the file
    other = tmp_path / 'coco_val2017.bbox.json'
    other.write_text(json.dumps([det(424242, 1, (1, 2, 3, 4), 0.5)]))
    bad = run_tool('tools/analysis_tools/analyze_results.py', SAMPLE_CONFIG, str(other), '--no-pictures', env=env,
                   timeout=300)
    assert bad.returncode == 1
    assert 'coco_val2017.bbox.json' in bad.stderr and 'image ids' in bad.stderr
    assert 'Traceback' not in bad.stderr


def test_browse_ground_truth_draws_boxes(sample, tmp_path):
    from custom.visualization.browse import draw_ground_truth
    written = draw_ground_truth(str(sample['ann']), str(sample['images']), tmp_path, CLASSES, PALETTE, n=3,
                                progress=False)
    assert [p.name for p in written][-1] == 'overview.png' and len(written) == 4
    with Image.open(written[0]) as img:
        assert img.size == (640, 480)
        # the RBC palette colour is drawn
        assert (np.asarray(img.convert('RGB'), dtype=int) - np.array(PALETTE[1])).__abs__().sum(-1).min() < 40
    with pytest.raises(FileNotFoundError, match='JPEGImages'):
        draw_ground_truth(str(sample['ann']), str(tmp_path / 'nowhere'), tmp_path / 'x', CLASSES, n=1, progress=False)


def test_browse_augment_grid(sample, tmp_path, monkeypatch):
    from mmengine.config import Config

    from custom.visualization.browse import augment_examples
    monkeypatch.setenv('BCCD_ROOT', f'{sample["root"]}/')
    cfg = Config.fromfile(str(SAMPLE.parents[1] / SAMPLE_CONFIG))
    written = augment_examples(cfg, 'test', tmp_path, n=1, draws=3, warmup=4, progress=False)
    assert len(written) == 1 and written[0].name.startswith('augment_BloodImage_')
    with Image.open(written[0]) as img:
        assert img.size == (4 * 320, 320 + 20 + 24)  # original + 3 draws in 320 px tiles, header
