"""Ensembles of result files (tools/analysis_tools/ensemble.py): weighted boxes fusion on hand-made boxes, checked
against hand-computed boxes and scores, the file checks and their messages, scoring against ground truth."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_tool
from custom.evaluation.fusion import FusionError, fuse_files, score_files
from custom.evaluation.results_io import ResultsError

TOOL = 'tools/analysis_tools/ensemble.py'


def det(image_id, category_id, bbox, score) -> dict:
    return {'image_id': image_id, 'category_id': category_id, 'bbox': list(bbox), 'score': score}


def write(path: Path, dets) -> Path:
    path.write_text(json.dumps(dets))
    return path


def fused(tmp_path: Path, a: list, b: list, **kw) -> list[dict]:
    out = tmp_path / 'fused.json'
    fuse_files([write(tmp_path / 'a.json', a), write(tmp_path / 'b.json', b)], out, **kw)
    return json.loads(out.read_text())


def same(d: dict, image_id, category_id, bbox, score) -> bool:
    return (d['image_id'] == image_id and d['category_id'] == category_id
            and d['score'] == pytest.approx(score, abs=1e-6) and d['bbox'] == pytest.approx(list(bbox), abs=1e-3))


def test_overlapping_boxes_of_one_class_fuse_to_the_weighted_mean(tmp_path):
    # corners [10, 10, 50, 50] and [14, 12, 54, 52]: IoU 1368 / 1832 = 0.75 > 0.55
    a, b = [det(1, 1, (10, 10, 40, 40), 0.9)], [det(1, 1, (14, 12, 40, 40), 0.6)]
    # equal weights: corners weighted by score, 0.9 and 0.6: x1 = (0.9*10 + 0.6*14) / 1.5 = 11.6, y1 = 10.8,
    # x2 = (0.9*50 + 0.6*54) / 1.5 = 51.6, y2 = 50.8; score (0.9 + 0.6) / 2
    (out,) = fused(tmp_path, a, b)
    assert same(out, 1, 1, (11.6, 10.8, 40, 40), 0.75)
    # weights 2 and 1: corners weighted by 1.8 and 0.6: x1 = (18 + 8.4) / 2.4 = 11, y1 = (18 + 7.2) / 2.4 = 10.5;
    # score (2*0.9 + 1*0.6) / (2 + 1)
    (out,) = fused(tmp_path, a, b, weights=[2, 1])
    assert same(out, 1, 1, (11, 10.5, 40, 40), 0.8)
    (out,) = fused(tmp_path, a, b, weights=[2, 1], conf_type='max')  # max(2*0.9, 1*0.6) / max(2, 1)
    assert same(out, 1, 1, (11, 10.5, 40, 40), 0.9)


def test_boxes_that_overlap_too_little_stay_apart_with_scores_scaled_by_their_models_weight(tmp_path):
    # [0, 0, 10, 10] and [5, 0, 15, 10]: IoU 50 / 150 = 1/3
    a, b = [det(1, 1, (0, 0, 10, 10), 0.5)], [det(1, 1, (5, 0, 10, 10), 0.4)]
    out = sorted(fused(tmp_path, a, b, weights=[2, 1]), key=lambda d: -d['score'])
    assert len(out) == 2
    assert same(out[0], 1, 1, (0, 0, 10, 10), 0.5 * 2 / 3)  # a box one model found: its share of the weights
    assert same(out[1], 1, 1, (5, 0, 10, 10), 0.4 * 1 / 3)
    (one,) = fused(tmp_path, a, b, weights=[2, 1], iou_thr=0.3)  # 1/3 > 0.3: one box
    assert same(one, 1, 1, ((2 * 0.5 * 0 + 0.4 * 5) / 1.4, 0, 10, 10), (2 * 0.5 + 0.4) / 3)


def test_different_classes_and_different_images_never_fuse(tmp_path):
    box = (20, 30, 40, 50)
    out = fused(tmp_path, [det(1, 1, box, 0.8), det('a.jpg', 2, box, 0.8)],
                [det(1, 2, box, 0.6), det('b.jpg', 2, box, 0.6)])
    assert len(out) == 4
    key = {(d['image_id'], d['category_id']): d for d in out}
    assert same(key[(1, 1)], 1, 1, box, 0.4) and same(key[(1, 2)], 1, 2, box, 0.3)  # score x 1 / 2 models
    assert same(key[('a.jpg', 2)], 'a.jpg', 2, box, 0.4) and same(key[('b.jpg', 2)], 'b.jpg', 2, box, 0.3)


def test_boxes_without_area_are_left_out_and_counted(tmp_path):
    out = tmp_path / 'fused.json'
    result = fuse_files([write(tmp_path / 'a.json', [det(1, 1, (5, 5, 0, 10), 0.9), det(1, 1, (0, 0, 10, 10), 0.5)]),
                         write(tmp_path / 'b.json', [det(1, 1, (0, 0, 10, 10), 0.5)])], out)
    assert result.zero_area == (1, 0) and result.input_counts == (2, 1) and result.count == 1
    assert same(json.loads(out.read_text())[0], 1, 1, (0, 0, 10, 10), 0.5)


GT = {'images': [{'id': 1, 'file_name': '1.jpg', 'width': 100, 'height': 100},
                 {'id': 2, 'file_name': '2.jpg', 'width': 100, 'height': 100}],
      'categories': [{'id': 1, 'name': 'cell'}, {'id': 2, 'name': 'blob'}],
      'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 30, 30], 'area': 900, 'iscrowd': 0},
                      {'id': 2, 'image_id': 2, 'category_id': 2, 'bbox': [50, 50, 40, 20], 'area': 800, 'iscrowd': 0}]}
PERFECT = [det(1, 1, (10, 10, 30, 30), 0.9), det(2, 2, (50, 50, 40, 20), 0.9)]
MISSED = [det(1, 1, (60, 60, 30, 30), 0.6), det(2, 2, (0, 0, 40, 20), 0.6)]  # no overlap with the ground truth


def test_the_tool_writes_pixel_boxes_scores_inputs_and_fusion_and_leaves_inputs_alone(tmp_path):
    ann = write(tmp_path / 'gt.json', GT)
    a, b = write(tmp_path / 'perfect.json', PERFECT), write(tmp_path / 'missed.json', MISSED)
    before = (a.read_bytes(), b.read_bytes())
    out = tmp_path / 'out' / 'fused.json'
    result = run_tool(TOOL, str(a), str(b), '--out', str(out), '--ann', str(ann), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (a.read_bytes(), b.read_bytes()) == before
    fused_dets = json.loads(out.read_text())
    # apart (IoU 0): the perfect boxes at 0.9 / 2, the missed at 0.6 / 2, all in pixels
    got = sorted((d['image_id'], d['score'], *d['bbox']) for d in fused_dets)
    for row, expected in zip(got, [(1, 0.3, 60, 60, 30, 30), (1, 0.45, 10, 10, 30, 30), (2, 0.3, 0, 0, 40, 20),
                                   (2, 0.45, 50, 50, 40, 20)]):
        assert row == pytest.approx(expected, abs=1e-5)
    assert len(got) == 4 and all(d['category_id'] == d['image_id'] for d in fused_dets)
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.endswith(('2', '4'))}
    # every true box ranks above every false one in the fused file: AP 1 at every IoU
    assert rows[str(a)] == ['1.000', '1.000', '2'] and rows[str(b)] == ['0.000', '0.000', '2']
    assert rows[str(out)] == ['1.000', '1.000', '4']


def test_scores_equal_those_of_the_evaluation_of_tools_test(tmp_path):
    from custom.evaluation.metrics import evaluate_detections
    from custom.evaluation.results_io import detections_to_arrays, quiet_coco
    ann = write(tmp_path / 'gt.json', GT)
    half = [PERFECT[0], MISSED[1]]
    rows = score_files(ann, [write(tmp_path / 'half.json', half)])
    overall = evaluate_detections(quiet_coco(GT), detections_to_arrays(half)).summary['overall']
    assert rows == [{'file': str(tmp_path / 'half.json'), 'detections': 2, 'mAP50': overall['mAP50'],
                     'mAP50:95': overall['mAP50:95']}]
    assert overall['mAP50'] == pytest.approx(0.5)  # one class found, the other not


@pytest.mark.parametrize('case, message', [
    ('empty', r'empty\.json: holds no detection'),
    ('weights', r'--weights: 3 weights for 2 results files: give one weight per file'),
    ('other_images', r'other_images\.json: detections for 1 image ids that .*gt\.json does not have \(e\.g\. \[7\]\): '
                     r'results of another image set'),
    ('other_classes', r'other_classes\.json: category ids \[9\] that .*gt\.json does not have'),
    ('disjoint', r'disjoint\.json: shares no image id with .*perfect\.json'),
    ('annotations', r'gt\.json: this is a COCO annotation file'),
    ('bad_entry', r'bad_entry\.json: entry 1 is not \{image_id, category_id, bbox: \[x, y, w, h\], score\}'),
    ('negative', r'negative\.json: entry 0 has a non-finite number or a negative size'),
    ('out_is_input', r'--out .*perfect\.json: is one of the inputs'),
    ('one_file', r'1 results file: fusion needs two or more'),
    ('iou', r'--iou-thr 1\.5: .*between 0 and 1'),
])
def test_bad_inputs_fail_naming_the_file_and_the_fix(case, message, tmp_path):
    ann = write(tmp_path / 'gt.json', GT)
    perfect = write(tmp_path / 'perfect.json', PERFECT)
    second = {'empty': [], 'other_images': [det(7, 1, (1, 1, 5, 5), 0.5)],
              'other_classes': [det(1, 9, (1, 1, 5, 5), 0.5)], 'disjoint': [det(5, 1, (1, 1, 5, 5), 0.5)],
              'bad_entry': [PERFECT[0], {'image_id': 1, 'bbox': [1, 2]}],
              'negative': [det(1, 1, (1, 1, -5, 5), 0.5)]}
    paths = [perfect, ann if case == 'annotations' else write(tmp_path / f'{case}.json', second.get(case, MISSED))]
    kwargs = {'weights': [1, 1, 1]} if case == 'weights' else {'iou_thr': 1.5} if case == 'iou' else {}
    if case in ('other_images', 'other_classes'):
        kwargs['ann_file'] = ann
    out = perfect if case == 'out_is_input' else tmp_path / 'fused.json'
    before = [p.read_bytes() for p in paths]
    with pytest.raises((FusionError, ResultsError), match=message):
        fuse_files(paths[:1] if case == 'one_file' else paths, out, **kwargs)
    assert [p.read_bytes() for p in paths] == before
    assert case == 'out_is_input' or not out.exists()


def test_the_tool_exits_with_the_message_not_a_traceback(tmp_path):
    a, b = write(tmp_path / 'a.json', PERFECT), write(tmp_path / 'b.json', MISSED)
    result = run_tool(TOOL, str(a), str(b), '--out', str(tmp_path / 'f.json'), '--weights', '1', timeout=300)
    assert result.returncode == 1
    assert '--weights: 1 weights for 2 results files' in result.stderr and 'Traceback' not in result.stderr
