"""SSD prediction under mmdet 3.3.0: the stock head crashes, FixedSSDHead predicts."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config

import custom.modules  # noqa: F401
from conftest import REPO

CONFIG = REPO / 'configs/bccd/ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_bccd.py'


def _model(head_type):
    register_all_modules()
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.bbox_head.type = head_type
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _batch():
    sample = DetDataSample(metainfo=dict(img_shape=(320, 320), ori_shape=(480, 640),
                                         scale_factor=(0.5, 0.6667), batch_input_shape=(320, 320)))
    return torch.rand(1, 3, 320, 320) * 255, [sample]


def test_stock_ssd_head_crashes_at_predict():
    images, samples = _batch()
    with pytest.raises(AttributeError, match="no attribute 'loss_cls'"):
        with torch.no_grad():
            _model('SSDHead').predict(images, samples)


def test_fixed_ssd_head_predicts_boxes_in_original_image_coordinates():
    images, samples = _batch()
    with torch.no_grad():
        result = _model('FixedSSDHead').predict(images, samples)[0].pred_instances
    assert len(result) > 0 and result.bboxes.shape[1] == 4
    assert set(result.labels.tolist()) <= {0, 1, 2}
    assert float(result.scores.max()) <= 1.0
    assert float(result.bboxes[:, 2].max()) <= 640.01 and float(result.bboxes[:, 3].max()) <= 480.01
