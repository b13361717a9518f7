"""``WBFDetTTAModel``: the views of one image flipped back and fused by weighted boxes fusion, on hand-made views
whose fused boxes and scores are worked out by hand below."""
from __future__ import annotations

import pytest

torch = pytest.importorskip('torch')


def _view(boxes, scores, labels, flip=False, width=100, height=80):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    sample = DetDataSample(metainfo={'ori_shape': (height, width), 'img_shape': (height, width), 'flip': flip,
                                     'flip_direction': 'horizontal' if flip else None})
    pred = InstanceData()
    pred.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    pred.scores = torch.tensor(scores, dtype=torch.float32)
    pred.labels = torch.tensor(labels, dtype=torch.int64)
    sample.pred_instances = pred
    return sample


class _Detector(torch.nn.Module):
    """What the wrapper needs of a detector (a ``test_step``); the merge never calls it."""

    def test_step(self, data):
        raise AssertionError('the views are given; no detector runs')


def _model(**tta_cfg):
    from custom.models import WBFDetTTAModel
    return WBFDetTTAModel(module=_Detector(), tta_cfg=tta_cfg)


def _pair_and_lone_box():
    """One view with [0,0,10,10] (0.75) and [60,60,70,70] (0.8), a second with [0,0,14,10] (0.25); all class 1."""
    return [_view([[0, 0, 10, 10], [60, 60, 70, 70]], [0.75, 0.8], [1, 1]), _view([[0, 0, 14, 10]], [0.25], [1])]


def _merge(model, views):
    (merged,) = model.merge_preds([views])
    p = merged.pred_instances
    return p.bboxes.tolist(), [round(s, 4) for s in p.scores.tolist()], p.labels.tolist()


def test_a_box_and_its_flipped_twin_fuse_into_one_with_the_mean_score():
    # width 100: the flipped view's [50, 10, 90, 50] is [10, 10, 50, 50] once flipped back (x -> 100 - x)
    views = [_view([[10, 10, 50, 50]], [0.9], [0]), _view([[50, 10, 90, 50]], [0.5], [0], flip=True)]
    boxes, scores, labels = _merge(_model(wbf=dict(iou_thr=0.55)), views)
    assert len(boxes) == 1 and boxes[0] == pytest.approx([10, 10, 50, 50])
    assert scores == [0.7] and labels == [0]  # (0.9 + 0.5) / 2, found by 2 of 2


def test_fused_corners_are_the_score_weighted_mean_and_lone_boxes_are_scaled_by_the_views_that_found_them():
    # [0,0,10,10] (0.75) and [0,0,14,10] (0.25): IoU 100/140 = 0.71 -> one box, x2 = 10*0.75 + 14*0.25 = 11,
    # score (0.75 + 0.25) / 2 = 0.5; [60,60,70,70] (0.8) is in one view of two: 0.8 * 1/2 = 0.4
    views = _pair_and_lone_box()
    boxes, scores, labels = _merge(_model(wbf=dict(iou_thr=0.55)), views)
    assert scores == [0.5, 0.4] and labels == [1, 1]
    assert boxes[0] == pytest.approx([0, 0, 11, 10]) and boxes[1] == pytest.approx([60, 60, 70, 70])


def test_with_conf_type_max_a_fused_box_keeps_its_best_score_and_a_lone_box_is_not_scaled_down():
    # the views of the test above, conf_type 'max' (face-mask's tuned config): the pair fuses to the same box
    # [0,0,11,10] with score max(0.75, 0.25) = 0.75; the box of one view of two keeps its 0.8 and now ranks first
    views = _pair_and_lone_box()
    boxes, scores, labels = _merge(_model(wbf=dict(iou_thr=0.55, conf_type='max')), views)
    assert scores == [0.8, 0.75] and labels == [1, 1]
    assert boxes[0] == pytest.approx([60, 60, 70, 70]) and boxes[1] == pytest.approx([0, 0, 11, 10])


def test_boxes_of_other_classes_or_under_the_iou_stay_apart_best_first_and_capped():
    # same place, other class: not fused; IoU of [0,0,10,10] and [0,0,10,20] is 0.5 < 0.6: not fused
    views = [_view([[0, 0, 10, 10], [0, 0, 10, 10]], [0.6, 0.2], [0, 2]), _view([[0, 0, 10, 20]], [1.0], [0])]
    boxes, scores, labels = _merge(_model(wbf=dict(iou_thr=0.6), max_per_img=2), views)
    assert scores == [0.5, 0.3] and labels == [0, 0]  # 1.0/2, 0.6/2; class 2's 0.2/2 = 0.1 cut by max_per_img 2
    assert boxes == [[0, 0, 10, 20], [0, 0, 10, 10]]


def test_boxes_without_area_are_left_out_and_no_boxes_give_no_boxes():
    views = [_view([[5, 5, 5, 9], [20, 20, 30, 30]], [0.9, 0.4], [0, 0]), _view([], [], [])]
    boxes, scores, _ = _merge(_model(wbf=dict(iou_thr=0.55)), views)
    assert boxes == [[20, 20, 30, 30]] and scores == [0.2]
    for views in ([_view([], [], []), _view([], [], [], flip=True)], [_view([[5, 5, 5, 9]], [0.9], [0])]):
        (merged,) = _model().merge_preds([views])
        assert merged.pred_instances.bboxes.shape == (0, 4) and len(merged.pred_instances.scores) == 0


@pytest.mark.parametrize('wbf, message', [
    (dict(iou=0.5), 'takes iou_thr, skip_box_thr, conf_type, not iou'),
    (dict(conf_type='mean'), "conf_type 'mean' is not one of avg, max"),
    (dict(iou_thr=1.5), 'iou_thr 1.5 must be between 0 and 1'),
])
def test_bad_settings_are_refused_with_the_setting_named(wbf, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(')):
        _model(wbf=wbf)
