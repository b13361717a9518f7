"""ClippedYOLOV3Head: the recipes' YOLOv3 head clips its boxes to the image; mmdet's does not."""
from __future__ import annotations

import pytest
import torch

from tests.conftest import REPO

CONFIG = REPO / 'configs' / 'bccd' / 'yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py'


def build_head(head_type: str):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import custom.modules  # noqa: F401  (registers ClippedYOLOV3Head)
    register_all_modules()
    cfg = Config.fromfile(str(CONFIG))
    assert cfg.model.bbox_head.type == 'ClippedYOLOV3Head'
    head_cfg = cfg.model.bbox_head.copy()
    head_cfg.type = head_type
    head_cfg.test_cfg = cfg.model.test_cfg
    return MODELS.build(head_cfg).eval()


def two_hot_cells() -> list[torch.Tensor]:
    """Raw maps for a 320 x 320 input (levels 10x10, 20x20, 40x40; 3 anchors x (4 + obj + 3 classes)).
    Only anchor 0 of level 0 (220 x 125 px, stride 32) fires, at cells (0, 0) and (9, 9), class 1;
    offsets are 0, so each box is its anchor: centre (16, 16) and (304, 304)."""
    maps = []
    for size in (10, 20, 40):
        pred = torch.zeros(1, 3 * 8, size, size)
        pred[:, 4::8] = -20.0  # objectness of every anchor: off
        maps.append(pred)
    for cell in (0, 9):
        maps[0][0, 4, cell, cell] = 10.0   # objectness of anchor 0
        maps[0][0, 5:8, cell, cell] = torch.tensor([-10.0, 10.0, -10.0])
    return maps


@pytest.mark.parametrize('rescale', [False, True])
def test_boxes_are_clipped_to_the_image(rescale):
    # Anchor 0 of level 0 spans 220 x 125 px: centre (16, 16) -> (-94, -46.5, 126, 78.5),
    # centre (304, 304) -> (194, 241.5, 414, 366.5), in the 320 x 320 network input.
    meta = {'img_shape': (320, 320), 'ori_shape': (640, 640), 'scale_factor': (0.5, 0.5)}
    if rescale:  # divided by the scale factor 0.5, clipped to the 640 x 640 original
        raw = [[-188.0, -93.0, 252.0, 157.0], [388.0, 483.0, 828.0, 733.0]]
        clipped = [[0.0, 0.0, 252.0, 157.0], [388.0, 483.0, 640.0, 640.0]]
    else:
        raw = [[-94.0, -46.5, 126.0, 78.5], [194.0, 241.5, 414.0, 366.5]]
        clipped = [[0.0, 0.0, 126.0, 78.5], [194.0, 241.5, 320.0, 320.0]]

    def predict(head_type):
        head = build_head(head_type)
        with torch.no_grad():
            result = head.predict_by_feat(two_hot_cells(), [meta], rescale=rescale)[0]
        order = result.bboxes[:, 0].argsort()
        return result.bboxes[order].flatten().tolist(), result.labels[order].tolist()

    plain_boxes, labels = predict('YOLOV3Head')
    assert labels == [1, 1]
    assert plain_boxes == pytest.approx(sum(raw, []), abs=1e-3)  # mmdet's head: outside the image
    boxes, labels = predict('ClippedYOLOV3Head')
    assert labels == [1, 1]
    assert boxes == pytest.approx(sum(clipped, []), abs=1e-3)
