"""``WBFDetTTAModel``: mmdet's ``DetTTAModel`` merging an image's views by weighted boxes fusion instead of NMS.

    tta_model = dict(type='WBFDetTTAModel', tta_cfg=dict(wbf=dict(iou_thr=0.55, conf_type='avg'), max_per_img=300))

Each view's boxes (one scale, flipped or not) are mapped back to the original image and the views are
fused as separate models by mmdet's ``weighted_boxes_fusion`` (Solovyev et al. 2019): overlapping boxes of
one class are averaged, weighted by score, instead of all but the best being dropped; with
``conf_type='avg'`` a box found in fewer views than there are views has its score scaled down by the
fraction that found it, with ``conf_type='max'`` it keeps its best box's score. Boxes stay in pixels.
``wbf`` takes the keyword arguments of mmdet's ``weighted_boxes_fusion`` (``iou_thr``, ``skip_box_thr``,
``conf_type``); the kept boxes are the ``max_per_img`` best scored.
"""
from __future__ import annotations

import torch
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.models.utils.wbf import weighted_boxes_fusion
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from custom.engine.tta import DEFAULT_MAX_PER_IMG, WBF_DEFAULT_CONF, WBF_DEFAULT_IOU

WBF_KEYS = ('iou_thr', 'skip_box_thr', 'conf_type')
CONF_TYPES = ('avg', 'max', 'box_and_model_avg', 'absent_model_aware_avg')  # mmdet's weighted_boxes_fusion


@MODELS.register_module()
class WBFDetTTAModel(DetTTAModel):
    """``DetTTAModel`` whose views are fused by weighted boxes fusion (``tta_cfg.wbf``) rather than NMS."""

    def __init__(self, tta_cfg: dict | None = None, **kwargs) -> None:
        super().__init__(tta_cfg=tta_cfg, **kwargs)
        wbf = dict((self.tta_cfg or {}).get('wbf') or {})
        unknown = sorted(set(wbf) - set(WBF_KEYS))
        if unknown:
            raise ValueError(f'WBFDetTTAModel: tta_cfg.wbf takes {", ".join(WBF_KEYS)}, not {", ".join(unknown)}')
        if wbf.get('conf_type', WBF_DEFAULT_CONF) not in CONF_TYPES:
            raise ValueError(f'WBFDetTTAModel: tta_cfg.wbf.conf_type {wbf["conf_type"]!r} is not one of '
                             f'{", ".join(CONF_TYPES)}')
        if not 0 < wbf.get('iou_thr', WBF_DEFAULT_IOU) < 1:
            raise ValueError(f'WBFDetTTAModel: tta_cfg.wbf.iou_thr {wbf["iou_thr"]} must be between 0 and 1')
        self.wbf = wbf
        self.max_per_img = int((self.tta_cfg or {}).get('max_per_img', DEFAULT_MAX_PER_IMG))

    def _merge_single_sample(self, data_samples: list[DetDataSample]) -> DetDataSample:
        """One prediction from the views of one image: each view flipped back (``DetTTAModel.merge_aug_bboxes``),
        boxes without area left out, the views fused."""
        preds = [sample.pred_instances for sample in data_samples]
        flipped_back = self.merge_aug_bboxes([p.bboxes for p in preds], None, [s.metainfo for s in data_samples])
        boxes, scores, labels = [], [], []
        for pred, view_boxes in zip(preds, flipped_back.split([len(p.bboxes) for p in preds])):
            has_area = ((view_boxes[:, 2] > view_boxes[:, 0]) & (view_boxes[:, 3] > view_boxes[:, 1])).cpu().numpy()
            boxes.append(view_boxes.detach().cpu().numpy()[has_area])
            scores.append(pred.scores.detach().cpu().numpy()[has_area])
            labels.append(pred.labels.detach().cpu().numpy()[has_area])
        device = preds[0].bboxes.device
        if sum(len(s) for s in scores):
            fused_boxes, fused_scores, fused_labels = weighted_boxes_fusion(boxes, scores, labels, **self.wbf)
        else:
            fused_boxes, fused_scores, fused_labels = torch.zeros((0, 4)), torch.zeros(0), torch.zeros(0)
        order = torch.argsort(fused_scores, descending=True)[:self.max_per_img]
        results = InstanceData()
        results.bboxes = fused_boxes.reshape(-1, 4)[order].float().to(device)
        results.scores = fused_scores[order].float().to(device)
        results.labels = fused_labels[order].long().to(device)
        merged = data_samples[0]
        merged.pred_instances = results
        return merged
