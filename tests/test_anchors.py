"""Anchors fitted to a dataset (custom.models.anchors, tools/analysis_tools/optimize_anchors.py)."""
import json

import pytest
from conftest import run_tool

from custom.engine.config import parse_cfg_options, read_config
from mmengine.config import Config

from custom.models.anchors import (AnchorError, FittedAnchors, ScaledImage, count_positives, group_by_level,
                                   mean_best_iou, model_input_shape, positives_per_box, scaled_images)

YOLO_320 = 'configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py'
COCO_320_ANCHORS = [[(220, 125), (128, 222), (264, 266)], [(35, 87), (102, 96), (60, 170)],
                    [(10, 15), (24, 36), (72, 42)]]  # mmdet's yolov3_mobilenetv2 320 base_sizes


def test_fitted_anchors_go_to_the_level_that_had_anchors_of_their_size_rounded_and_ordered_by_area():
    fitted = [(52.4, 50.2), (20, 20), (113, 106), (46, 40), (91.6, 78), (40, 52), (59, 42), (62, 57), (52, 59)]
    assert group_by_level(fitted, COCO_320_ANCHORS) == [
        [(62, 57), (92, 78), (113, 106)],   # stride 32 had the largest anchors
        [(59, 42), (52, 50), (52, 59)],
        [(20, 20), (46, 40), (40, 52)]]     # stride 8 the smallest


def test_levels_keep_their_number_of_anchors_and_a_count_mismatch_is_refused():
    assert group_by_level([(4, 4), (1, 1), (9, 9)], [[(1, 1)], [(50, 50), (60, 60)]]) == [[(1, 1)], [(4, 4), (9, 9)]]
    with pytest.raises(AnchorError, match='2 anchors for 3 places'):
        group_by_level([(1, 1), (2, 2)], [[(1, 1)], [(5, 5), (6, 6)]])


def test_mean_best_iou_of_centred_boxes():
    # box 10x10: 100 / (100 + 200 - 100) = 0.5 with 10x20, 100 / 800 with 20x40; box 20x40: 1.0 with 20x40
    assert mean_best_iou([(10, 10), (20, 40)], [(10, 20), (20, 40)]) == pytest.approx(0.75)


def test_cfg_option_parses_back_to_the_base_sizes():
    fitted = FittedAnchors(base_sizes=[[(1, 2)], [(3, 4), (5, 6)]], mean_iou=0.9, config_mean_iou=0.5,
                           num_boxes=3, input_shape=(320, 320))
    assert fitted.cfg_option() == 'model.bbox_head.anchor_generator.base_sizes=[[(1,2)],[(3,4),(5,6)]]'
    assert parse_cfg_options([fitted.cfg_option()]) == {
        'model.bbox_head.anchor_generator.base_sizes': [[(1, 2)], [(3, 4), (5, 6)]]}


class FakeDataset:
    """What mmdet's datasets give the anchor code: ``len`` and ``get_data_info`` (boxes x1, y1, x2, y2)."""

    def __init__(self, infos):
        self.infos = infos

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, index):
        return self.infos[index]


GRID = {'type': 'GridAssigner', 'pos_iou_thr': 0.5, 'neg_iou_thr': 0.5, 'min_pos_iou': 0}  # YOLOv3's


def test_scaled_images_resize_to_the_input_keeping_the_ratio_without_ignored_boxes_or_empty_images():
    infos = [{'width': 800, 'height': 400, 'instances': [{'bbox': [100, 50, 300, 250], 'ignore_flag': 0},
                                                         {'bbox': [0, 0, 10, 10], 'ignore_flag': 1}]},
             {'width': 416, 'height': 416, 'instances': []}]
    images = scaled_images(FakeDataset(infos), (416, 416))
    assert len(images) == 1
    assert images[0].shape == (208, 416)  # 416 / 800 = 0.52
    assert images[0].boxes.tolist()[0] == pytest.approx([52, 26, 156, 130])
    assert images[0].boxes.shape == (1, 4)


def test_positives_per_box_follow_the_grid_assigners_threshold():
    # one 64x64 image per box, one level of stride 32, anchors 16x16 and 32x32 centred on (16, 16) in cell (0, 0):
    # box (0, 0, 32, 32): IoU 0.25 and 1.0; box (0, 0, 24, 24): IoU 256 / 576 = 0.444 and 576 / 1024 = 0.5625
    images = [ScaledImage([[0, 0, 32, 32]], (64, 64)), ScaledImage([[0, 0, 24, 24]], (64, 64))]
    anchors = [[(16, 16), (32, 32)]]
    assert positives_per_box(images, anchors, [32], GRID) == pytest.approx(1.0)
    assert positives_per_box(images, anchors, [32], {**GRID, 'pos_iou_thr': 0.4, 'neg_iou_thr': 0.4}) == \
        pytest.approx(1.5)
    # box (20, 0, 52, 32) is centred in cell (0, 1): its 32x32 anchor there has IoU 640 / 1408 = 0.45, its 16x16
    # one 192 / 1088 = 0.18; cell (0, 0)'s 32x32 anchor has 384 / 1664 = 0.23 but is not responsible for the box
    low = {**GRID, 'pos_iou_thr': 0.2, 'neg_iou_thr': 0.2}
    assert positives_per_box([ScaledImage([[20, 0, 52, 32]], (64, 64))], anchors, [32], low) == pytest.approx(1.0)


