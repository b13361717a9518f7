"""YOLOV3Head whose predicted boxes stay inside the image.

mmdet 3.3.0's ``YOLOV3Head.predict_by_feat`` decodes anchor offsets without clipping (its
``YOLOBBoxCoder`` has no ``max_shape``), so a box of a cell near the border can reach past the
image; pycocotools then scores the part outside as a localisation error. ``ClippedYOLOV3Head``
clips every returned box to the image it is expressed in: the original image when ``rescale``
is true, else the network input (``img_shape``). Training, parameters and checkpoints are those
of ``YOLOV3Head``; tools/infer.py and the ONNX path clip the same way.
"""
from typing import List, Optional, Sequence

from mmdet.models.dense_heads import YOLOV3Head
from mmdet.registry import MODELS
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData


def clip_results(results_list: List[InstanceData], batch_img_metas: Sequence[dict],
                 rescale: bool) -> List[InstanceData]:
    """Clip ``bboxes`` (x1, y1, x2, y2 pixels) of each result in place to ``[0, W] x [0, H]`` of its
    image: ``ori_shape`` when ``rescale`` else ``img_shape`` (both ``(H, W)``). Returns the list."""
    for results, meta in zip(results_list, batch_img_metas):
        HorizontalBoxes(results.bboxes, clone=False).clip_((meta['ori_shape'] if rescale else meta['img_shape'])[:2])
    return results_list


@MODELS.register_module()
class ClippedYOLOV3Head(YOLOV3Head):
    """``YOLOV3Head`` with predictions clipped to the image (see the module docstring)."""

    def predict_by_feat(self, pred_maps: Sequence, batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[dict] = None, rescale: bool = False, with_nms: bool = True):
        results_list = super().predict_by_feat(pred_maps, batch_img_metas=batch_img_metas, cfg=cfg,
                                               rescale=rescale, with_nms=with_nms)
        return clip_results(results_list, batch_img_metas, rescale)