def test_count_positives_finds_the_threshold_that_gives_fitted_anchors_the_configs_count():
    cfg = Config({'model': {'train_cfg': {'assigner': GRID}, 'bbox_head': {'anchor_generator': {
        'type': 'YOLOAnchorGenerator', 'strides': [32], 'base_sizes': [[(16, 16), (32, 32)]]}}}})
    dataset = FakeDataset([{'width': 64, 'height': 64, 'instances': [{'bbox': [0, 0, 24, 24], 'ignore_flag': 0}]}])
    # box (0, 0, 24, 24): the config's anchors 0.444 / 0.5625 (1 positive at 0.5); fitted 24x24 and 28x28 centred on
    # (16, 16): 400 / 752 = 0.532 and 484 / 876 = 0.5525, both positive at 0.5, only the 28x28 one at 0.55
    fitted = FittedAnchors(base_sizes=[[(24, 24), (28, 28)]], mean_iou=0.9, config_mean_iou=0.5, num_boxes=1,
                           input_shape=(64, 64))
    count = count_positives(cfg, fitted, dataset)
    assert (count.pos_iou_thr, count.config_anchors, count.fitted_anchors) == (0.5, 1.0, 2.0)
    assert (count.matching_thr, count.fitted_at_matching) == (0.55, 1.0)
    cfg.model.train_cfg.assigner = {'type': 'MaxIoUAssigner', 'pos_iou_thr': 0.5, 'neg_iou_thr': 0.4}
    assert count_positives(cfg, fitted, dataset) is None  # only YOLOv3's GridAssigner is counted


def test_input_shape_is_the_test_pipelines_resize():
    assert model_input_shape(read_config(YOLO_320)) == (320, 320)
    assert model_input_shape(read_config(
        'configs/face_mask/yolov3_mobilenetv2-scratch_cpu-ms-416_1xb8-36e_face_mask.py')) == (416, 416)


@pytest.mark.slow
def test_cli_fits_the_sample_better_than_cocos_anchors_reproducibly_and_its_option_trains(sample_data_root, tmp_path):
    env = {'BCCD_ROOT': sample_data_root}
    runs = [run_tool('tools/analysis_tools/optimize_anchors.py', YOLO_320, '--out', str(tmp_path / f'{i}.json'),
                     env=env) for i in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    first, second = (json.loads((tmp_path / f'{i}.json').read_text()) for i in range(2))
    assert first['base_sizes'] == second['base_sizes']  # seed 0 both times
    assert first['input_shape'] == [320, 320]
    assert [len(level) for level in first['base_sizes']] == [3, 3, 3]
    with open(sample_data_root + 'annotations/train.json') as f:
        assert first['boxes'] == len(json.load(f)['annotations'])
    assert first['mean_iou'] > first['config_mean_iou']
    # BCCD cells at 320 px are far smaller than COCO's largest anchors: the largest fitted one is too
    assert max(w * h for level in first['base_sizes'] for w, h in level) < 220 * 125
    positives = first['positives_per_box']
    assert positives['pos_iou_thr'] == 0.5 and positives['matching_thr'] >= 0.5  # the 320 config's GridAssigner
    assert 'positive anchors a box (the config\'s GridAssigner, pos_iou_thr 0.5)' in runs[0].stdout
    printed = next(line for line in runs[0].stdout.splitlines() if 'base_sizes=' in line)
    assert printed.strip().startswith('--cfg-options "model.bbox_head.anchor_generator.base_sizes=[[(')
    cfg = read_config(YOLO_320, parse_cfg_options([printed.split('"')[1]]))
    assert [[list(wh) for wh in level] for level in cfg.model.bbox_head.anchor_generator.base_sizes] == \
        first['base_sizes']


def test_cli_refuses_a_config_without_yolo_anchors_and_leaves_an_existing_output(tmp_path):
    out = tmp_path / 'anchors.json'
    out.write_text('earlier result')
    run = run_tool('tools/analysis_tools/optimize_anchors.py', 'configs/bccd/retinanet_r50_fpn_1xb8-24e_bccd.py',
                   '--out', str(out))
    assert run.returncode != 0
    assert 'retinanet_r50_fpn_1xb8-24e_bccd.py' in run.stderr
    assert 'is AnchorGenerator, not YOLOAnchorGenerator' in run.stderr
    assert out.read_text() == 'earlier result'


def test_cli_names_a_missing_config():
    run = run_tool('tools/analysis_tools/optimize_anchors.py', 'configs/bccd/nothing_here.py')
    assert run.returncode != 0
    assert 'configs/bccd/nothing_here.py: no such config file' in run.stderr
